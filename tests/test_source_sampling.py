"""What the browser and the target check ask of a source: the readers source samples a channel's
newest 1000 readings in one query and checks a target with one limit=1 query; the embedded source
answers from its summary table."""

from __future__ import annotations

from pathlib import Path

from readers_server import GENERATIONS, ReadersServer

from exporter_tui.config import ReadersSettings
from exporter_tui.sources.base import Sampling, TargetInfo
from exporter_tui.sources.embedded import EmbeddedSource, write_readings
from exporter_tui.sources.readers.source import ReadersSource

CH = "chan-1"
T0 = 1_741_478_400


def rows(ns: bool = False) -> list[dict]:
    scale = 10**9 if ns else 1
    out = [
        {"channel": CH, "subtopic": "a", "publisher": "p", "name": "old", "unit": "V", "time": (T0 + i) * scale, "value": 1.0}
        for i in range(200)
    ]
    for i in range(200, 1400):
        out.append(
            {
                "channel": CH,
                "subtopic": "a" if i % 3 else None,
                "publisher": "p",
                "name": "t",
                "unit": "C" if i < 1399 else "K",
                "time": (T0 + i) * scale,
                "value": 2.0,
            }
        )
    return out


def test_a_sample_is_one_query_of_the_newest_1000_readings_grouped_by_subtopic_and_name(tmp_path: Path) -> None:
    with ReadersServer.from_rows(rows(ns=True), tmp_path / "r.db", token="t", **GENERATIONS["magistrala-0.16"]) as server:
        source = ReadersSource(ReadersSettings(url=server.url, token="t"))
        try:
            assert isinstance(source, Sampling)
            sample = source.sample_targets(CH)
        finally:
            source.close()
    assert server.query_params() == [{"offset": "0", "limit": "1000"}]
    assert (sample.channel, sample.readings, sample.total) == (CH, 1000, 1400)
    by_key = {(t.subtopic, t.name): t for t in sample.targets}
    assert sorted(by_key) == [("", "t"), ("a", "t")]  # "old" is older than the newest 1000
    a = by_key[("a", "t")]
    assert (a.unit, a.first_time, a.last_time) == ("K", T0 + 400, T0 + 1399)  # the unit of its newest reading; times in seconds
    assert sum(t.count for t in sample.targets) == 1000


def test_has_readings_is_one_limit_1_query_per_target(tmp_path: Path) -> None:
    with ReadersServer.from_rows(rows(), tmp_path / "r.db", token="t") as server:
        source = ReadersSource(ReadersSettings(url=server.url, token="t"))
        try:
            assert source.has_readings(CH, "a", "old") and not source.has_readings(CH, "a", "nope")
        finally:
            source.close()
    assert server.query_params() == [{"subtopic": "a", "name": n, "offset": "0", "limit": "1"} for n in ("old", "nope")]


def test_the_embedded_source_lists_and_checks_targets_without_sampling(tmp_path: Path) -> None:
    path = tmp_path / "source.db"
    write_readings(path, [{"channel": CH, "subtopic": "a", "name": "t", "unit": "C", "time": T0 + i, "value": 1.0} for i in range(3)])
    with EmbeddedSource(path) as source:
        assert not isinstance(source, Sampling)
        assert source.targets() == [TargetInfo(CH, "a", "t", "C", T0, T0 + 2, 3)]
        assert source.has_readings(CH, "a", "t") and not source.has_readings(CH, "", "t") and not source.has_readings("other", "a", "t")
