"""Whole exports on big sources against what a user would otherwise write: times, peak memory, ratios.

    .venv/bin/python benchmarks/bench_pipeline.py [--sizes 1M,10M] [--runs 3] [--data /tmp/bench-data]
                                                  [--duckdb-python PATH] [--baseline DIR] [--skip CASES] [--keep]

Method, setup of the DuckDB reference and the latest figures: benchmarks/README.md.

For each size, a demo source of exactly that many readings is generated (20 targets, one
channel; 10M readings take ~1.6 GB on disk and ~30 s) and these cases run, each in its own
child process whose wall time, CPU time and peak RSS (`ru_maxrss` from `wait4`) are taken:

  ours-avg    `exporter-tui run`: raw readings -> 15-minute averages -> CSV, Europe/Rome ISO times
  ours-raw    `exporter-tui run`: every reading -> long CSV, Europe/Rome ISO times
  ours-xlsx   `exporter-tui run`: every reading -> Excel (1M only)
  pandas-avg  a plain pandas script: read_sql of the window, 15-minute mean per target, to_csv
  duckdb-avg  DuckDB's sqlite scanner: the same aggregation, COPY to CSV with ISO local times
  duckdb-raw  DuckDB's sqlite scanner: every reading, ORDER BY name, time, COPY to CSV with ISO local times
  duckdb-raw-scan-order  the same without ORDER BY (DuckDB happens to keep the table's order)
  xlsx-ref    sqlite3 + xlsxwriter constant_memory writing the same cells (1M only)

Each case runs `--runs` times at 1M and once at larger sizes; the table shows the median wall
time, its CPU time and the highest peak RSS. DuckDB needs its sqlite extension, which it
downloads unless installed: with no network, point `--duckdb-python` at an interpreter that
has `duckdb` and the matching `duckdb-ext-sqlite` wheel (see benchmarks/README.md); without
one the DuckDB cases are skipped and said so. Prints figures only; nothing is asserted.

This file is also the child's entry point (`bench_pipeline.py case NAME ...`), so it imports
nothing beyond the standard library at module level: the DuckDB interpreter may lack the rest.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ZONE = "Europe/Rome"
END = datetime(2025, 4, 4, tzinfo=UTC)  # the window spans the 2025-03-30 clock change in Rome
TARGETS = 20
BUCKET = 900
SIZES = {"1M": 1_000_000, "10M": 10_000_000}
VENV_BIN = Path(sys.executable).parent


# ---------------------------------------------------------------------------------------------
# The children: one case each, run as `bench_pipeline.py case NAME DB OUT START END`.


def case_pandas_avg(db: str, out: str, start: float, end: float) -> int:
    import pandas as pd

    with sqlite3.connect(db) as con:
        df = pd.read_sql("SELECT name, unit, time, value, bool_value FROM messages WHERE time >= ? AND time < ?", con, params=(start, end))
    df["value"] = df["value"].fillna(df["bool_value"].astype("float64"))
    df["time"] = pd.to_datetime(df["time"], unit="s", utc=True)
    out_df = (
        df.groupby(["name", pd.Grouper(key="time", freq="15min")])
        .agg(value=("value", "mean"), unit=("unit", "first"))
        .dropna(subset=["value"])
        .reset_index()
    )
    out_df["time"] = out_df["time"].dt.tz_convert(ZONE)
    out_df[["time", "name", "value", "unit"]].to_csv(out, index=False)
    return len(out_df)


def _duckdb_connection():
    """A DuckDB connection with the sqlite scanner loaded, or SystemExit(3) when it cannot be."""
    import duckdb

    config = {}
    try:
        import duckdb_ext  # the `duckdb-ext-sqlite` wheel: the extension file, no network needed

        config["extension_directory"] = str(Path(next(iter(duckdb_ext.__path__))) / "extensions")
    except ImportError:
        pass
    con = duckdb.connect(config=config)
    try:
        con.execute("LOAD sqlite_scanner")
    except duckdb.Error as e:
        print(f"duckdb {duckdb.__version__} has no sqlite scanner here: {str(e).splitlines()[0]}", file=sys.stderr)
        raise SystemExit(3) from None
    con.execute(f"SET TimeZone = '{ZONE}'")
    return con


def _duckdb_iso(ts: str) -> str:
    """ISO 8601 local time with a +hh:mm offset (DuckDB's %z gives +hh)."""
    return f"regexp_replace(strftime({ts}, '%Y-%m-%dT%H:%M:%S%z'), '([+-][0-9][0-9])$', '\\1:00')"


def _duckdb_avg(con, table: str, out: str, start: float, end: float) -> int:
    query = f"""
        SELECT {_duckdb_iso(f"to_timestamp(bucket * {BUCKET})")} AS time, name, value, unit FROM (
            SELECT name, floor(time / {BUCKET})::BIGINT AS bucket, avg(coalesce(value, bool_value::DOUBLE)) AS value, first(unit) AS unit
            FROM {table} WHERE time >= {start} AND time < {end} AND coalesce(value, bool_value) IS NOT NULL
            GROUP BY name, bucket
        ) ORDER BY name, bucket"""
    con.execute(f"COPY ({query}) TO '{out}' (HEADER, DELIMITER ',')")
    return con.execute(f"SELECT count(*) FROM read_csv('{out}')").fetchone()[0]


def case_duckdb_avg(db: str, out: str, start: float, end: float) -> int:
    """DuckDB's sqlite scanner on the row-layout file."""
    con = _duckdb_connection()
    con.execute(f"ATTACH '{db}' AS src (TYPE sqlite, READ_ONLY)")
    return _duckdb_avg(con, "src.messages", out, start, end)


def case_duckdb_avg_native(db: str, out: str, start: float, end: float) -> int:
    """DuckDB on its own table of the same readings (`prepare` built it)."""
    con = _duckdb_connection()
    con.execute(f"ATTACH '{Path(db).with_suffix('.duckdb')}' AS src (READ_ONLY)")
    return _duckdb_avg(con, "src.messages", out, start, end)


def case_duckdb_avg_parquet(db: str, out: str, start: float, end: float) -> int:
    """DuckDB on a Parquet file of the same readings (`prepare` wrote it)."""
    con = _duckdb_connection()
    return _duckdb_avg(con, f"read_parquet('{Path(db).with_suffix('.parquet')}')", out, start, end)


def prepare_duckdb(db: str) -> None:
    """Beside the row-layout file: a DuckDB database and a Parquet file of its readings, in its order."""
    con = _duckdb_connection()
    con.execute(f"ATTACH '{db}' AS src (TYPE sqlite, READ_ONLY)")
    native, parquet = Path(db).with_suffix(".duckdb"), Path(db).with_suffix(".parquet")
    if not native.exists():
        con.execute(f"ATTACH '{native}' AS dst")
        con.execute("CREATE TABLE dst.messages AS SELECT * FROM src.messages ORDER BY channel, subtopic, name, time, publisher")
        con.execute("DETACH dst")
    if not parquet.exists():
        con.execute(f"COPY (SELECT * FROM src.messages ORDER BY channel, subtopic, name, time, publisher) TO '{parquet}' (FORMAT parquet)")


def _duckdb_raw(db: str, out: str, start: float, end: float, order: str) -> int:
    con = _duckdb_connection()
    con.execute(f"ATTACH '{db}' AS src (TYPE sqlite, READ_ONLY)")
    query = f"""
        SELECT {_duckdb_iso("to_timestamp(time)")} AS time, name,
               coalesce(value::VARCHAR, CASE bool_value WHEN 1 THEN 'true' WHEN 0 THEN 'false' END, string_value) AS value, unit
        FROM src.messages WHERE time >= {start} AND time < {end} {order}"""
    con.execute(f"COPY ({query}) TO '{out}' (HEADER, DELIMITER ',')")
    return con.execute(f"SELECT count(*) FROM read_csv('{out}')").fetchone()[0]


def case_duckdb_raw(db: str, out: str, start: float, end: float) -> int:
    """The query as SQL guarantees the order: sorted by target and time."""
    return _duckdb_raw(db, out, start, end, "ORDER BY name, time, publisher")


def case_duckdb_raw_scan_order(db: str, out: str, start: float, end: float) -> int:
    """No ORDER BY: DuckDB keeps the scan's order, which follows the table's key (channel,
    subtopic, name, time, publisher), so the file comes out sorted too, without a sort; but
    that order is an implementation detail, not a guarantee."""
    return _duckdb_raw(db, out, start, end, "")


def case_xlsx_ref(db: str, out: str, start: float, end: float) -> int:
    """What a user would write with xlsxwriter's constant_memory mode: the same four columns."""
    import pandas as pd
    import xlsxwriter

    with sqlite3.connect(db) as con:
        df = pd.read_sql(
            "SELECT time, name, value, bool_value, unit FROM messages WHERE time >= ? AND time < ? ORDER BY name, time",
            con,
            params=(start, end),
        )
    local = pd.to_datetime(df["time"], unit="s", utc=True).dt.tz_convert(ZONE).dt.tz_localize(None)
    values = df["value"].astype(object).where(df["value"].notna(), df["bool_value"].map({1: True, 0: False}))
    workbook = xlsxwriter.Workbook(out, {"constant_memory": True})
    sheet = workbook.add_worksheet("data")
    date = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    sheet.write_row(0, 0, [f"time ({ZONE})", "name", "value", "unit"])
    for r, (t, name, value, unit) in enumerate(zip(local.dt.to_pydatetime(), df["name"], values, df["unit"]), start=1):
        sheet.write_datetime(r, 0, t, date)
        sheet.write_string(r, 1, name)
        if value is not None and not (isinstance(value, float) and math.isnan(value)):
            sheet.write(r, 2, value)
        if isinstance(unit, str):  # pandas reads a NULL unit as NaN
            sheet.write_string(r, 3, unit)
    workbook.close()
    return len(df)


CASES = {
    "pandas-avg": case_pandas_avg,
    "duckdb-avg": case_duckdb_avg,
    "duckdb-avg-native": case_duckdb_avg_native,
    "duckdb-avg-parquet": case_duckdb_avg_parquet,
    "duckdb-raw": case_duckdb_raw,
    "duckdb-raw-scan-order": case_duckdb_raw_scan_order,
    "xlsx-ref": case_xlsx_ref,
}


# ---------------------------------------------------------------------------------------------
# The parent: data, requests, runs, table.


@dataclass
class Measure:
    wall: float  # seconds
    cpu: float  # user + system seconds of the child and every process it started
    rss_mb: float  # peak resident set of the largest single process (ru_maxrss), MiB
    tree_mb: float  # peak of the summed resident sets of the child and its children (sampled), MiB
    rows: int | None
    load: float  # 1-minute load average when the case started
    sha: str | None = None  # of the file written (our runs)


# A lean go-between that starts each case: ru_maxrss counts the memory a process had before
# exec, so children forked straight from this (big) process would report its size as theirs.
_LAUNCHER = """
import json, os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
_, status, ru = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    json.dump({"maxrss_kb": ru.ru_maxrss, "cpu": ru.ru_utime + ru.ru_stime}, f)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def tree_rss_mb(pid: int) -> float:
    """Resident set of all descendants of a process, MiB (0 once they are gone)."""
    total_kb, stack = 0, _children(pid)
    while stack:
        p = stack.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total_kb += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
        except (OSError, ValueError):
            continue
        stack += _children(p)
    return total_kb / 1024


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for task in os.listdir(f"/proc/{pid}/task") for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
    except (OSError, ValueError):
        return []


def measured(argv: list[str], env: dict[str, str] | None = None) -> tuple[Measure, str]:
    """Run one child; its wall and CPU time, peak RSS (largest process and whole tree), and stdout."""
    load = os.getloadavg()[0]
    tmp = Path(os.environ.get("TMPDIR", "/tmp"))
    out_path, usage_path = tmp / f"bench-child-{os.getpid()}.out", tmp / f"bench-child-{os.getpid()}.usage"
    argv = [sys.executable, "-S", "-c", _LAUNCHER, str(usage_path), shutil.which(argv[0]) or argv[0], *argv[1:]]
    with open(out_path, "w+") as out:
        began = time.perf_counter()
        child = subprocess.Popen(argv, stdout=out, stderr=subprocess.PIPE, text=True, env=env)
        peak = [0.0]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.05):
                peak[0] = max(peak[0], tree_rss_mb(child.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, err = child.communicate()
        wall = time.perf_counter() - began
        done.set()
        sampler.join()
        out.seek(0)
        text = out.read()
    out_path.unlink()
    if child.returncode != 0:
        usage_path.unlink(missing_ok=True)
        raise RuntimeError(f"{' '.join(argv[5:9])}... exited {child.returncode}: {err.strip()[-800:]}")
    usage = json.loads(usage_path.read_text())
    usage_path.unlink()
    rss = usage["maxrss_kb"] / 1024
    return Measure(wall, usage["cpu"], rss, max(peak[0], rss), None, load), text


def generate(home: Path, rows: int) -> tuple[float, float]:
    """A demo source of exactly `rows` readings over the same 34.7 days, all 20 targets on one channel."""
    from exporter_tui.sources import demo

    home.mkdir(parents=True, exist_ok=True)
    config = home / "config.toml"
    config.write_text('[identity]\nuser = "bench"\n')
    config.chmod(0o600)
    per_target = rows // TARGETS
    step = 60 * 1_000_000 // rows  # 60 s at 1M, 6 s at 10M
    days = per_target * step / 86_400
    source = home / "source.db"
    if source.exists():
        if _readings(source) == rows:
            return _window(source)
        source.unlink()
    devices = demo.DEMO_DEVICES
    demo.DEMO_DEVICES = tuple((demo.DEMO_CHANNEL, device) for _, device in devices)  # one channel: one request item covers all
    try:
        stats = demo.generate_demo(source, days=days, end=END, step_seconds=step)
    finally:
        demo.DEMO_DEVICES = devices
    print(f"generated {stats.rows:,} readings in {stats.seconds:.1f} s ({source.stat().st_size / 2**20:.0f} MiB)", flush=True)
    return _window(source)


def _readings(source: Path) -> int:
    from exporter_tui.sources.embedded import EmbeddedSource

    with EmbeddedSource(source) as s:
        return sum(t.count for t in s.targets())


def _window(source: Path) -> tuple[float, float]:
    from exporter_tui.sources.embedded import EmbeddedSource

    with EmbeddedSource(source) as s:
        targets = s.targets()
    return float(min(t.first_time for t in targets)), float(max(t.last_time for t in targets)) + 1


# The row layout of exporter-tui before the chunked store (schema 1): what the pandas, DuckDB and
# xlsxwriter references read, and what a --baseline checkout of that time reads as its source.
_ROW_SCHEMA = (
    """CREATE TABLE messages (channel TEXT NOT NULL, subtopic TEXT NOT NULL DEFAULT '', publisher TEXT NOT NULL DEFAULT '',
    protocol TEXT, name TEXT NOT NULL, unit TEXT, time REAL NOT NULL, value REAL, string_value TEXT, bool_value INTEGER,
    data_value TEXT, sum REAL, update_time REAL, PRIMARY KEY (channel, subtopic, name, time, publisher)) WITHOUT ROWID""",
    """CREATE TABLE targets (channel TEXT NOT NULL, subtopic TEXT NOT NULL, name TEXT NOT NULL, unit TEXT,
    first_time REAL NOT NULL, last_time REAL NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (channel, subtopic, name)) WITHOUT ROWID""",
)


def row_home(home: Path, rows: int) -> Path:
    """A home beside `home` whose source.db holds the same readings in the row layout (built once)."""
    from exporter_tui.sources.base import READING_COLUMNS, ReadQuery
    from exporter_tui.sources.embedded import EmbeddedSource

    out = home.with_name(home.name + "-rows")
    db = out / "source.db"
    if db.exists():
        with sqlite3.connect(db) as con:
            if con.execute("SELECT sum(count) FROM targets").fetchone()[0] == rows:
                return out
        shutil.rmtree(out)
    out.mkdir(parents=True)
    shutil.copy(home / "config.toml", out / "config.toml")
    began = time.perf_counter()
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA page_size = 16384")
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("PRAGMA synchronous = OFF")
    con.execute("BEGIN")
    for statement in _ROW_SCHEMA:
        con.execute(statement)
    marks = ", ".join("?" * len(READING_COLUMNS))
    with EmbeddedSource(home / "source.db") as source:
        for t in source.targets():
            for frame in source.read(ReadQuery(t.channel, t.subtopic, t.name, t.first_time, t.last_time + 1)):
                frame = frame.astype(object).where(frame.notna(), None)
                frame["bool_value"] = frame["bool_value"].map(lambda v: None if v is None else int(v))
                con.executemany(f"INSERT INTO messages VALUES ({marks})", frame[list(READING_COLUMNS)].itertuples(index=False, name=None))
            con.execute(
                "INSERT INTO targets VALUES (?, ?, ?, ?, ?, ?, ?)",
                (t.channel, t.subtopic, t.name, t.unit, t.first_time, t.last_time, t.count),
            )
    con.execute("PRAGMA user_version = 1")
    con.execute("COMMIT")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    print(f"row-layout copy: {rows:,} readings in {time.perf_counter() - began:.1f} s ({db.stat().st_size / 2**20:.0f} MiB)", flush=True)
    return out


def create_request(home: Path, kind: str, extension: str, window: tuple[float, float], baseline: Path | None = None) -> str:
    from exporter_tui.sources import demo

    names = ",".join(demo.demo_target(device, metric) for _, device in demo.DEMO_DEVICES for metric in demo.DEMO_METRICS)
    params: dict = {
        "target": {"value": names},
        "channelId": demo.DEMO_CHANNEL,
        "subtopic": demo.DEMO_SUBTOPIC,
        "from": window[0],
        "to": window[1],
    }
    if kind == "avg":
        params["decimation"] = {"ds": "15m", "dsf": "avg"}
    body = {
        "type": "oneTime",
        "name": f"bench {kind} {extension}",
        "format": {"extension": extension, "timezone": ZONE},
        "items": [{"params": params}],
    }
    path = home / f"{kind}-{extension}.json"
    path.write_text(json.dumps(body))
    done = subprocess.run(
        [str(VENV_BIN / "exporter-tui"), "--home", str(home), "requests", "create", str(path), "--json"],
        capture_output=True,
        text=True,
        check=True,
        env=None if baseline is None else {**os.environ, "PYTHONPATH": str(baseline.resolve())},
    )
    return json.loads(done.stdout)["id"]


def ours(home: Path, request_id: str, baseline: Path | None = None) -> Measure:
    """`exporter-tui run`; with `baseline`, the exporter_tui package in that folder runs instead."""
    env = None if baseline is None else {**os.environ, "PYTHONPATH": str(baseline.resolve())}
    m, out = measured([str(VENV_BIN / "exporter-tui"), "--home", str(home), "run", request_id, "--quiet", "--json"], env)
    run = json.loads(out)
    file = Path(run["filePath"])
    m.sha = hashlib.sha256(file.read_bytes()).hexdigest()
    file.unlink()  # keep the disk free; the next run writes a new file
    m.rows = run["rows"]
    return m


def reference(python: str, case: str, db: Path, out: Path, window: tuple[float, float]) -> Measure | None:
    try:
        m, text = measured([python, str(Path(__file__).resolve()), "case", case, str(db), str(out), repr(window[0]), repr(window[1])])
    except RuntimeError as e:
        if "exited 3" in str(e):
            return None
        raise
    m.rows = int(text.strip().splitlines()[-1])
    out.unlink(missing_ok=True)
    return m


def duckdb_python(given: str | None) -> str | None:
    """An interpreter whose duckdb can load the sqlite scanner without network, or None."""
    for python in [given] if given else [sys.executable]:
        probe = subprocess.run([python, str(Path(__file__).resolve()), "probe-duckdb"], capture_output=True, text=True, check=False)
        if probe.returncode == 0:
            return python
        print(
            f"DuckDB reference unavailable with {python}: {probe.stderr.strip().splitlines()[-1] if probe.stderr.strip() else probe.returncode}"
        )
    return None


def median(ms: list[Measure]) -> Measure:
    wall = statistics.median(m.wall for m in ms)
    mid = min(ms, key=lambda m: abs(m.wall - wall))
    return Measure(wall, mid.cpu, max(m.rss_mb for m in ms), max(m.tree_mb for m in ms), mid.rows, max(m.load for m in ms))


def machine() -> list[str]:
    model = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), "?"
    )
    mem = next((int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")), 0)
    return [
        f"machine: {os.cpu_count()} CPUs ({model}), {mem / 2**20:.1f} GiB RAM, {platform.system()} {platform.release()}",
        f"python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, load average at start {os.getloadavg()[0]:.2f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1M,10M", help="comma-separated, among " + ", ".join(SIZES))
    parser.add_argument("--runs", type=int, default=3, help="runs of each case at 1M (larger sizes run once)")
    parser.add_argument("--data", type=Path, default=Path("/tmp/bench-data"), help="where sources and outputs go")
    parser.add_argument("--duckdb-python", help="interpreter with duckdb and its sqlite extension (default: this one, if it can)")
    parser.add_argument("--skip", default="", help="comma-separated cases to leave out, e.g. pandas-avg,xlsx-ref")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="a folder holding another exporter_tui package (say `git archive REV exporter_tui | "
        "tar -x -C DIR`): its `run` is measured too, as base-avg, base-raw, base-xlsx",
    )
    parser.add_argument("--keep", action="store_true", help="keep the generated sources")
    args = parser.parse_args()
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    for line in machine():
        print(line)
    duck = duckdb_python(args.duckdb_python)
    results: dict[str, dict[str, Measure | None]] = {}
    sizes_mib: dict[str, dict[str, float]] = {}
    began = time.perf_counter()
    try:
        for size in sizes:
            rows = SIZES[size]
            runs = args.runs if rows <= 1_000_000 else 1
            home = args.data / f"home-{size}"
            window = generate(home, rows)
            rows_home = row_home(home, rows)
            db = rows_home / "source.db"  # what the references read: the same readings, one row each
            if duck is not None:
                subprocess.run([duck, __file__, "prepare-duckdb", str(db)], check=True)
            sizes_mib[size] = {
                "chunks (ours)": (home / "source.db").stat().st_size / 2**20,
                "rows (before)": db.stat().st_size / 2**20,
                **({"parquet": db.with_suffix(".parquet").stat().st_size / 2**20} if duck else {}),
                **({"duckdb": db.with_suffix(".duckdb").stat().st_size / 2**20} if duck else {}),
            }
            ids = {"ours-avg": create_request(home, "avg", "csv", window), "ours-raw": create_request(home, "raw", "csv", window)}
            if rows <= 1_000_000:
                ids["ours-xlsx"] = create_request(home, "raw", "xlsx", window)
            kinds = {"ours-avg": ("avg", "csv"), "ours-raw": ("raw", "csv"), "ours-xlsx": ("raw", "xlsx")}
            # The same requests in the row-layout home, made by the older code, which reads that file as it is
            # (this code would convert it on first open).
            base_ids = {name: create_request(rows_home, *kinds[name], window, args.baseline) for name in ids} if args.baseline else {}
            cases: dict[str, list[Measure | None]] = {}
            for _ in range(runs):  # interleaved, so a burst of load spreads over all cases
                for name, request_id in ids.items():
                    if name not in skip:
                        cases.setdefault(name, []).append(ours(home, request_id))
                    if args.baseline and name.replace("ours", "base") not in skip:
                        cases.setdefault(name.replace("ours", "base"), []).append(ours(rows_home, base_ids[name], args.baseline))
                for name in CASES:
                    if name in skip or (name == "xlsx-ref" and rows > 1_000_000):
                        continue
                    python = duck if name.startswith("duckdb") else sys.executable
                    m = None if python is None else reference(python, name, db, args.data / f"{name}.out", window)
                    cases.setdefault(name, []).append(m)
                print(
                    f"{size}: {sum(1 for v in cases.values() for m in v if m)} runs done, {time.perf_counter() - began:.0f} s so far",
                    flush=True,
                )
            for name in ids:
                ours_sha = {m.sha for m in cases.get(name, []) if m}
                base_sha = {m.sha for m in cases.get(name.replace("ours", "base"), []) if m}
                if ours_sha and base_sha:
                    same = "byte-identical" if ours_sha == base_sha and len(ours_sha) == 1 else f"DIFFERENT ({ours_sha} vs {base_sha})"
                    print(f"{size}: {name} from the chunked store vs the row store: {same}", flush=True)
            results[size] = {name: (median([m for m in ms if m]) if all(ms) else None) for name, ms in cases.items()}
            if not args.keep:
                shutil.rmtree(home)
                shutil.rmtree(rows_home)
    finally:
        if not args.keep:
            for size in sizes:
                shutil.rmtree(args.data / f"home-{size}", ignore_errors=True)
                shutil.rmtree(args.data / f"home-{size}-rows", ignore_errors=True)
    report(results, args.runs, duck, time.perf_counter() - began)
    for size, files in sizes_mib.items():
        per = 1_000_000 / SIZES[size]
        print(f"{size} source files, MiB per million readings: " + ", ".join(f"{k} {v * per:.1f}" for k, v in files.items()))


def report(results: dict[str, dict[str, Measure | None]], runs: int, duck: str | None, seconds: float) -> None:
    print()
    print("| size | case | rows | wall s | CPU s | peak RSS MiB, one process | peak RSS MiB, all processes | load |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for size, cases in results.items():
        for name, m in cases.items():
            if m is None:
                print(f"| {size} | {name} | - | skipped | | | | |")
            else:
                print(f"| {size} | {name} | {m.rows:,} | {m.wall:.2f} | {m.cpu:.2f} | {m.rss_mb:.0f} | {m.tree_mb:.0f} | {m.load:.1f} |")
    print()
    print(f"wall time: median of {runs} runs at 1M, one run above; CPU: that run's user + system time, children included;")
    print("peak RSS: the highest of the runs, of the largest process (ru_maxrss) and of all the case's processes together")
    print("(sampled every 50 ms); load: the 1-minute load average as the case started")
    print(f"DuckDB: {duck or 'not available'}; whole benchmark {seconds:.0f} s")
    print()
    for size, cases in results.items():

        def ratio(a: str, b: str, cases: dict[str, Measure | None] = cases) -> str:
            x, y = cases.get(a), cases.get(b)
            return f"{x.wall / y.wall:.2f}x" if x and y else "n/a"

        print(
            f"{size}: ours-avg / duckdb-avg {ratio('ours-avg', 'duckdb-avg')}, pandas-avg / ours-avg {ratio('pandas-avg', 'ours-avg')}, "
            f"ours-raw / duckdb-raw {ratio('ours-raw', 'duckdb-raw')} ({ratio('ours-raw', 'duckdb-raw-scan-order')} without ORDER BY)"
            + (f", ours-xlsx / xlsx-ref {ratio('ours-xlsx', 'xlsx-ref')}" if "xlsx-ref" in cases else "")
        )
        if "base-avg" in cases:
            print(
                f"{size}: base / ours: avg {ratio('base-avg', 'ours-avg')}, raw {ratio('base-raw', 'ours-raw')}"
                + (f", xlsx {ratio('base-xlsx', 'ours-xlsx')}" if "base-xlsx" in cases else "")
            )
    small, big = results.get("1M"), results.get("10M")
    if small and big:
        for name in ("ours-avg", "ours-raw"):
            a, b = small.get(name), big.get(name)
            if a and b:
                print(
                    f"peak memory {name}: largest process {a.rss_mb:.0f} MiB at 1M, {b.rss_mb:.0f} MiB at 10M ({b.rss_mb / a.rss_mb:.2f}x); "
                    f"all processes {a.tree_mb:.0f} MiB, {b.tree_mb:.0f} MiB ({b.tree_mb / a.tree_mb:.2f}x)"
                )


def child() -> None:
    if sys.argv[1] == "probe-duckdb":
        _duckdb_connection()
        return
    if sys.argv[1] == "prepare-duckdb":
        prepare_duckdb(sys.argv[2])
        return
    name, db, out, start, end = sys.argv[2:7]
    print(CASES[name](db, out, float(start), float(end)))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in ("case", "probe-duckdb", "prepare-duckdb"):
        child()
    else:
        main()
