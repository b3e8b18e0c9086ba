"""Readings kept in a local SQLite file (`source.db`), the default source: each series
(channel, subtopic, name, publisher) as chunks of a UTC day of arrays, plus a small row-wise
head of today's new readings. layout.py has the tables, codec.py a chunk's bytes, writer.py
where writes go and when they are sealed, reader.py how a window is read, migrate.py the
conversion of files in the earlier row layout."""

from exporter_tui.sources.embedded.layout import SCHEMA_VERSION, ensure_schema
from exporter_tui.sources.embedded.reader import EmbeddedSource
from exporter_tui.sources.embedded.writer import ReadingsWriter, write_readings

__all__ = ["SCHEMA_VERSION", "EmbeddedSource", "ReadingsWriter", "ensure_schema", "write_readings"]
