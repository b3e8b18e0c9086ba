"""The sha256 a CSV or JSON export's manifest names is taken while the file is written."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import pytest
from pipeline_helpers import T0, body, item, reading

from exporter_tui.cli.main import main
from exporter_tui.pipeline.files import MANIFEST_SUFFIX
from exporter_tui.pipeline.writers.hashed import HashedFile
from exporter_tui.sources.embedded import write_readings


def test_the_digest_is_the_files_whatever_the_writes(tmp_path: Path) -> None:
    path = tmp_path / "out.bin"
    pieces = [bytes([i % 251]) * (i * 7919 % 300_000) for i in range(40)]  # empty ones too, and more than the queue holds
    with HashedFile(path) as out:
        for piece in pieces:
            out.write(piece)
    assert path.read_bytes() == b"".join(pieces)
    assert out.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_write_that_fails_leaves_no_digest_and_no_thread(tmp_path: Path) -> None:
    with pytest.raises(ZeroDivisionError), HashedFile(tmp_path / "out.bin") as out:
        out.write(b"x" * 100_000)
        1 / 0  # noqa: B018  # the writer fails halfway
    with pytest.raises(RuntimeError, match="not whole"):
        out.sha256  # noqa: B018
    assert not [t for t in threading.enumerate() if t.name == "sha256"]


@pytest.mark.parametrize("extension", ["csv", "json"])
def test_the_manifest_names_the_sha256_of_the_published_file(tmp_path: Path, capsys: pytest.CaptureFixture[str], extension: str) -> None:
    home = tmp_path / "home"
    home.mkdir()
    write_readings(home / "source.db", [reading("urn:a", T0 + i, i / 7) for i in range(250_000)])  # several chunks and slices
    request = tmp_path / "b.json"
    request.write_text(json.dumps(body([item("urn:a", **{"from": T0, "to": T0 + 250_000})], extension, timezone="Europe/Rome")))
    assert main(["--home", str(home), "requests", "create", str(request)]) == 0
    rid = json.loads(capsys.readouterr().out)["id"]
    assert main(["--home", str(home), "run", rid, "--quiet", "--json"]) == 0
    run = json.loads(capsys.readouterr().out)
    data = Path(run["filePath"])
    manifest = json.loads(data.with_name(data.name + MANIFEST_SUFFIX).read_text())
    assert manifest["sha256"] == hashlib.sha256(data.read_bytes()).hexdigest()
    assert manifest["bytes"] == data.stat().st_size
