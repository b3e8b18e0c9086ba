"""One direction of imports: nothing outside exporter_tui.tui may import textual, and the CLI loads
the TUI only when it opens it (pyproject's import-linter contracts check the rest)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import exporter_tui


def core_modules() -> list[str]:
    names = [m.name for m in pkgutil.walk_packages(exporter_tui.__path__, "exporter_tui.")]
    return sorted(n for n in names if not n.startswith(("exporter_tui.tui", "exporter_tui.api")) and n != "exporter_tui.__main__")


def test_the_http_api_imports_without_textual() -> None:
    names = sorted(m.name for m in pkgutil.walk_packages(exporter_tui.__path__, "exporter_tui.") if m.name.startswith("exporter_tui.api"))
    assert "exporter_tui.api.server" in names
    code = "import sys\n" + "".join(f"import {m}\n" for m in names)
    code += "raise SystemExit(1 if any(m == 'textual' or m.startswith(('textual.', 'exporter_tui.tui')) for m in sys.modules) else 0)\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


def test_every_module_outside_tui_imports_without_textual() -> None:
    modules = core_modules()
    assert "exporter_tui.cli.main" in modules and "exporter_tui.service.runs" in modules
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in modules)
        + (
            "front = ('textual', 'exporter_tui.tui', 'exporter_tui.api')  # the CLI opens the TUI and the API lazily\n"
            "bad = sorted(m for m in sys.modules if m in front or m.startswith(tuple(f + '.' for f in front)))\n"
            "print(','.join(bad))\nraise SystemExit(1 if bad else 0)\n"
        )
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"imported at load time: {out.stdout} {out.stderr}"


def test_the_headless_path_does_not_import_textual() -> None:
    code = (
        "import sys\nfrom exporter_tui.cli.main import build_parser, dispatch\n"
        "import exporter_tui.cli.headless\n"
        "raise SystemExit(1 if any(m == 'textual' or m.startswith('textual.') for m in sys.modules) else 0)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
