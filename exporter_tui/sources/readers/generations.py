"""The generations of the readers service, and the units their times come in.

| `api`             | servers                                   | `time`, `from`, `to` | server aggregation |
| ----------------- | ----------------------------------------- | -------------------- | ------------------ |
| `mainflux`        | Mainflux up to 0.12                       | float seconds        | no                 |
| `magistrala-0.14` | Mainflux 0.13, Magistrala 0.11 to 0.14    | float seconds        | no                 |
| `magistrala`      | Magistrala 0.15, 0.16, HEAD, SuperMQ      | integer nanoseconds  | Timescale reader   |

The path (with or without a domain) and the auth scheme are settings of their own
(`domain`, `auth`): they changed at other versions than the unit did.

Every generation parses `from` and `to` as float64 and compares `time` with them in
float64, nanoseconds included (a BIGINT column is cast). So the paging compares times as
the server does, as floats: nanosecond times are told apart to 256 ns at today's
magnitudes, and a window bound is exact to that much.

A time's magnitude tells the unit apart with a wide margin: 1e13 seconds is the year
318,000, and 1e13 nanoseconds is under three hours after 1970.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
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

    @property
    def unit(self) -> str:
        return "nanoseconds" if self.nanoseconds else "float seconds"

    def to_server(self, t: float) -> float:
        """A window bound in the server's unit, as the float64 it compares in."""
        if not self.nanoseconds:
            return float(t)
        return float(math.ceil(Fraction(t) * 1_000_000_000))

    def to_seconds(self, t: float | int) -> float:
        if self.nanoseconds:
            return t / 1_000_000_000 if isinstance(t, int) else t / 1e9  # int / int is correctly rounded
        return float(t)

    @staticmethod
    def after(t: float) -> float:
        """The smallest server time above t: [t, after(t)) holds exactly the readings at t."""
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
