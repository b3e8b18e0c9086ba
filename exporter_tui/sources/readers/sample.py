"""What a page of readings says about the targets in it: the readers API cannot list targets,
so a browser looks at a channel's newest readings instead and says it is a sample."""

from __future__ import annotations

import pandas as pd

from exporter_tui.sources.base import TargetInfo


def targets_in(frame: pd.DataFrame, channel: str) -> list[TargetInfo]:
    """One TargetInfo per (subtopic, name) of `frame` (READING_COLUMNS, times in seconds): the unit of
    its newest reading, its first and last time and its count, all within the frame; sorted by subtopic, name."""
    found: dict[tuple[str, str], list[float]] = {}  # key -> [first, last, count]
    units: dict[tuple[str, str], str | None] = {}
    for subtopic, name, unit, time in zip(frame["subtopic"], frame["name"], frame["unit"], frame["time"]):
        key = (subtopic if isinstance(subtopic, str) else "", name if isinstance(name, str) else "")  # absent: None or NaN
        seen = found.get(key)
        if seen is None:
            found[key] = [time, time, 1]
            units[key] = unit if isinstance(unit, str) else None
            continue
        if time > seen[1]:
            units[key] = unit if isinstance(unit, str) else None
        seen[0], seen[1], seen[2] = min(seen[0], time), max(seen[1], time), seen[2] + 1
    return [
        TargetInfo(channel, sub, name, units[(sub, name)], first, last, int(n)) for (sub, name), (first, last, n) in sorted(found.items())
    ]
