"""How picked targets become items: one per channel/subtopic pair, within target.value's cap, with short distinct labels."""

from __future__ import annotations

from exporter_tui.core.models import TARGET_VALUE_MAX
from exporter_tui.core.validation import parse_request
from exporter_tui.tui.target_picks import plan_items, short_labels


def test_labels_are_the_shortest_tail_that_tells_a_name_apart() -> None:
    names = ["urn:a:D1:temperature", "urn:a:D2:temperature", "urn:a:D1:humidity", "plain"]
    assert short_labels(names) == ["D1:temperature", "D2:temperature", "humidity", "plain"]
    assert short_labels(["x", "a:x"]) == ["x", "a:x"]


def test_picks_group_by_pair_in_order_and_split_at_the_cap() -> None:
    picks = [("c1", "s", "a" * 10), ("c2", "s", "z"), ("c1", "s", "b" * 10), ("c1", "s", "c" * 10), ("c1", "s", "a" * 10)]
    fills, left_out = plan_items(picks, cap=21)
    assert [(f.channel, f.subtopic, f.names) for f in fills] == [
        ("c1", "s", ["a" * 10, "b" * 10]),  # 21 characters with the comma: exactly the cap
        ("c1", "s", ["c" * 10]),
        ("c2", "s", ["z"]),
    ]
    assert left_out == []


def test_names_that_cannot_be_listed_are_left_out_saying_why() -> None:
    fills, left_out = plan_items([("c", "s", "a,b"), ("c", "s", "x" * 30), ("c", "s", "ok")], cap=20)
    assert [f.names for f in fills] == [["ok"]]
    assert left_out[0] == "a,b: holds a comma, which separates the names of target.value"
    assert "longer than target.value's 20 characters" in left_out[1]


def test_every_planned_item_is_valid_at_the_real_cap() -> None:
    names = [f"urn:example:{i:04}:{'m' * 60}:flow" for i in range(200)]
    fills, _ = plan_items([("ch", "sub", n) for n in names])
    assert [n for f in fills for n in f.names] == names
    assert len(fills) == 5  # 200 names of 82 characters: 16,599 with the commas
    for fill, after in zip(fills, fills[1:]):
        assert len(fill.value) + 1 + len(after.names[0]) > TARGET_VALUE_MAX  # each item as full as it can be
    for fill in fills:
        assert len(fill.value) <= TARGET_VALUE_MAX and len(fill.label) <= TARGET_VALUE_MAX
        body = {
            "type": "oneTime",
            "format": {"extension": "csv"},
            "items": [
                {
                    "params": {
                        "target": {"value": fill.value, "label": fill.label},
                        "channelId": fill.channel,
                        "subtopic": fill.subtopic,
                        "outputFormat": "wide",
                        "period": "P1D",
                    }
                }
            ],
        }
        assert parse_request(body).items[0].params.target.labels() == fill.labels
