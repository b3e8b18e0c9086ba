"""Publishing never replaces a file, and an attempt's leftovers are its own: a stalled attempt
that wakes up after its run was taken over cannot overwrite or delete the new attempt's file."""

from __future__ import annotations

import errno
import json
import os
from functools import partial
from pathlib import Path

import pytest

from exporter_tui.pipeline.files import final_path, manifest_path, publish, remove_partials, sha256_of, temporary

START = 1_772_409_600.0  # 2026-03-02


def written(folder: Path, run: str, attempt: int, text: str) -> tuple[Path, str]:
    """A file published by one attempt of a run, as an export publishes it: (path, sha256)."""
    free = partial(final_path, folder, "x", START, "csv")
    with temporary(free(), run, attempt) as temp:
        temp.write_text(text, encoding="utf-8")
        return publish(temp, free, {"run": run, "attempt": attempt})


def manifest(path: Path) -> dict:
    return json.loads(manifest_path(path).read_text(encoding="utf-8"))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    out = tmp_path / "exports" / "req"
    out.mkdir(parents=True)
    return out


def test_a_name_taken_after_the_writer_chose_it_moves_the_file_on_instead_of_over(folder: Path) -> None:
    free = partial(final_path, folder, "x", START, "csv")
    with temporary(free(), "run-1", 1) as temp:  # attempt 1 chose x_...csv and is writing it
        temp.write_text("attempt 1\n", encoding="utf-8")
        theirs, their_digest = written(folder, "run-1", 2, "attempt 2\n")  # attempt 2 published under that name meanwhile
        ours, our_digest = publish(temp, free, {"run": "run-1", "attempt": 1})
    assert theirs.name == "x_20260302T000000Z.csv"
    assert ours.name == "x_20260302T000000Z-2.csv"
    assert theirs.read_text(encoding="utf-8") == "attempt 2\n" and sha256_of(theirs) == their_digest
    assert (manifest(theirs)["attempt"], manifest(theirs)["file"], manifest(theirs)["sha256"]) == (2, theirs.name, their_digest)
    assert (manifest(ours)["attempt"], manifest(ours)["file"], manifest(ours)["sha256"]) == (1, ours.name, our_digest)
    assert sorted(p.name for p in folder.iterdir()) == sorted([theirs.name, ours.name, theirs.name + ".manifest", ours.name + ".manifest"])


def test_a_data_file_without_a_manifest_keeps_its_name(folder: Path) -> None:
    """Someone's file under the name, put there after ours chose it (copied in by hand): ours
    takes the next name, and no manifest of ours is left beside theirs."""
    chosen = folder / "x_20260302T000000Z.csv"
    answers = iter([chosen])  # the name as it was free when the export chose it; then as the folder is now

    def free() -> Path:
        return next(answers, None) or final_path(folder, "x", START, "csv")

    with temporary(chosen, "run-1", 1) as temp:
        temp.write_text("ours\n", encoding="utf-8")
        chosen.write_text("by hand\n", encoding="utf-8")
        ours, _ = publish(temp, free, {"run": "run-1", "attempt": 1})
    assert ours.name == "x_20260302T000000Z-2.csv"
    assert chosen.read_text(encoding="utf-8") == "by hand\n"
    assert not manifest_path(chosen).exists()
    assert ours.read_text(encoding="utf-8") == "ours\n" and manifest(ours)["file"] == ours.name


def test_without_hard_links_publishing_still_does_not_replace_a_taken_name(folder: Path, monkeypatch) -> None:
    """A file system without hard links (FAT on a USB stick, some network shares) refuses link()."""

    def no_links(src: object, dst: object) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    first, _ = written(folder, "run-1", 1, "one\n")
    second, _ = written(folder, "run-2", 1, "two\n")
    assert (first.name, second.name) == ("x_20260302T000000Z.csv", "x_20260302T000000Z-2.csv")
    assert (first.read_text(encoding="utf-8"), second.read_text(encoding="utf-8")) == ("one\n", "two\n")
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []


def test_an_attempt_removes_its_own_leftovers_and_recovery_every_attempts(folder: Path) -> None:
    mine, _ = written(folder, "run-1", 1, "published by attempt 1, never recorded\n")
    other, _ = written(folder, "run-1", 2, "attempt 2's, recorded done\n")
    tenth, _ = written(folder, "run-1", 10, "attempt 10's\n")
    my_temp = folder / f".{mine.name}.tmp-run-1.1"
    my_scratch = folder / f".{mine.name}.tmp-run-1.1.scratch"
    other_temp = folder / f".{mine.name}.tmp-run-1.2"
    old_temp = folder / f".{mine.name}.tmp-run-1"  # a version that did not name the attempt
    for p in (my_temp, other_temp, old_temp):
        p.write_text("partial", encoding="utf-8")
    my_scratch.mkdir()

    removed = remove_partials(folder, "run-1", 1)
    assert sorted(p.name for p in removed) == sorted([my_temp.name, my_scratch.name, mine.name, mine.name + ".manifest"])
    assert other.is_file() and tenth.is_file() and other_temp.is_file() and old_temp.is_file()

    removed = remove_partials(folder, "run-1")  # recovery of a run that is not done: every attempt's
    assert sorted(p.name for p in removed) == sorted(
        [other_temp.name, old_temp.name, other.name, other.name + ".manifest", tenth.name, tenth.name + ".manifest"]
    )
    assert list(folder.iterdir()) == []
