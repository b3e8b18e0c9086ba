"""The embedded source under concurrent writers and a full disk: a read sees whole transactions
(never a reading missing or doubled while a seal moves the head into chunks), writers in several
processes each store what they wrote exactly once, and an ingest or a seal that cannot write
fails with the reason and leaves every stored reading as it was."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from reliability_report import report
from test_reliability_faults import exporter, make_home
from test_source_migration import integrity

from exporter_tui.sources.base import ReadQuery
from exporter_tui.sources.embedded import EmbeddedSource, ReadingsWriter

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

DAY = 86_400.0
CHILD_TIMEOUT = 120.0

# One writer process: `batches` transactions of `size` readings of series `name`, times from three
# days before the writer's clock `now` up to a minute before it (so the first go straight into
# chunks and today's wait in the head until a seal). Each transaction first writes the previous
# one's readings again (replacing them in the head or rewriting their chunk), and every fourth one
# seals the head, so a reader meets head rows, fresh chunks and rewritten chunks. A reading's value
# is its index: a read tells exactly which readings it saw. After each transaction the writer prints
# how many of its readings wait in the head, and goes on once the reader has begun two more rounds
# of reads (the file `rounds` counts them): the first round read this state whole, so reads meet
# every state, and the second overlaps this writer's next transaction and the other writer's.
WRITER = """
import sqlite3
import sys
import time
from pathlib import Path
import numpy as np
from exporter_tui.sources.embedded import ReadingsWriter
db, name, rounds = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[8])
batches, size = int(sys.argv[3]), int(sys.argv[4])
start, step, now = float(sys.argv[5]), float(sys.argv[6]), float(sys.argv[7])
for k in range(batches):
    lo = max(0, (k - 1) * size)
    idx = np.arange(lo, (k + 1) * size)
    with ReadingsWriter(db, now=now) as w:
        w.write_target("c", "s", name, start + idx * step, value=idx.astype(np.float64))
        if k % 4 == 3:
            w.seal()
    with sqlite3.connect(db) as conn:  # how many of this series' readings wait in the head now
        sql = "SELECT count(*) FROM head JOIN series ON head.series = series.id WHERE series.name = ?"
        print(conn.execute(sql, (name,)).fetchone()[0], flush=True)
    seen, deadline = int(rounds.read_text()), time.monotonic() + 60
    while int(rounds.read_text()) < seen + 2:
        if time.monotonic() > deadline:
            sys.exit("the reader began no round of reads in 60 s")
        time.sleep(0.001)
