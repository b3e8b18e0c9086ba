"""The generations of the readers service, and the units their times come in.

| `api`             | servers                                   | `time`, `from`, `to` | server aggregation |
| ----------------- | ----------------------------------------- | -------------------- | ------------------ |
| `mainflux`        | Mainflux up to 0.12                       | float seconds        | no                 |
| `magistrala-0.14` | Mainflux 0.13, Magistrala 0.11 to 0.14    | float seconds        | no                 |
| `magistrala`      | Magistrala 0.15, 0.16, HEAD, SuperMQ      | integer nanoseconds  | Timescale reader   |

The path (with or without a domain) and the auth scheme are settings of their own
(`domain`, `auth`): they changed at other versions than the unit did.

Every generation parses `from` and `to` as float64. The postgres reader compares them with
its `time FLOAT` as floats. The Timescale readers keep `time BIGINT`, and pgx hands the
float64 to it truncated toward zero (`int64(f)`): in nanoseconds (0.15 on) every bound sent
is a whole number, so that changes nothing, and the paging compares times as floats, told
apart to 256 ns at today's magnitudes. Up to 0.14 the Timescale reader stores float seconds
in that BIGINT, so its times are whole seconds and a bound of 12.5 is served as 12: read as
floats, [10, 12.5) would miss the readings at 12, and [12, nextafter(12)) would be empty.
`whole()` is the generation for such a server (the source probes for it, source.py): bounds
rounded up to whole seconds, which on whole-second times select exactly the same readings.

A time's magnitude tells the unit apart with a wide margin: 1e13 seconds is the year
318,000, and 1e13 nanoseconds is under three hours after 1970.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

ORIGIN = 946_857_600  # 2000-01-03 00:00:00 UTC: time_bucket's default origin, where an aggregating reader's buckets start

NANOS_FROM = 1e13  # a time at least this large is in nanoseconds
_VERSION = re.compile(r"v?(\d+)\.(\d+)")


@dataclass(frozen=True, slots=True)
class Generation:
    api: str  # the `api` setting it answers to
    nanoseconds: bool
    aggregation: bool  # the server may aggregate (only its Timescale reader does)
    whole_seconds: bool = False  # float seconds compared as whole ones (see the module's docstring)

    @property
    def unit(self) -> str:
        return "nanoseconds" if self.nanoseconds else "whole seconds" if self.whole_seconds else "float seconds"

    def whole(self) -> Generation:
        return replace(self, whole_seconds=True)

    def to_server(self, t: float) -> float:
        """A window bound in the server's unit, as the float64 it compares in."""
        if self.whole_seconds:
            return float(math.ceil(t))
        if not self.nanoseconds:
            return float(t)
        return float(math.ceil(Fraction(t) * 1_000_000_000))

    def up(self, t: float) -> float:
        """The bound nearest above or at a server time `t` that the server compares exactly."""
        return float(math.ceil(t)) if self.whole_seconds else t

    def to_seconds(self, t: float | int) -> float:
        if self.nanoseconds:
            return t / 1_000_000_000 if isinstance(t, int) else t / 1e9  # int / int is correctly rounded
        return float(t)

    def after(self, t: float) -> float:
        """The smallest server time above t: [t, after(t)) holds exactly the readings at t."""
        if self.whole_seconds:
            return float(math.floor(t)) + 1.0
        return math.nextafter(float(t), math.inf)

    def param(self, t: float) -> str:
        """A bound as the query string carries it: exactly the float64 `t`, without an exponent."""
        if self.nanoseconds and t.is_integer():
            return str(int(t))
        return repr(float(t))

    def agrees_with(self, t: float | int) -> bool:
        return (abs(t) >= NANOS_FROM) == self.nanoseconds


GENERATIONS: dict[str, Generation] = {
    "mainflux": Generation("mainflux", nanoseconds=False, aggregation=False),
    "magistrala-0.14": Generation("magistrala-0.14", nanoseconds=False, aggregation=False),
    "magistrala": Generation("magistrala", nanoseconds=True, aggregation=True),
}


def by_magnitude(t: float | int) -> Generation:
    """The generation a returned time's magnitude points to (seconds: the 0.14 line)."""
    return GENERATIONS["magistrala" if abs(t) >= NANOS_FROM else "magistrala-0.14"]


def by_version(body: Any) -> tuple[Generation, str] | None:
    """The generation a `/health` or `/version` answer names, and the version it says; None when it names none."""
    if not isinstance(body, dict) or not isinstance(body.get("version"), str):
        return None
    version = body["version"]
    text = " ".join(str(body.get(k, "")) for k in ("description", "service")).lower()
    m = _VERSION.match(version.strip())
    if "supermq" in text:
        return GENERATIONS["magistrala"], version
    if m is None:
        return None
    major, minor = int(m.group(1)), int(m.group(2))
    if major > 0 or minor >= 15:
        return GENERATIONS["magistrala"], version
    return GENERATIONS["mainflux" if minor <= 12 and "magistrala" not in text else "magistrala-0.14"], version
