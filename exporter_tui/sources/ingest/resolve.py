"""Records to readings: SenML base fields resolved (RFC 8428 section 4.6), every field checked,
the envelope (channel, subtopic, publisher) filled from the options where a record has none.

Each record that fails a check is refused with every reason found; the rest become one
frame of READING_COLUMNS. Everything is done on whole columns (see columns.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from exporter_tui.core.fields import MAX_TIMESTAMP, MIN_TIMESTAMP
from exporter_tui.sources.base import READING_COLUMNS
from exporter_tui.sources.ingest.columns import Column, Problems, TextCheck, bools, numbers, texts, version
from exporter_tui.sources.ingest.labels import SUM_FIELD, VALUE_FIELDS, Kind
from exporter_tui.sources.ingest.refusals import Refusal

SENML_VERSION = 10
# RFC 8428 section 4.5.3: a time below 2**28 is relative to the time the pack is received.
RELATIVE_BELOW = 2.0**28
# RFC 8428 section 4.5.1: the characters of a (resolved) name, the first a letter or digit.
_SENML_NAME = re.compile(r"[A-Za-z0-9][-A-Za-z0-9:./_]*")


@dataclass(frozen=True)
class Defaults:
    """What the command line gives for what a record lacks. `relative_to` places SenML times
    that are relative (below 2**28, or none at all); None refuses them."""

    channel: str | None = None
    subtopic: str | None = None
    publisher: str | None = None
    relative_to: float | None = None


@dataclass
class Records:
    """A batch of records of one kind, as columns (canonical field -> raw values)."""

    kind: Kind
    size: int
    columns: dict[str, Column]
    seq: np.ndarray  # each record's ordinal in the file, for the order of refusals
    where: Callable[[int], str]  # how an error names row i: "line 12", "[3]"
    problems: Problems  # what the reader already found (a must-understand field, ...)
    # SenML: True where a record starts a pack, so its base fields start afresh; None: every record does.
    pack_start: np.ndarray | None = None


@dataclass(frozen=True)
class Base:
    """A base field in force: its value, whether it is valid, whether one was given at all, where."""

    value: Any
    ok: bool = True
    given: bool = False
    where: str | None = None


@dataclass
class PackState:
    """The base fields in force at the end of a batch, for a pack that goes on in the next one."""

    bases: dict[str, Base] = field(
        default_factory=lambda: {"bn": Base(""), "bt": Base(0.0), "bu": Base(None), "bv": Base(0.0), "bs": Base(0.0)}
    )


@dataclass
class Resolved:
    frame: pd.DataFrame
    refused: list[Refusal]


def resolve(records: Records, defaults: Defaults, state: PackState | None = None) -> Resolved:
    """The readings of a batch and the records refused; `state` (SenML) carries base fields across batches."""
    p = records.problems
    if records.kind == "senml":
        data = _senml(records, defaults, state or PackState())
    else:
        data = _message(records, defaults)
    data.update(_envelope(records, defaults))
    if p.reasons:
        keep = ~p.bad()
        data = {c: values[keep] for c, values in data.items()}
    frame = _frame(data, records.size - len(p.reasons))
    refused = [Refusal(int(records.seq[row]), records.where(row), "; ".join(reasons)) for row, reasons in sorted(p.reasons.items())]
    return Resolved(frame, refused)


def _frame(data: dict[str, np.ndarray], size: int) -> pd.DataFrame:
    """READING_COLUMNS as built; text stays object (pandas would infer its string dtype, which the writer turns back)."""
    columns: dict[str, Any] = {}
    for c in READING_COLUMNS:
        values = data.get(c)
        if values is None:
            values = np.empty(size, dtype=object)  # None-filled
        columns[c] = pd.Series(values, dtype=object, copy=False) if values.dtype == object else values
    return pd.DataFrame(columns, copy=False)


def _senml(r: Records, defaults: Defaults, state: PackState) -> dict[str, np.ndarray]:
    n, p, col = r.size, r.problems, r.columns.get
    starts = r.pack_start if r.pack_start is not None else np.ones(n, dtype=bool)
    sticky = _Sticky(r, starts, state)

    bn = sticky.text("bn", check="none")  # checked joined to n, as the name
    bu = sticky.text("bu", check="label")
    bt = sticky.number("bt")
    bv = sticky.number("bv")
    bs = sticky.number("bs")
    version(col("bver"), n, p, SENML_VERSION)

    names, n_given = texts(col("n"), n, p, check="none")
    units, u_given = texts(col("u"), n, p, check="label")
    t, t_given = numbers(col("t"), n, p)
    v, v_given = numbers(col("v"), n, p)
    s, s_given = numbers(col("s"), n, p)
    ut, _ = numbers(col("ut"), n, p)
    vs, vs_given = texts(col("vs"), n, p)
    vd, vd_given = texts(col("vd"), n, p)
    vb, vb_given = bools(col("vb"), n, p)

    bn.refuse_inherited(np.ones(n, dtype=bool))
    bt.refuse_inherited(np.ones(n, dtype=bool))
    bu.refuse_inherited(~u_given)
    bv.refuse_inherited(v_given)
    bs.refuse_inherited(s_given)

    name_ok = bn.ok & ((names != None) | ~n_given)  # noqa: E711  (elementwise; a bad 'n' is refused already)
    resolved_names = _joined(bn, np.where(n_given, names, ""), p, name_ok)

    time = bt.values + np.where(t_given, t, 0.0)  # NaN where t or bt is not valid (already refused)
    time_ok = ~np.isnan(time)
    relative = time_ok & (time < RELATIVE_BELOW)
    if defaults.relative_to is not None:
        time = np.where(relative, time + defaults.relative_to, time)
    elif relative.any():
        none = relative & ~t_given & ~bt.given
        p.add_rows(
            none,
            "has no time ('t' or a base time 'bt'): SenML takes that as the time it is received, "
            "which a file does not tell; give --relative-to WHEN",
        )
        p.add_rows(
            relative & ~none,
            lambda i: (
                f"time {time[i]:.15g} ('bt' + 't') is below 2**28, a time relative to now in SenML: "
                "give absolute Unix seconds, or --relative-to WHEN"
            ),
        )
    _check_plausible(time, time_ok, "time {} ('bt' + 't')", p, senml=True)

    _one_value(r.kind, {"v": v_given, "vs": vs_given, "vb": vb_given, "vd": vd_given}, s_given, p)
    return {
        "name": resolved_names,
        "unit": np.where(u_given, units, bu.values),
        "time": time,
        "value": v + bv.values,
        "string_value": vs,
        "bool_value": vb,
        "data_value": vd,
        "sum": s + bs.values,
        "update_time": ut,
    }


def _message(r: Records, defaults: Defaults) -> dict[str, np.ndarray]:
    n, p, col = r.size, r.problems, r.columns.get
    names, n_given = texts(col("name"), n, p, check="label")
    p.add_rows(~n_given | (names == ""), "has no 'name'")
    units, _ = texts(col("unit"), n, p, check="label")
    time, t_given = numbers(col("time"), n, p)
    p.add_rows(~t_given, "has no 'time'")
    _check_plausible(time, ~np.isnan(time), "'time' {}", p, senml=False)
    value, v_given = numbers(col("value"), n, p)
    total, sum_given = numbers(col("sum"), n, p)
    update, _ = numbers(col("update_time"), n, p)
    string, s_given = texts(col("string_value"), n, p)
    data, d_given = texts(col("data_value"), n, p)
    flag, b_given = bools(col("bool_value"), n, p)
    _one_value(r.kind, {"value": v_given, "string_value": s_given, "bool_value": b_given, "data_value": d_given}, sum_given, p)
    return {
        "name": names,
        "unit": units,
        "time": time,
        "value": value,
        "string_value": string,
        "bool_value": flag,
        "data_value": data,
        "sum": total,
        "update_time": update,
    }


class _Sticky:
    """RFC 8428 base fields: one applies to its record and every later record of the pack
    until another record gives that base field again."""

    def __init__(self, r: Records, starts: np.ndarray, state: PackState) -> None:
        self.r = r
        self.starts = starts
        self.state = state
        self.rows = np.arange(r.size)

    def text(self, label: str, *, check: TextCheck) -> _Resolution:
        values, given = texts(self.r.columns.get(label), self.r.size, self.r.problems, check=check)
        return self._resolve(label, values, given, given & (values != None))  # noqa: E711

    def number(self, label: str) -> _Resolution:
        values, given = numbers(self.r.columns.get(label), self.r.size, self.r.problems)
        return self._resolve(label, values, given, given & ~np.isnan(values))

    def _resolve(self, label: str, values: np.ndarray, given: np.ndarray, ok: np.ndarray) -> _Resolution:
        carried = self.state.bases[label]
        default = PackState().bases[label].value
        # The record each row takes the field from: its own when given or at a pack start,
        # else the nearest before it; -1 (the carried one, appended last) before any.
        src = np.maximum.accumulate(np.where(given | self.starts, self.rows, -1)) if self.r.size else self.rows
        base = np.where(given, values, default) if values.dtype != object else _object_where(given, values, default)
        ext_values = _append(base, carried.value)
        ext_ok = np.append(ok | ~given, carried.ok)
        ext_given = np.append(given, carried.given)
        if self.r.size and src[-1] >= 0:
            last = int(src[-1])
            self.state.bases[label] = Base(ext_values[last], bool(ext_ok[last]), bool(ext_given[last]), self.r.where(last))
        return _Resolution(self.r, label, ext_values[src], ext_ok[src], ext_given[src], src, carried.where, ext_values)


@dataclass
class _Resolution:
    r: Records
    label: str
    values: np.ndarray
    ok: np.ndarray
    given: np.ndarray
    src: np.ndarray  # the row each row takes the field from; -1: the one carried in
    carried_where: str | None
    by_src: np.ndarray  # the field's value by source row, the carried one last (so index -1 finds it)

    def refuse_inherited(self, matters: np.ndarray) -> None:
        """Rows that take a base field from another record where it is not valid (that record is refused for it)."""
        inherited = matters & ~self.ok & (self.src != np.arange(self.r.size))
        if inherited.any():

            def reason(i: int) -> str:
                src = int(self.src[i])
                at = self.r.where(src) if src >= 0 else self.carried_where
                return f"the base field '{self.label}' in force here (from {at}) is not valid"

            self.r.problems.add_rows(inherited, reason)


def _object_where(mask: np.ndarray, values: np.ndarray, default: Any) -> np.ndarray:
    out = values.copy()
    out[~mask] = default
    return out


def _append(arr: np.ndarray, value: Any) -> np.ndarray:
    out = np.empty(len(arr) + 1, dtype=arr.dtype)
    out[:-1] = arr
    out[-1] = np.nan if value is None and arr.dtype != object else value
    return out


def _joined(bn: _Resolution, names: np.ndarray, p: Problems, check: np.ndarray) -> np.ndarray:
    """bn + n for every row, each distinct pair joined and checked once (a file repeats a few names).
    A prefix or name that is None (not valid: its record is refused already) counts as ''."""
    # The prefix is coded by the record it comes from (few in a pack): factorizing ints is cheap, strings are not.
    # None is coded -1, which picks the '' appended last.
    src_codes, sources = pd.factorize(bn.src)
    source_prefix, prefix_values = pd.factorize(bn.by_src[sources])
    pc = source_prefix[src_codes]
    nc, name_values = pd.factorize(names)
    pu = [*prefix_values, ""]
    nu = [*name_values, ""]
    pc = np.where(pc < 0, len(pu) - 1, pc)
    nc = np.where(nc < 0, len(nu) - 1, nc)
    width = len(nu)
    pair_codes, pairs = pd.factorize(pc.astype(np.int64) * width + nc)
    joined = [pu[x // width] + nu[x % width] for x in pairs]
    reasons = [_senml_name_reason(name) for name in joined]
    if any(reasons):
        bad_pair = np.array([reason is not None for reason in reasons])
        for row in np.flatnonzero(bad_pair[pair_codes] & check):
            p.add(row, str(reasons[pair_codes[row]]))
    return np.array(joined, dtype=object)[pair_codes] if joined else np.empty(0, dtype=object)


def _senml_name_reason(name: str) -> str | None:
    if not name:
        return "has no name: give 'n' or a base name 'bn'"
    if _SENML_NAME.fullmatch(name):
        return None
    return (
        f"the name {name!r} ('bn' + 'n') has a character SenML does not allow in a name "
        "(A-Z a-z 0-9 - : . / _, starting with a letter or a digit)"
    )


def _check_plausible(time: np.ndarray, ok: np.ndarray, what: str, p: Problems, *, senml: bool) -> None:
    """Unix seconds between 1970 and 2200; a bigger number is named for the unit it looks like.
    `what` names the time, with {} for its value."""
    late = ok & (time > MAX_TIMESTAMP)
    if late.any():
        p.add_rows(late, lambda i: what.format(f"{time[i]:.15g}") + f" is after the year 2200{_unit_hint(time[i], senml)}")
    if not senml:
        early = ok & (time < MIN_TIMESTAMP)
        p.add_rows(early, lambda i: what.format(f"{time[i]:.15g}") + " is not plausible Unix seconds: before 1970")


def _unit_hint(t: float, senml: bool) -> str:
    seconds = "SenML times are Unix seconds" if senml else "give Unix seconds"
    for factor, unit in ((1e3, "milliseconds"), (1e6, "microseconds"), (1e9, "nanoseconds")):
        if t < MAX_TIMESTAMP * factor:
            return f" (it looks like {unit}; {seconds})"
    return ""


def _one_value(kind: Kind, given: dict[str, np.ndarray], sum_given: np.ndarray, p: Problems) -> None:
    """Exactly one of the value fields, or none and a sum (RFC 8428 section 4.2)."""
    count = np.sum([g.astype(np.int8) for g in given.values()], axis=0)
    fields = VALUE_FIELDS[kind]
    many = count > 1
    if many.any():
        p.add_rows(
            many,
            lambda i: (
                f"has more than one value ({', '.join(f for f in fields if given[f][i])}): a reading carries one of {', '.join(fields)}"
            ),
        )
    p.add_rows((count == 0) & ~sum_given, f"has no value: give one of {', '.join(fields)} (or only a sum '{SUM_FIELD[kind]}')")


def _envelope(r: Records, defaults: Defaults) -> dict[str, np.ndarray]:
    """channel, subtopic, publisher, protocol: the record's own where it has one, else the option's."""
    out: dict[str, np.ndarray] = {}
    for label, default, required in (
        ("channel", defaults.channel, True),
        ("subtopic", defaults.subtopic, True),
        ("publisher", defaults.publisher or "", False),
        ("protocol", None, False),
    ):
        col = r.columns.get(label)
        if col is None:  # the common case: the file has none of it
            out[label] = np.empty(r.size, dtype=object)
            if default is not None:
                out[label].fill(default)  # one shared object
            elif required:
                r.problems.add_rows(np.ones(r.size, dtype=bool), _missing(label))
            continue
        values, given = texts(col, r.size, r.problems, check="label")
        given &= values != ""
        if default is not None:
            values = _object_where(given, values, default) if not given.all() else values
        elif required:
            r.problems.add_rows(~given, _missing(label))
        out[label] = values
    return out


def _missing(label: str) -> str:
    hint = {"channel": "--channel ID", "subtopic": "--subtopic NAME"}[label]
    return f"has no {label} (give {hint} or a '{label}' field)"
