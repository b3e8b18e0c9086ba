"""The typed way for screens and widgets to reach the app (Textual types `node.app` as a plain App)."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.dom import DOMNode
from textual.worker import Worker

if TYPE_CHECKING:
    from exporter_tui.tui.app import ExporterApp


def exporter(node: DOMNode) -> ExporterApp:
    return cast("ExporterApp", node.app)


class OwnsWorkers:
    """Mixin for a screen or widget that owns workers (`start_worker(owner=node)`): Textual tells
    the owner, not the app, how its workers fare; this hands that to the app's one handler."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        exporter(cast(DOMNode, self)).on_worker_state_changed(event)
