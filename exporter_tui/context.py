"""What every front end (CLI, TUI, headless) needs: settings, paths, the store and the source."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from exporter_tui.config import Paths, Settings, load_settings, resolve_paths
from exporter_tui.sources.base import Source
from exporter_tui.store.store import Store


@dataclass
class Context:
    settings: Settings
    paths: Paths

    @property
    def actor(self) -> str:
        return self.settings.identity.user

    def open_store(self) -> Store:
        self.ensure_dirs()
        return Store(self.paths.database, busy_timeout_ms=self.settings.database.busy_timeout_ms, file_mode=self.settings.exports.file_mode)

    def open_source(self) -> Source:
        if self.settings.source.kind == "readers":
            from exporter_tui.sources.readers.source import ReadersSource

            return ReadersSource(self.settings.source.readers)
        from exporter_tui.sources.embedded import EmbeddedSource

        return EmbeddedSource(self.paths.source_db)

    def ensure_dirs(self) -> None:
        mode = self.settings.exports.dir_mode
        for d in (self.paths.data_dir, self.paths.exports_dir):
            if not d.exists():
                d.mkdir(parents=True, exist_ok=True, mode=mode)
                os.chmod(d, mode)


def load_context(home: str | os.PathLike[str] | None = None, config: str | os.PathLike[str] | None = None) -> Context:
    """Resolve the config file, read it (ConfigError when broken) and resolve the paths."""
    paths = resolve_paths(home, config)
    settings = load_settings(paths.config_file)
    return Context(settings=settings, paths=resolve_paths(home, config, settings))


def config_path_for(home: str | None, config: str | None) -> Path:
    return resolve_paths(home, config).config_file
