"""Deterministic demo telemetry for the embedded source.

Every value is a pure function of (device, metric, timestamp): noise comes from a
splitmix64 hash of the integer Unix second mixed with a seed derived from the device and
metric, never from a sequential random generator. Timestamps sit on a grid of
`step_seconds` counted from the Unix epoch, so two generations whose ranges overlap write
identical readings on the overlap, and re-running a generation replaces rows with
themselves.

Metrics per device (name `urn:cpt:smartdevice:nid:<DEVICE>:<metric>`):
- temperature (`Cel`): a daily curve peaking at 15:00 UTC plus noise, 2 decimals;
- humidity (`%RH`): the mirror curve plus noise, 1 decimal, within 5..98;
- energy (`kWh`): a meter counter, the closed-form integral of a power curve (always
  positive, evening peak) since the last counter reset, 3 decimals. The counter resets to
  zero once every 30 days (counted from the epoch) at 12:30:30 UTC on a device-specific
  day of that cycle (`energy_reset_offset`). Any 30-day window starting on a whole hour
  therefore holds exactly one reset, and as 12:30:30 is never a window edge, a reading
  before and after it, so the series shows exactly one drop. Only energy readings carry
  `update_time`: the reading time plus a deterministic 0.5-3 s delay;
- onoff: `bool_value` only (value NULL, no unit), switching in 15-minute blocks.
"""

from __future__ import annotations

import hashlib
import math
import time as clock
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from exporter_tui.sources.embedded import ReadingsWriter

DEMO_CHANNEL = "0115c85d-ef3e-4de9-9732-d0c5c4f2c482"
DEMO_CHANNEL_B = "9b2e4c71-3f6a-4d8e-a1c5-7e0d2b9f4a36"
DEMO_SUBTOPIC = "events.data"
DEMO_DEVICE = "D0CF5EFFFE26FDAB1"
DEMO_PROTOCOL = "mqtt"
# (channel, device) pairs: three devices on the main channel, two on the second.
DEMO_DEVICES: tuple[tuple[str, str], ...] = (
    (DEMO_CHANNEL, DEMO_DEVICE),
    (DEMO_CHANNEL, "D0CF5EFFFE26FDAC7"),
    (DEMO_CHANNEL, "D0CF5EFFFE26FDAD3"),
    (DEMO_CHANNEL_B, "D0CF5EFFFE27A0F42"),
    (DEMO_CHANNEL_B, "D0CF5EFFFE27A1059"),
)
# metric -> unit
DEMO_METRICS: dict[str, str | None] = {"temperature": "Cel", "humidity": "%RH", "energy": "kWh", "onoff": None}

DAY = 86_400
ENERGY_CYCLE = 30 * DAY
_RESET_TIME_OF_DAY = 12 * 3600 + 30 * 60 + 30
_OMEGA = 2 * math.pi / DAY
_ONOFF_BLOCK = 900


@dataclass(frozen=True)
class DemoStats:
    rows: int
    devices: int
    targets: int
    start: datetime
    end: datetime
    seconds: float


def demo_target(device: str, metric: str) -> str:
    """The reading name of a device's metric."""
    return f"urn:cpt:smartdevice:nid:{device}:{metric}"


def _seed(*parts: str) -> int:
    return int.from_bytes(hashlib.blake2b(":".join(parts).encode(), digest_size=8).digest(), "little")


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser over uint64 (wrapping arithmetic)."""
    z = x + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _uniform(seed: int, x: np.ndarray) -> np.ndarray:
    """Uniform [0, 1) noise that depends only on `seed` and each integer in `x`."""
    h = _splitmix64(_splitmix64(x.astype(np.uint64)) ^ np.uint64(seed))
    return (h >> np.uint64(11)).astype(np.float64) * 2.0**-53


def _device_unit(device: str, what: str) -> float:
    """A fixed number in [0, 1) per device, for its own level or rate."""
    return (_seed(device, what) >> 11) * 2.0**-53


def energy_reset_offset(device: str) -> int:
    """Seconds into each 30-day cycle (from the epoch) at which the device's counter resets."""
    return (_seed(device, "reset-day") % 30) * DAY + _RESET_TIME_OF_DAY


def _daily(t: np.ndarray, peak_seconds: int) -> np.ndarray:
    """cos of the time of day, 1 at `peak_seconds` past midnight UTC (argument kept small)."""
    return np.cos(_OMEGA * ((t - peak_seconds) % DAY))


def _daily_integral(t: np.ndarray, peak_seconds: int) -> np.ndarray:
    """sin of the time of day: `_daily` integrates to this divided by the angular speed."""
    return np.sin(_OMEGA * ((t - peak_seconds) % DAY))


