"""How the targets picked in the source browser become items of the form.

One item per (channel, subtopic) pair, in the order picked; an item's names, joined by commas,
stay within `target.value`'s length cap, and the names that do not fit go to further items of
the same pair. Each name is labelled by the shortest tail of it (cut at a ':' or '/') that tells
it apart from the other names of its item, so `urn:...:D0CF...:temperature` reads `temperature`
alone and `D0CF...:temperature` beside another device's temperature.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from exporter_tui.core.models import TARGET_VALUE_MAX

Pick = tuple[str, str, str]  # channel, subtopic, name
_SEPARATORS = ":/"


@dataclass(frozen=True)
class ItemFill:
    """What one item gets: its channel, subtopic, names and their labels."""

    channel: str
    subtopic: str
    names: list[str]
    labels: list[str]

    @property
    def value(self) -> str:
        return ",".join(self.names)

    @property
    def label(self) -> str:
        return ",".join(self.labels)


def plan_items(picks: Iterable[Pick], cap: int = TARGET_VALUE_MAX) -> tuple[list[ItemFill], list[str]]:
    """The items the picks make, and the names left out with the reason (a comma, or longer than the cap)."""
    groups: dict[tuple[str, str], list[str]] = {}
    left_out: list[str] = []
    for channel, subtopic, name in picks:
        if "," in name:
            left_out.append(f"{name}: holds a comma, which separates the names of target.value")
        elif len(name) > cap:
            left_out.append(f"{name[:40]}...: longer than target.value's {cap} characters")
        elif name not in (names := groups.setdefault((channel, subtopic), [])):
            names.append(name)
    fills: list[ItemFill] = []
    for (channel, subtopic), names in groups.items():
        for chunk in _chunks(names, cap):
            fills.append(ItemFill(channel, subtopic, chunk, short_labels(chunk)))
    return fills, left_out


def _chunks(names: list[str], cap: int) -> list[list[str]]:
    """Consecutive runs of names whose comma-joined length is at most `cap` (each name fits alone)."""
    out: list[list[str]] = [[]]
    length = -1  # the first name needs no comma
    for name in names:
        if out[-1] and length + 1 + len(name) > cap:
            out.append([])
            length = -1
        out[-1].append(name)
        length += 1 + len(name)
    return out if out[0] else []


def _tails(name: str) -> list[str]:
    """The non-empty tails of `name` cut at a separator, shortest first, the whole name last."""
    tails = [name[i + 1 :] for i in range(len(name) - 1, -1, -1) if name[i] in _SEPARATORS and name[i + 1 :]]
    return [*tails, name]


def short_labels(names: list[str]) -> list[str]:
    """For each name, its shortest tail that no other name of the list is labelled with (the whole
    name when it takes that): a tail shared by several names grows on each of them until it is not."""
    tails = [_tails(n) for n in names]
    depth = [0] * len(names)
    while True:
        labels = [t[d] for t, d in zip(tails, depth)]
        seen: dict[str, list[int]] = {}
        for i, label in enumerate(labels):
            seen.setdefault(label, []).append(i)
        grow = [i for same in seen.values() if len(same) > 1 for i in same if depth[i] < len(tails[i]) - 1]
        if not grow:
            return labels
        for i in grow:
            depth[i] += 1


def picks_of(channel: str, subtopic: str, value: str) -> list[Pick]:
    """The picks an item already holds (shown selected when the browser opens from it)."""
    return [(channel, subtopic, n.strip()) for n in value.split(",") if n.strip()] if channel else []
