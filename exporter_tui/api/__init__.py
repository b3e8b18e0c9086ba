"""`exporter-tui serve`: the HTTP API of the Connhex and Connectif documents, on the same store and scheduler.
This package must not import textual."""