def _temperature(device: str, t: np.ndarray) -> np.ndarray:
    base = 19.0 + 4.0 * _device_unit(device, "temperature")
    noise = _uniform(_seed(device, "temperature", "a"), t) + _uniform(_seed(device, "temperature", "b"), t) - 1.0
    return np.round(base + 3.5 * _daily(t, 15 * 3600) + 0.6 * noise, 2)


def _humidity(device: str, t: np.ndarray) -> np.ndarray:
    base = 45.0 + 15.0 * _device_unit(device, "humidity")
    noise = _uniform(_seed(device, "humidity", "a"), t) + _uniform(_seed(device, "humidity", "b"), t) - 1.0
    return np.round(np.clip(base - 10.0 * _daily(t, 15 * 3600) + 4.0 * noise, 5.0, 98.0), 1)


def _energy(device: str, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(kWh since the last reset, update_time). Power a + b*cos(...) with a > b stays positive."""
    a = 0.3 + 0.9 * _device_unit(device, "power")  # kW
    b = 0.6 * a
    peak = 19 * 3600
    reset = t - (t - energy_reset_offset(device)) % ENERGY_CYCLE
    kwh = (a * (t - reset) + (b / _OMEGA) * (_daily_integral(t, peak) - _daily_integral(reset, peak))) / 3600.0
    delay = 0.5 + np.round(2.5 * _uniform(_seed(device, "energy", "delay"), t), 3)
    return np.round(kwh, 3), t + delay


def _onoff(device: str, t: np.ndarray) -> list[bool]:
    block = t // _ONOFF_BLOCK
    day_time = (block * _ONOFF_BLOCK) % DAY
    chance = np.where((day_time >= 7 * 3600) & (day_time < 22 * 3600), 0.7, 0.15)
    return (_uniform(_seed(device, "onoff"), block) < chance).tolist()


def _columns(device: str, metric: str, t: np.ndarray) -> dict[str, Any]:
    """The varying columns of one target's readings at integer times `t`."""
    if metric == "temperature":
        return {"value": _temperature(device, t)}
    if metric == "humidity":
        return {"value": _humidity(device, t)}
    if metric == "energy":
        kwh, update_time = _energy(device, t)
        return {"value": kwh, "update_time": update_time}
    return {"bool_value": _onoff(device, t)}


def _utc_seconds(end: datetime | None) -> int:
    if end is None:
        return int(clock.time()) // 3600 * 3600
    if end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    return math.floor(end.timestamp())


def generate_demo(
    path: Path,
    days: float = 30,
    end: datetime | None = None,
    reset: bool = False,
    step_seconds: int = 60,
    progress: Callable[[int, int], None] | None = None,
    codec: str = "none",
) -> DemoStats:
    """Write demo readings covering [end - days, end) into the source file at `path`.

    `end` defaults to now rounded down to the hour (UTC; a naive `end` is taken as UTC).
    `reset` empties the source first; otherwise readings are inserted or replaced, so a
    re-run changes nothing. All of it is one transaction. `progress(done, total)` is
    called with row counts after each target; `codec` packs the chunks (see ReadingsWriter).
    """
    if not days > 0:
        raise ValueError("days must be positive")
    if step_seconds < 1:
        raise ValueError("step_seconds must be at least 1")
    began = clock.perf_counter()
    end_s = _utc_seconds(end)
    start_s = end_s - round(days * DAY)
    first = -(-start_s // step_seconds) * step_seconds
    t = np.arange(first, end_s, step_seconds, dtype=np.int64)
    times = t.astype(np.float64)
    total = len(t) * len(DEMO_DEVICES) * len(DEMO_METRICS)
    done = 0
    with ReadingsWriter(path, bulk=True, codec=codec) as writer:
        if reset:
            writer.clear()
        for channel, device in DEMO_DEVICES:
            for metric, unit in DEMO_METRICS.items():
                done += writer.write_target(
                    channel,
                    DEMO_SUBTOPIC,
                    demo_target(device, metric),
                    time=times,
                    publisher=device,
                    protocol=DEMO_PROTOCOL,
                    unit=unit,
                    **_columns(device, metric, t),
                )
                if progress is not None:
                    progress(done, total)
    return DemoStats(
        rows=done,
        devices=len(DEMO_DEVICES),
        targets=len(DEMO_DEVICES) * len(DEMO_METRICS),
        start=datetime.fromtimestamp(start_s, UTC),
        end=datetime.fromtimestamp(end_s, UTC),
        seconds=clock.perf_counter() - began,
    )
