"""The demo generator, read back through EmbeddedSource from real files."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from exporter_tui.sources.base import ReadQuery
from exporter_tui.sources.demo import DEMO_CHANNEL, DEMO_DEVICE, DEMO_SUBTOPIC, DemoStats, demo_target, generate_demo
from exporter_tui.sources.embedded import EmbeddedSource

pytestmark = pytest.mark.timeout(120)

END = datetime(2025, 3, 1, tzinfo=UTC)
START_S = END.timestamp() - 30 * 86400
METRIC_UNITS = {"temperature": "Cel", "humidity": "%RH", "energy": "kWh", "onoff": None}


def read_all(source: EmbeddedSource, channel: str, name: str) -> pd.DataFrame:
    return pd.concat(source.read(ReadQuery(channel, DEMO_SUBTOPIC, name, -1e12, 1e12)), ignore_index=True)


def devices_by_channel(source: EmbeddedSource) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for t in source.targets():
        out.setdefault(t.channel, set()).add(t.name.split(":")[4])
    return out


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DemoStats, list[tuple[int, int]]]:
    """30 days at one reading a minute, ending 2025-03-01T00:00Z."""
    path = tmp_path_factory.mktemp("demo") / "source.db"
    calls: list[tuple[int, int]] = []
    stats = generate_demo(path, days=30, end=END, progress=lambda done, total: calls.append((done, total)))
    return path, stats, calls


def test_stats_and_progress(month: tuple[Path, DemoStats, list[tuple[int, int]]]) -> None:
    _, stats, calls = month
    assert (stats.rows, stats.devices, stats.targets) == (864_000, 5, 20)
    assert (stats.start, stats.end) == (datetime(2025, 1, 30, tzinfo=UTC), END)
    assert stats.seconds > 0
    assert len(calls) == 20
    assert [done for done, _ in calls] == [43_200 * k for k in range(1, 21)]
    assert {total for _, total in calls} == {864_000}


def test_devices_channels_names_and_units(month: tuple[Path, DemoStats, list[tuple[int, int]]]) -> None:
    path, _, _ = month
    with EmbeddedSource(path) as source:
        targets = source.targets()
        by_channel = devices_by_channel(source)
        first = read_all(source, DEMO_CHANNEL, demo_target(DEMO_DEVICE, "temperature")).iloc[0]
    assert DEMO_CHANNEL == "0115c85d-ef3e-4de9-9732-d0c5c4f2c482" and DEMO_DEVICE == "D0CF5EFFFE26FDAB1"
    assert DEMO_SUBTOPIC == "events.data"
    assert demo_target(DEMO_DEVICE, "energy") == "urn:cpt:smartdevice:nid:D0CF5EFFFE26FDAB1:energy"
    assert len(by_channel) == 2 and sum(len(d) for d in by_channel.values()) >= 5
    assert DEMO_DEVICE in by_channel[DEMO_CHANNEL]
    assert len(targets) == 4 * sum(len(d) for d in by_channel.values())
    for t in targets:
        prefix, device, metric = t.name.rsplit(":", 2)
        assert prefix == "urn:cpt:smartdevice:nid" and t.subtopic == "events.data"
        assert t.unit == METRIC_UNITS[metric]
        assert (t.first_time, t.last_time, t.count) == (START_S, END.timestamp() - 60, 43_200)
    assert (first["publisher"], first["protocol"], first["time"]) == (DEMO_DEVICE, "mqtt", START_S)


def test_energy_counter_grows_with_one_reset_per_device(month: tuple[Path, DemoStats, list[tuple[int, int]]]) -> None:
    path, _, _ = month
    with EmbeddedSource(path) as source:
        for channel, devices in devices_by_channel(source).items():
            for device in devices:
                energy = read_all(source, channel, demo_target(device, "energy"))
                steps = np.diff(energy["value"].to_numpy())
                drops = np.flatnonzero(steps < 0)
                assert len(drops) == 1, device
                assert (steps[steps >= 0] > 0).all()  # strictly growing between resets
                after = energy.iloc[drops[0] + 1]
                # documented reset instant: 12:30:30 UTC, so the first reading after it is at 12:31
                assert datetime.fromtimestamp(after["time"], UTC).strftime("%H:%M:%S") == "12:31:00"
                assert 0 < after["value"] < 0.05
                delay = (energy["update_time"] - energy["time"]).to_numpy()
                assert ((delay >= 0.5) & (delay <= 3.0)).all()


def test_only_energy_has_update_time_and_onoff_is_boolean(month: tuple[Path, DemoStats, list[tuple[int, int]]]) -> None:
    path, _, _ = month
    with EmbeddedSource(path) as source:
        for metric in ("temperature", "humidity", "onoff"):
            frame = read_all(source, DEMO_CHANNEL, demo_target(DEMO_DEVICE, metric))
            assert frame["update_time"].isna().all()
            assert frame["string_value"].isna().all() and frame["data_value"].isna().all() and frame["sum"].isna().all()
        onoff = read_all(source, DEMO_CHANNEL, demo_target(DEMO_DEVICE, "onoff"))
        temperature = read_all(source, DEMO_CHANNEL, demo_target(DEMO_DEVICE, "temperature"))
        humidity = read_all(source, DEMO_CHANNEL, demo_target(DEMO_DEVICE, "humidity"))
    assert onoff["value"].isna().all() and onoff["unit"].isna().all()
    assert onoff["bool_value"].notna().all()
    assert 0.2 < onoff["bool_value"].astype(bool).mean() < 0.8
    assert temperature["bool_value"].isna().all() and temperature["value"].notna().all()
    hour = (temperature["time"] % 86400) // 3600
    afternoon, night = temperature["value"][hour == 15].mean(), temperature["value"][hour == 3].mean()
    assert afternoon - night > 4  # the daily curve peaks mid-afternoon
    assert humidity["value"].between(5, 98).all() and humidity["value"][hour == 3].mean() > humidity["value"][hour == 15].mean()


def test_overlapping_generations_agree_exactly(tmp_path: Path) -> None:
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    generate_demo(a, days=2, end=END)
    generate_demo(b, days=2, end=END + timedelta(hours=12, minutes=30, seconds=17))  # off the hour and the grid
    overlap = ReadQuery("", "", "", END.timestamp() - 86400, END.timestamp())
    compared = 0
    with EmbeddedSource(a) as sa, EmbeddedSource(b) as sb:
        assert [(t.channel, t.name) for t in sa.targets()] == [(t.channel, t.name) for t in sb.targets()]
        for t in sa.targets():
            q = ReadQuery(t.channel, t.subtopic, t.name, overlap.start, overlap.end)
            fa, fb = pd.concat(sa.read(q), ignore_index=True), pd.concat(sb.read(q), ignore_index=True)
            assert len(fa) == 1440
            pd.testing.assert_frame_equal(fa, fb, check_exact=True)
            compared += len(fa)
    assert compared == 1440 * 20


def test_rerun_is_idempotent_and_reset_empties_first(tmp_path: Path) -> None:
    path = tmp_path / "source.db"
    generate_demo(path, days=1, end=END)
    with EmbeddedSource(path) as source:
        targets = source.targets()
        energy = read_all(source, DEMO_CHANNEL, demo_target(DEMO_DEVICE, "energy"))
    again = generate_demo(path, days=1, end=END)
    assert again.rows == 1440 * 20
    with EmbeddedSource(path) as source:
        assert source.targets() == targets
        pd.testing.assert_frame_equal(read_all(source, DEMO_CHANNEL, demo_target(DEMO_DEVICE, "energy")), energy, check_exact=True)

    later = END + timedelta(days=3)
    generate_demo(path, days=1, end=later)  # no reset: both days are kept
    with EmbeddedSource(path) as source:
        assert {(t.first_time, t.last_time, t.count) for t in source.targets()} == {(END.timestamp() - 86400, later.timestamp() - 60, 2880)}
    generate_demo(path, days=1, end=later, reset=True)
    with EmbeddedSource(path) as source:
        assert {(t.first_time, t.count) for t in source.targets()} == {(later.timestamp() - 86400, 1440)}
        assert source.count(ReadQuery(DEMO_CHANNEL, DEMO_SUBTOPIC, demo_target(DEMO_DEVICE, "energy"), 0, later.timestamp() - 86400)) == 0


def test_end_defaults_to_the_current_hour_and_step_is_honoured(tmp_path: Path) -> None:
    before = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    stats = generate_demo(tmp_path / "source.db", days=0.25, step_seconds=900)
    after = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    assert stats.end in (before, after)
    assert stats.start == stats.end - timedelta(hours=6)
    assert stats.rows == 24 * 20
    with EmbeddedSource(tmp_path / "source.db") as source:
        times = read_all(source, DEMO_CHANNEL, demo_target(DEMO_DEVICE, "humidity"))["time"]
    assert times.tolist() == [stats.start.timestamp() + 900 * k for k in range(24)]


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="days"):
        generate_demo(tmp_path / "source.db", days=0)
    with pytest.raises(ValueError, match="step_seconds"):
        generate_demo(tmp_path / "source.db", step_seconds=0)