"""


def writer(db: Path, name: str, batches: int, size: int, start: float, step: float, now: float, rounds: Path) -> subprocess.Popen[str]:
    args = [str(db), name, str(batches), str(size), repr(start), repr(step), repr(now), str(rounds)]
    return subprocess.Popen([sys.executable, "-c", WRITER, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def read_values(db: Path, name: str) -> np.ndarray:
    """The values (= indexes) of every reading of `name`, in the order the source gives them."""
    with EmbeddedSource(db) as source:
        frames = list(source.read(ReadQuery("c", "s", name, -1e12, 1e12), chunk_rows=3_000))
    return np.concatenate([f["value"].to_numpy(dtype=np.float64) for f in frames]) if frames else np.empty(0)


def test_reads_during_two_writers_and_their_seals_see_whole_transactions(tmp_path: Path, full_size: bool) -> None:
    db = tmp_path / "source.db"
    batches, size = (60, 2_000) if full_size else (16, 1_500)
    total = batches * size
    now = (time.time() // DAY) * DAY + DAY / 2  # the writers' clock: noon today, whatever the real time
    start = now - 3 * DAY
    step = (now - 60 - start) / total  # the last reading a minute before it: today's readings wait in the head
    with ReadingsWriter(db, now=now) as w:  # the file exists before the writers race to create it
        w.write_target("c", "s", "seed", np.array([start]), value=np.array([0.0]))
    rounds = tmp_path / "rounds"
    rounds.write_text("0")
    procs = {name: writer(db, name, batches, size, start, step, now, rounds) for name in ("a", "b")}
    reads = round_ = 0
    seen: dict[str, set[int]] = {"a": set(), "b": set()}
    try:
        while True:
            running = any(p.poll() is None for p in procs.values())
            round_ += 1
            (tmp_path / "rounds.new").write_text(str(round_))
            os.replace(tmp_path / "rounds.new", rounds)  # whole: a writer never reads it half-written
            for name in procs:
                values = read_values(db, name)
                reads += 1
                n = len(values)
                # a committed state holds exactly the first k transactions: indexes 0..k*size-1, once each, in order
                assert n % size == 0 and np.array_equal(values, np.arange(n, dtype=np.float64)), (name, n, values[:5], values[-5:])
                seen[name].add(n // size)
            if not running:
                break
        for name, p in procs.items():
            out, err = p.communicate(timeout=CHILD_TIMEOUT)
            assert p.returncode == 0, f"writer {name}: {err}"
            waiting = [int(line) for line in out.split()]
            assert len(waiting) == batches and max(waiting) > 0, f"writer {name}: none of today's readings ever waited in the head"
    finally:  # a failed read leaves no writer waiting for rounds that never come
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
    for name in procs:
        assert np.array_equal(read_values(db, name), np.arange(total, dtype=np.float64))
    with EmbeddedSource(db) as source:
        assert source.count(ReadQuery("c", "s", "a", -1e12, 1e12)) == total
        assert {t.name: t.count for t in source.targets()} == {"seed": 1, "a": total, "b": total}
    assert integrity(db) == "ok"
    states = sum(len(s) for s in seen.values())
    assert states == 2 * (batches + 1), f"the reads met {states} of the writers' {2 * (batches + 1)} states"
    report(
        "source-races", full=full_size, writers=2, transactions=2 * batches, readings=2 * total, reads=reads, states_seen=states, failures=0
    )


def jsonl(path: Path, count: int, start: float, name: str = "t", step: float = 10.0) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for i in range(count):
            f.write(json.dumps({"channel": "c", "subtopic": "s", "n": name, "u": "Cel", "t": start + i * step, "v": i * 0.5}) + "\n")
    return path


def snapshot(db: Path) -> dict[str, list[tuple[float, float]]]:
    """Every stored reading, as (time, value) by name."""
    with EmbeddedSource(db) as source:
        out = {}
        for t in source.targets():
            frames = list(source.read(ReadQuery(t.channel, t.subtopic, t.name, -1e12, 1e12)))
            out[t.name] = [(float(r.time), float(r.value)) for f in frames for r in f.itertuples()]
    return out


def test_an_ingest_or_a_seal_on_a_full_disk_fails_with_the_reason_and_loses_nothing(tmp_path: Path, full_size: bool) -> None:
    home = make_home(tmp_path)
    db = home / "source.db"
    now = time.time()
    first = jsonl(tmp_path / "first.jsonl", 2_000, now - 2 * DAY)
    assert exporter(home, "ingest", str(first), "--quiet").code == 0
    # Three days of history (days that are over go straight into chunks) and 3,000 readings from
    # now on by the real clock, whatever its time of day: fewer than a seal takes, they wait in the head.
    big = jsonl(tmp_path / "big.jsonl", 57_000, now - 3 * DAY, name="u", step=4.0)
    with big.open("a", encoding="utf-8") as f:
        f.write(jsonl(tmp_path / "today.jsonl", 3_000, now, name="w", step=1.0).read_text(encoding="utf-8"))
    before = snapshot(db)
    limits = [db.stat().st_size + 40_000] + ([db.stat().st_size + k * 100_000 for k in (1, 2, 3)] if full_size else [])
    for limit in limits:
        r = exporter(home, "ingest", str(big), "--json", limit=limit)
        assert "Traceback" not in r.err, r.err
        assert r.code == 1, (r.code, r.out, r.err)
        assert f"source database {db}: write failed:" in r.err, r.err
        assert f"this process may write files of at most {limit} bytes" in r.err and "nothing of this write was stored" in r.err, r.err
        assert integrity(db) == "ok"
        assert snapshot(db) == before, "a failed ingest changed what was stored"
    done = exporter(home, "ingest", str(big), "--json")
    assert done.code == 0, done.err
    assert json.loads(done.out)["new"] == 60_000
    after = snapshot(db)
    assert after["t"] == before["t"] and len(after["u"]) == 57_000 and len(after["w"]) == 3_000
    with sqlite3.connect(db) as conn:
        waiting = conn.execute("SELECT count(*) FROM head").fetchone()[0]
    assert waiting > 0, "nothing of today waits in the head: the seal below would test nothing"

    # The limit cuts writes past an offset in any file, so it must stop the WAL: emptied first,
    # it cannot take the seal's pages (the head's leaves and the chunks, 16 KiB each) under 64 KiB.
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    r = exporter(home, "sources", "compact", limit=64 * 1024)
    assert "Traceback" not in r.err and r.code == 1, (r.code, r.err)
    assert f"source database {db}: write failed:" in r.err and "nothing of this write was stored" in r.err, r.err
    assert integrity(db) == "ok" and snapshot(db) == after
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM head").fetchone()[0] == waiting, "a failed seal moved readings"
    sealed = exporter(home, "sources", "compact", "--json")
    assert sealed.code == 0, sealed.err
    assert json.loads(sealed.out)["sealed"] == waiting
    assert snapshot(db) == after
    report("source-full-disk", full=full_size, faults_injected=len(limits) + 1, readings_checked=sum(map(len, after.values())), failures=0)


def test_a_source_file_another_process_creates_meanwhile_is_opened_with_its_readings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The window the next test hits now and then, made certain: the file is created between
    this writer's look and its own creation."""
    db = tmp_path / "source.db"
    with ReadingsWriter(db) as w:
        w.write_target("c", "s", "t", np.array([1e9]), value=np.array([1.0]))
    real_exists = Path.exists
    monkeypatch.setattr(Path, "exists", lambda self, **kw: False if self == db else real_exists(self, **kw))
    with ReadingsWriter(db) as w:
        w.write_target("c", "s", "t", np.array([2e9]), value=np.array([2.0]))
    monkeypatch.undo()
    assert read_values(db, "t").tolist() == [1.0, 2.0]


def test_two_ingests_of_one_file_at_once_store_each_reading_once(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    start = time.time() - 2 * DAY
    data = jsonl(tmp_path / "data.jsonl", 40_000, start)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "exporter_tui", "--home", str(home), "ingest", str(data), "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=CHILD_TIMEOUT)
        assert p.returncode == 0, err
        results.append(json.loads(out))
    assert sorted(r["new"] for r in results) == [0, 40_000], results  # one stored them all, the other found them there
    assert all(r["new"] + r["duplicate"] == 40_000 for r in results), results
    stored = snapshot(home / "source.db")
    assert stored["t"] == [(start + i * 10.0, i * 0.5) for i in range(40_000)]
    assert integrity(home / "source.db") == "ok"
