"""The readers source: a Mainflux/Magistrala/SuperMQ readers HTTP service (see source.py)."""

from exporter_tui.sources.readers.source import ReadersSource

__all__ = ["ReadersSource"]
