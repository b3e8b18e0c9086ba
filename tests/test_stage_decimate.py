"""Decimation: buckets, their anchors in time zones, and exact streaming over chunks."""

from __future__ import annotations

import math
import zlib
from datetime import UTC, datetime, timezone
from fractions import Fraction
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from exporter_tui.core.buckets import boundaries
from exporter_tui.pipeline.decimate import DSF_FUNCTIONS, Decimator, parse_ds
from exporter_tui.sources.base import READING_COLUMNS, READING_DTYPES, normalise_frame

ROME = ZoneInfo("Europe/Rome")


def utc(text: str) -> float:
    """Unix seconds of a UTC wall-clock time written as ISO 8601."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def readings(times: list[float], values: list[float | None], **extra: list) -> pd.DataFrame:
    data = {"channel": "ch", "subtopic": "st", "publisher": "pub", "protocol": "mqtt", "name": "t", "unit": "C"}
    return normalise_frame(pd.DataFrame({**data, "time": times, "value": values, **extra}))


def decimate(ds: str, dsf: str, chunks: list[pd.DataFrame], zone: ZoneInfo | timezone = UTC) -> pd.DataFrame:
    decimator = Decimator(ds, dsf, zone)
    out = [decimator.feed(c) for c in chunks] + [decimator.finish()]
    return pd.concat(out, ignore_index=True)


def buckets(out: pd.DataFrame) -> list[tuple[float, float]]:
    return list(zip(out["time"].tolist(), out["value"].tolist()))


@pytest.mark.parametrize(
    ("text", "expected"),
    [("15m", (15, "m")), ("1d", (1, "d")), ("1M", (1, "M")), ("30s", (30, "s")), ("2w", (2, "w")), ("10y", (10, "y"))],
)
def test_parse_ds(text: str, expected: tuple[int, str]) -> None:
    assert parse_ds(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "positive integer followed by a unit"),
        ("m", "positive integer followed by a unit"),
        ("15", "positive integer followed by a unit"),
        ("1.5h", "positive integer followed by a unit"),
        ("-1d", "positive integer followed by a unit"),
        (" 1d", "positive integer followed by a unit"),
        ("0m", "must be positive"),
        ("15x", "unit 'x' is not one of s m h d w M y"),
        ("1D", "unit 'D' is not one of"),
        ("1001y", "longer than a thousand years"),
    ],
)
def test_parse_ds_rejects_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_ds(text)


def test_unknown_dsf_is_rejected() -> None:
    with pytest.raises(ValueError, match="dsf 'median' is not one of avg max min sum stddev variance"):
        Decimator("1h", "median", UTC)


@pytest.mark.parametrize(
    ("dsf", "expected"),
    [
        ("avg", 2.5),
        ("max", 4.0),
        ("min", 1.0),
        ("sum", 10.0),
        # sample variance: ((1.5^2 + 0.5^2) * 2) / 3 = 5/3
        ("variance", 5 / 3),
        ("stddev", 1.2909944487358056),
    ],
)
def test_every_dsf_on_one_bucket(dsf: str, expected: float) -> None:
    out = decimate("1h", dsf, [readings([10, 20, 30, 40], [3, 1, 4, 2])])
    assert out["time"].tolist() == [0.0]
    assert out["value"].tolist() == [pytest.approx(expected, rel=1e-15)]


@pytest.mark.parametrize("dsf", ["variance", "stddev"])
def test_spread_of_a_single_reading_keeps_an_empty_row(dsf: str) -> None:
    out = decimate("1h", dsf, [readings([10, 3700, 3800], [5, 1, 3])])
    assert out["time"].tolist() == [0.0, 3600.0]
    assert math.isnan(out["value"][0])
    assert out["value"][1] == pytest.approx(2.0 if dsf == "variance" else math.sqrt(2))


def test_rows_keep_the_first_readings_description_and_empty_other_columns() -> None:
    chunk = readings(
        [10, 20, 4000],
        [1, 2, 3],
        publisher=["first", "second", "third"],
        string_value=["a", "b", "c"],
        update_time=[11.0, 21.0, 4001.0],
        sum=[1.0, 2.0, 3.0],
    )
    out = decimate("1h", "avg", [chunk])
    assert out.columns.tolist() == list(READING_COLUMNS)
    assert {c: str(t) for c, t in out.dtypes.items()} == READING_DTYPES
    assert out["publisher"].tolist() == ["first", "third"]
    assert out[["channel", "subtopic", "protocol", "name", "unit"]].iloc[0].tolist() == ["ch", "st", "mqtt", "t", "C"]
    assert out["value"].tolist() == [1.5, 3.0]
    for col in ("string_value", "data_value"):
        assert out[col].isna().all()
    for col in ("bool_value", "sum", "update_time"):
        assert out[col].isna().all()


def test_bool_readings_count_as_one_and_zero_and_empty_readings_are_skipped() -> None:
    chunk = readings(
        [0, 100, 200, 300, 400],
        [None, None, None, None, None],
        bool_value=pd.array([True, False, True, True, None], dtype="boolean"),
        string_value=[None, None, None, None, "noise"],
    )
    out = decimate("1h", "avg", [chunk])
    assert buckets(out) == [(0.0, 0.75)]
    assert decimate("1h", "sum", [chunk])["value"].tolist() == [3.0]


def test_a_bucket_of_readings_without_any_number_gives_no_row() -> None:
    chunk = readings([0, 4000], [1, None], string_value=[None, "text"])
    assert buckets(decimate("1h", "avg", [chunk])) == [(0.0, 1.0)]


def test_empty_buckets_give_no_row() -> None:
    out = decimate("1h", "sum", [readings([0, 60, 3 * 3600 + 5, 7 * 3600], [1, 2, 4, 8])])
    assert buckets(out) == [(0.0, 3.0), (3 * 3600.0, 4.0), (7 * 3600.0, 8.0)]


def test_15m_buckets_start_on_the_quarter_hour() -> None:
    # 2026-03-29T10:14:59.9Z is in the 10:00 bucket; 10:15:00Z starts the next.
    start = utc("2026-03-29T10:00")
    out = decimate("15m", "max", [readings([start - 0.1, start + 899.9, start + 900, start + 1799], [1, 2, 3, 4])], ROME)
    assert buckets(out) == [(start - 900, 1.0), (start, 2.0), (start + 900, 4.0)]


def local(text: str, zone: str, fold: int = 0) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone), fold=fold).timestamp()


@pytest.mark.parametrize("zone", ["Asia/Kolkata", "Asia/Kathmandu"])
def test_hours_follow_the_local_clock(zone: str) -> None:
    # Kolkata is UTC+05:30, Kathmandu +05:45: a `1h` bucket starts on the local hour.
    out = decimate("1h", "sum", [readings([local("2026-01-01T10:10", zone), local("2026-01-01T10:50", zone)], [1, 2])], ZoneInfo(zone))
    assert buckets(out) == [(local("2026-01-01T10:00", zone), 3.0)]


def test_6h_buckets_in_rome_are_local_quarters_of_the_day_and_stretch_over_dst() -> None:
    for day, change in (("2026-03-29", 5), ("2026-10-25", 7)):
        times = np.arange(local(f"{day}T00:00", "Europe/Rome"), local(f"{day}T23:59", "Europe/Rome"), 600.0).tolist()
        out = decimate("6h", "sum", [readings(times, [1.0] * len(times))], ROME)
        starts = [local(f"{day}T{h:02d}:00", "Europe/Rome") for h in (0, 6, 12, 18)]
        assert out["time"].tolist() == starts
        assert out["value"].tolist() == [change * 6.0, 36.0, 36.0, 36.0]  # readings every 10 minutes


def test_1h_buckets_in_the_repeated_hour_are_two() -> None:
    first, second = local("2026-10-25T02:00", "Europe/Rome"), local("2026-10-25T02:00", "Europe/Rome", fold=1)
    out = decimate("1h", "sum", [readings([first + 60, second - 60, second + 60, second + 3540], [1, 2, 4, 8])], ROME)
    assert buckets(out) == [(first, 3.0), (second, 12.0)]


def test_a_bucket_cut_by_the_window_start_is_labelled_with_it() -> None:
    start = local("2026-01-15T10:10", "Europe/Rome")
    decimator = Decimator("1h", "sum", ROME, window_start=start)
    out = pd.concat([decimator.feed(readings([start, start + 1800, start + 3000], [1, 2, 4])), decimator.finish()])
    assert buckets(out) == [(start, 3.0), (local("2026-01-15T11:00", "Europe/Rome"), 4.0)]


def reference_starts(zone: str, width: int, times: list[float]) -> list[float]:
    """Bucket starts by the rule, by brute force: every whole minute whose wall clock, counted from
    1970-01-01 00:00 local, is a multiple of the width is a boundary; a time's bucket starts at the
    last boundary at or before it."""
    tz = ZoneInfo(zone)
    epoch = datetime(1970, 1, 1)
    lo, hi = int(min(times) // 60 * 60) - width - 2 * 86_400, int(max(times))
    bounds = [
        t for t in range(lo, hi + 1, 60) if int((datetime.fromtimestamp(t, tz).replace(tzinfo=None) - epoch).total_seconds()) % width == 0
    ]
    return [max(b for b in bounds if b <= t) for t in times]


@pytest.mark.parametrize("zone", ["Europe/Rome", "America/St_Johns", "Asia/Kathmandu", "Australia/Lord_Howe", "America/Sao_Paulo"])
@pytest.mark.parametrize("ds", ["15m", "1h", "2h", "6h", "7h", "90m", "25h"])
@pytest.mark.parametrize("readings_per_span", [300, 12])
def test_sub_day_buckets_match_the_rule_computed_by_brute_force(zone: str, ds: str, readings_per_span: int) -> None:
    """Dense readings (fewer boundaries than readings: the boundaries are placed among them) and
    sparse ones (each reading's bucket start computed) must both follow the rule."""
    rng = np.random.default_rng(zlib.crc32(f"{zone} {ds}".encode()))
    n, unit = parse_ds(ds)
    width = n * {"m": 60, "h": 3600}[unit]
    # two DST seasons' changes of the southern and northern hemispheres, and a Sao Paulo midnight change (2018)
    spans = [("2018-11-03T12:00", "2018-11-05T00:00"), ("2026-03-28T12:00", "2026-03-30T00:00"), ("2026-10-24T12:00", "2026-10-26T00:00")]
    spans += [("2026-04-04T12:00", "2026-04-06T00:00"), ("2026-10-03T12:00", "2026-10-05T00:00")]
    for a, b in spans:
        n = readings_per_span
        times = np.sort(rng.uniform(utc(a), utc(b), n)).round().tolist()
        chunks = [readings(times[: n // 3], list(range(n // 3))), readings(times[n // 3 :], list(range(n // 3, n)))]
        out = decimate(ds, "min", chunks, ZoneInfo(zone))
        expected = reference_starts(zone, width, times)
        firsts = sorted({s: i for i, s in reversed(list(enumerate(expected)))}.items())
        assert buckets(out) == [(float(s), float(i)) for s, i in firsts], (zone, ds, a)


@pytest.mark.parametrize("zone", ["Europe/Rome", "Australia/Lord_Howe", "America/Sao_Paulo", "Pacific/Apia"])
@pytest.mark.parametrize("ds", ["15m", "6h", "7h", "25h"])
def test_boundaries_of_a_span_follow_the_rule_near_and_far_from_offset_changes(zone: str, ds: str) -> None:
    """A span far from any change is answered by local arithmetic, one near a change (or longer
    than a week) by the rule itself: both must list exactly the brute-force boundaries, from the
    last one at or before the start to the last one at or before the end."""
    n, unit = parse_ds(ds)
    width = n * {"m": 60, "h": 3600}[unit]
    tz = ZoneInfo(zone)
    epoch = datetime(1970, 1, 1)
    spans = [("2026-01-10T03:07", "2026-01-11T09:00"), ("2026-03-28T12:00", "2026-03-30T00:00"), ("2026-04-04T12:00", "2026-04-06T00:00")]
    spans += [("2026-10-24T12:00", "2026-10-26T00:00"), ("2026-06-01T00:00", "2026-06-12T00:00"), ("2011-12-28T00:00", "2012-01-01T00:00")]
    spans += [("2026-03-01T00:00", "2026-11-15T00:00")]  # the same offset at both ends, two changes between
    for a, b in spans:
        start, end = utc(a) + 17.5, utc(b)
        lo = int(start // 900 * 900) - width - 2 * 86_400
        # Every offset of these zones and every width here is a multiple of 15 minutes, so every
        # boundary is a multiple of 15 minutes of Unix time too.
        walls = (
            (t, int((datetime.fromtimestamp(t, tz).replace(tzinfo=None) - epoch).total_seconds())) for t in range(lo, int(end) + 1, 900)
        )
        every = [float(t) for t, wall in walls if wall % width == 0]
        expected = [t for t in every if t <= end][[t <= start for t in every].count(True) - 1 :]
        assert boundaries(start, end, width, tz).tolist() == expected, (zone, ds, a)


def test_every_split_gives_the_same_result_as_unsplit() -> None:
    rng = np.random.default_rng(7)
    times = np.sort(rng.uniform(0, 4 * 3600, 40)).tolist()
    values = rng.normal(20, 5, 40).round(3).tolist()
    frame = pd.DataFrame({"time": times, "value": values})
    frame["bucket"] = (frame["time"] // 3600) * 3600
    grouped = frame.groupby("bucket")["value"]
    expected = {
        "avg": grouped.mean(),
        "max": grouped.max(),
        "min": grouped.min(),
        "sum": grouped.sum(),
        "stddev": grouped.std(),
        "variance": grouped.var(),
    }
    whole = readings(times, values)
    for dsf in DSF_FUNCTIONS:
        want = expected[dsf]
        for cut in range(len(times) + 1):
            for second in (cut, min(cut + 3, len(times))):
                out = decimate("1h", dsf, [whole.iloc[:cut], whole.iloc[cut:second], whole.iloc[second:]])
                assert out["time"].tolist() == want.index.tolist()
                np.testing.assert_allclose(out["value"].to_numpy(), want.to_numpy(), rtol=1e-12, err_msg=f"{dsf} cut {cut}")


def test_feed_emits_buckets_as_soon_as_a_later_one_starts() -> None:
    decimator = Decimator("1h", "sum", UTC)
    first = decimator.feed(readings([0, 3600, 3700], [1, 2, 3]))
    assert buckets(first) == [(0.0, 1.0)]
    second = decimator.feed(readings([3800], [4]))
    assert len(second) == 0
    third = decimator.feed(readings([7200, 7300], [5, 6]))
    assert buckets(third) == [(3600.0, 9.0)]
    assert buckets(decimator.finish()) == [(7200.0, 11.0)]
    assert len(decimator.finish()) == 0


def test_descending_readings_are_an_error() -> None:
    decimator = Decimator("1h", "sum", UTC)
    with pytest.raises(ValueError, match="ascending"):
        decimator.feed(readings([10, 5], [1, 2]))
    decimator.feed(readings([7200], [1]))
    with pytest.raises(ValueError, match="ascending"):
        decimator.feed(readings([10], [1]))


def test_1d_in_rome_over_the_23_hour_spring_day() -> None:
    # 2026-03-29 in Rome runs from 00:00+01:00 (2026-03-28T23:00Z) to 00:00+02:00 (2026-03-29T22:00Z).
    times = [
        utc("2026-03-28T22:59"),  # 23:59+01:00 on the 28th
        utc("2026-03-28T23:00"),  # 00:00+01:00 on the 29th
        utc("2026-03-29T21:59"),  # 23:59+02:00 on the 29th
        utc("2026-03-29T22:00"),  # 00:00+02:00 on the 30th
    ]
    out = decimate("1d", "sum", [readings(times, [1, 2, 4, 8])], ROME)
    assert buckets(out) == [(utc("2026-03-27T23:00"), 1.0), (utc("2026-03-28T23:00"), 6.0), (utc("2026-03-29T22:00"), 8.0)]
    assert out["time"][2] - out["time"][1] == 23 * 3600


def test_1d_in_rome_over_the_25_hour_autumn_day() -> None:
    # 2026-10-25 in Rome runs from 00:00+02:00 (2026-10-24T22:00Z) to 00:00+01:00 (2026-10-25T23:00Z).
    times = [utc("2026-10-24T22:00"), utc("2026-10-25T00:30"), utc("2026-10-25T01:30"), utc("2026-10-25T22:59"), utc("2026-10-25T23:00")]
    out = decimate("1d", "sum", [readings(times, [1, 2, 4, 8, 16])], ROME)
    assert buckets(out) == [(utc("2026-10-24T22:00"), 15.0), (utc("2026-10-25T23:00"), 16.0)]
    assert out["time"][1] - out["time"][0] == 25 * 3600


def test_1w_starts_on_monday_local_midnight() -> None:
    # Sunday 2026-03-29 23:59+02:00 is still the week of Monday 2026-03-23 (00:00+01:00 = 22T23:00Z);
    # Monday 2026-03-30 00:00+02:00 = 2026-03-29T22:00Z starts the next week.
    times = [utc("2026-03-22T23:00"), utc("2026-03-29T21:59"), utc("2026-03-29T22:00")]
    out = decimate("1w", "sum", [readings(times, [1, 2, 4])], ROME)
    assert buckets(out) == [(utc("2026-03-22T23:00"), 3.0), (utc("2026-03-29T22:00"), 4.0)]


def test_1m_starts_on_the_first_of_the_month_local() -> None:
    # 1 April 2026 00:00+02:00 = 2026-03-31T22:00Z; 1 March 00:00+01:00 = 2026-02-28T23:00Z.
    times = [utc("2026-02-28T22:59"), utc("2026-02-28T23:00"), utc("2026-03-31T21:59"), utc("2026-03-31T22:00")]
    out = decimate("1M", "sum", [readings(times, [1, 2, 4, 8])], ROME)
    assert buckets(out) == [(utc("2026-01-31T23:00"), 1.0), (utc("2026-02-28T23:00"), 6.0), (utc("2026-03-31T22:00"), 8.0)]


def test_1y_starts_on_the_first_of_january_local() -> None:
    out = decimate("1y", "sum", [readings([utc("2025-12-31T22:59"), utc("2025-12-31T23:00")], [1, 2])], ROME)
    assert buckets(out) == [(utc("2024-12-31T23:00"), 1.0), (utc("2025-12-31T23:00"), 2.0)]


@pytest.mark.parametrize(
    ("ds", "when", "start"),
    [
        # 2026-03-29 is day 20541 since 1970-01-01: `2d` buckets start on even days, so 2026-03-28.
        ("2d", "2026-03-29T12:00", "2026-03-28T00:00"),
        ("2d", "2026-03-30T00:00", "2026-03-30T00:00"),
        # Monday 2026-03-23 is week 2933 since Monday 1970-01-05: `2w` buckets start on even weeks.
        ("2w", "2026-03-25T00:00", "2026-03-16T00:00"),
        ("2w", "2026-03-30T00:00", "2026-03-30T00:00"),
        ("3M", "2026-05-15T00:00", "2026-04-01T00:00"),
        ("3M", "2026-12-31T23:59", "2026-10-01T00:00"),
        ("10y", "2026-06-01T00:00", "2020-01-01T00:00"),
        ("3y", "2026-06-01T00:00", "2025-01-01T00:00"),
    ],
)
def test_multi_unit_calendar_anchors(ds: str, when: str, start: str) -> None:
    out = decimate(ds, "sum", [readings([utc(when)], [1])])
    assert buckets(out) == [(utc(start), 1.0)]


def test_a_missing_local_midnight_starts_the_day_at_the_first_instant() -> None:
    # Sao Paulo, 2018-11-04: clocks jumped from 00:00-03:00 to 01:00-02:00 (= 03:00Z).
    sao_paulo = ZoneInfo("America/Sao_Paulo")
    times = [utc("2018-11-04T02:59"), utc("2018-11-04T03:00"), utc("2018-11-04T03:30")]
    out = decimate("1d", "sum", [readings(times, [1, 2, 4])], sao_paulo)
    assert buckets(out) == [(utc("2018-11-03T03:00"), 1.0), (utc("2018-11-04T03:00"), 6.0)]


def test_a_midnight_skipped_by_a_change_of_less_than_an_hour_starts_the_day_at_the_change() -> None:
    # Kathmandu, 1986-01-01: +05:30 became +05:45 at midnight, so 00:00-00:15 never happened and
    # the day began at 00:15 (1985-12-31T18:30Z). (pandas' shift_forward moves it an hour, to 01:00.)
    kathmandu = ZoneInfo("Asia/Kathmandu")
    times = [utc("1985-12-31T18:29"), utc("1985-12-31T18:30"), utc("1985-12-31T19:10")]
    out = decimate("1d", "sum", [readings(times, [1, 2, 4])], kathmandu)
    assert buckets(out) == [(utc("1985-12-30T18:30"), 1.0), (utc("1985-12-31T18:30"), 6.0)]


def test_a_skipped_day_has_no_bucket_and_the_next_starts_at_the_change() -> None:
    # Apia skipped 2011-12-30: 2011-12-29T23:59:59-10:00 was followed by 2011-12-31T00:00+14:00 (10:00Z).
    apia = ZoneInfo("Pacific/Apia")
    times = [utc("2011-12-30T09:59"), utc("2011-12-30T10:00"), utc("2011-12-30T10:30")]
    out = decimate("1d", "sum", [readings(times, [1, 2, 4])], apia)
    assert buckets(out) == [(utc("2011-12-29T10:00"), 1.0), (utc("2011-12-30T10:00"), 6.0)]


def test_a_repeated_local_midnight_starts_the_day_at_the_earliest() -> None:
    # Havana, 2025-11-02: 01:00-04:00 fell back to 00:00-05:00, so 00:00-01:00 happened twice;
    # the day starts at the first 00:00 (04:00Z) and lasts 25 hours.
    havana = ZoneInfo("America/Havana")
    times = [utc("2025-11-02T03:59"), utc("2025-11-02T04:30"), utc("2025-11-02T05:30"), utc("2025-11-03T05:00")]
    out = decimate("1d", "sum", [readings(times, [1, 2, 4, 8])], havana)
    assert buckets(out) == [(utc("2025-11-01T04:00"), 1.0), (utc("2025-11-02T04:00"), 6.0), (utc("2025-11-03T05:00"), 8.0)]


def test_calendar_buckets_split_over_chunks_match_unsplit() -> None:
    times = [utc(f"2026-03-{d:02d}T{h:02d}:00") for d in range(27, 32) for h in (0, 12, 22, 23)]
    values = [float(i % 5) for i in range(len(times))]
    frame = readings(times, values)
    whole = decimate("1d", "variance", [frame], ROME)
    for cut in range(len(times) + 1):
        split = decimate("1d", "variance", [frame.iloc[:cut], frame.iloc[cut:]], ROME)
        assert split["time"].tolist() == whole["time"].tolist()
        np.testing.assert_allclose(split["value"].to_numpy(), whole["value"].to_numpy(), rtol=1e-12)


def exact_variance(values: list[float]) -> Fraction:
    """The sample variance of the floats exactly, in rational arithmetic."""
    exact = [Fraction(v) for v in values]
    mean = sum(exact, Fraction(0)) / len(exact)
    return sum(((x - mean) ** 2 for x in exact), Fraction(0)) / (len(exact) - 1)


def test_variance_at_a_large_mean_is_exact_to_1e_10_under_any_chunking() -> None:
    rng = np.random.default_rng(12)
    n = 100_000
    values = (1e12 + rng.standard_normal(n)).tolist()
    times = list(range(n))
    expected = exact_variance(values)
    sizes = {
        "whole": [n],
        "halves": [n // 2, n - n // 2],
        "random": rng.integers(1, 9_000, size=n).tolist(),
        "ones then big": [1] * 500 + [n],
    }
    for name, pattern in sizes.items():
        chunks, start = [], 0
        for size in pattern:
            if start >= n:
                break
            chunks.append(readings(times[start : start + size], values[start : start + size]))
            start += size
        for dsf in ("variance", "stddev"):
            got = decimate("1M", dsf, chunks)["value"].tolist()
            assert len(got) == 1
            want = math.sqrt(expected) if dsf == "stddev" else float(expected)
            assert abs(got[0] - want) <= 1e-10 * want, (name, dsf, got[0], want)
