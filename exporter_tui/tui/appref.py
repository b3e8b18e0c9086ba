"""The typed way for screens and widgets to reach the app (Textual types `node.app` as a plain App)."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.dom import DOMNode

if TYPE_CHECKING:
    from exporter_tui.tui.app import ExporterApp


def exporter(node: DOMNode) -> ExporterApp:
    return cast("ExporterApp", node.app)
