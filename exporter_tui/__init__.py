"""exporter-tui: compose, schedule and run Connhex-compatible data exports."""

__version__ = "0.1.0"
