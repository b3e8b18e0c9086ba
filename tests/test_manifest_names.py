"""A data file NAME.EXT has its manifest at NAME.EXT.manifest, so `*.EXT` matches exports only;
manifests of earlier versions (NAME.EXT.manifest.json) still count for collisions and recovery."""

from __future__ import annotations

import json
from pathlib import Path

from sched_fixtures import create, make_home, one_time, seed, utc

from exporter_tui.pipeline.files import final_path, remove_partials
from exporter_tui.service.runs import run_now

T0 = utc(2026, 3, 2)


def test_a_json_export_and_its_manifest_do_not_share_the_extension(tmp_path: Path) -> None:
    ctx = make_home(tmp_path)
    seed(ctx, T0, utc(2026, 3, 3))
    store = ctx.open_store()
    request = one_time(None, (T0, utc(2026, 3, 3)))
    request.format.extension = "json"
    sr = create(store, request, T0)
    run = run_now(ctx, sr.id, origin="cli", store=store)
    folder = ctx.paths.exports_dir / sr.id
    data = Path(run.file_path or "")
    assert sorted(p.name for p in folder.glob("*.json")) == [data.name]
    manifest = data.with_name(data.name + ".manifest")
    assert json.loads(manifest.read_text())["run"] == run.id
    store.close()


def test_an_old_manifest_name_still_takes_the_file_name_and_is_recovered(tmp_path: Path) -> None:
    folder = tmp_path / "exports" / "req"
    folder.mkdir(parents=True)
    taken = final_path(folder, "x", T0.timestamp(), "csv")
    old_manifest = taken.with_name(taken.name + ".manifest.json")
    old_manifest.write_text(json.dumps({"run": "crashed-run"}))  # a crash left it before the data file's rename
    assert final_path(folder, "x", T0.timestamp(), "csv").name == taken.stem + "-2.csv"
    assert remove_partials(folder, "crashed-run") == [old_manifest]
    assert list(folder.iterdir()) == []
