"""Output columns: order, labels, datetimes in the request's zone, value kinds, layouts."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from exporter_tui.pipeline.columns import (
    DEFAULT_COLUMNS,
    Layout,
    long_layout,
    select_columns,
    select_wide_columns,
    wide_layout,
)
from exporter_tui.pipeline.shape import merge_wide
from exporter_tui.sources.base import normalise_frame

ROME = ZoneInfo("Europe/Rome")
T0 = 1774738800.0  # 2026-03-28T23:00:00Z = 2026-03-29T00:00:00+01:00


def chunk() -> pd.DataFrame:
    return normalise_frame(
        pd.DataFrame(
            {
                "channel": ["ch1", "ch1"],
                "subtopic": ["events.data", "events.data"],
                "publisher": ["dev-7", "dev-8"],
                "protocol": ["mqtt", "mqtt"],
                "name": ["temp", "temp"],
                "unit": ["Cel", "Cel"],
                "time": [T0, T0 + 7200.25],
                "value": [21.5, 22.0],
                "update_time": [T0 + 5, None],
            }
        )
    )


def test_order_and_labels_follow_the_spec() -> None:
    spec = [("value", "Reading"), ("publisher", "Device"), ("channel", "Channel"), ("subtopic", "Topic"), ("unit", "U")]
    out = select_columns(chunk(), spec, None, ROME)
    assert out.columns.tolist() == ["Reading", "Device", "Channel", "Topic", "U"]
    assert out.iloc[0].tolist() == [21.5, "dev-7", "ch1", "events.data", "Cel"]
    assert out["Reading"].dtype == np.float64


def test_target_label_replaces_the_name() -> None:
    spec = [("name", "Sensor")]
    assert select_columns(chunk(), spec, "Kitchen temperature", ROME)["Sensor"].tolist() == ["Kitchen temperature"] * 2
    assert select_columns(chunk(), spec, None, ROME)["Sensor"].tolist() == ["temp", "temp"]


def test_time_and_created_are_datetimes_in_the_zone() -> None:
    out = select_columns(chunk(), [("time", "When"), ("created", "Created")], None, ROME)
    assert str(out["When"].dtype.tz) == "Europe/Rome"
    assert out["When"][0].isoformat() == "2026-03-29T00:00:00+01:00"
    # 01:00:00.25Z is just after the spring change (01:00Z): 03:00:00.250+02:00
    assert out["When"][1].isoformat() == "2026-03-29T03:00:00.250000+02:00"
    # created is update_time when present, else time
    assert out["Created"][0].isoformat() == "2026-03-29T00:00:05+01:00"
    assert out["Created"][1] == out["When"][1]
    assert out["When"][0].to_pydatetime() == datetime(2026, 3, 28, 23, 0, tzinfo=UTC)


def test_default_columns() -> None:
    out = select_columns(chunk(), None, None, UTC)
    assert DEFAULT_COLUMNS == [("time", "time"), ("name", "name"), ("value", "value"), ("unit", "unit")]
    assert out.columns.tolist() == ["time", "name", "value", "unit"]
    assert out.iloc[0].tolist()[1:] == ["temp", 21.5, "Cel"]
    assert out["time"][0].isoformat() == "2026-03-28T23:00:00+00:00"


def test_an_empty_label_means_the_id() -> None:
    assert select_columns(chunk(), [("unit", ""), ("value", None)], None, ROME).columns.tolist() == ["unit", "value"]


def test_unknown_column_id_is_rejected() -> None:
    with pytest.raises(ValueError, match="column id 'colour' is not one of"):
        select_columns(chunk(), [("colour", "c")], None, ROME)


def test_value_falls_back_to_bool_then_string_then_data() -> None:
    frame = normalise_frame(
        pd.DataFrame(
            {
                "name": ["a"] * 5,
                "time": [1.0, 2, 3, 4, 5],
                "value": [1.5, None, None, None, None],
                "bool_value": pd.array([True, False, True, None, None], dtype="boolean"),
                "string_value": [None, "s", "t", "u", None],
                "data_value": [None, None, None, "ZGF0YQ==", None],
            }
        )
    )
    cells = select_columns(frame, [("value", "v")], None, ROME)["v"].tolist()
    assert cells[:4] == [1.5, False, True, "u"]
    assert [type(c) for c in cells[:3]] == [float, bool, bool]
    assert cells[4] is None
    frame.loc[3, "string_value"] = None
    assert select_columns(frame, [("value", "v")], None, ROME)["v"][3] == "ZGF0YQ=="


def test_value_stays_float_when_nothing_but_numbers() -> None:
    frame = chunk()
    frame.loc[1, "value"] = np.nan
    out = select_columns(frame, [("value", "v")], None, ROME)
    assert out["v"].dtype == np.float64
    assert np.isnan(out["v"][1])


def test_long_layout_from_the_spec() -> None:
    spec = [("created", "Created"), ("value", "Reading"), ("time", "When"), ("unit", "U")]
    assert long_layout(spec) == Layout(
        headers=["Created", "Reading", "When", "U"], time_headers=frozenset({"Created", "When"}), numeric_headers=("Reading",)
    )
    assert long_layout(None) == Layout(
        headers=["time", "name", "value", "unit"], time_headers=frozenset({"time"}), numeric_headers=("value",)
    )


def test_wide_layout_and_columns() -> None:
    labels = ["Kitchen", "Garage"]
    spec = [("name", "ignored"), ("time", "Timestamp"), ("value", "ignored too")]
    assert wide_layout(spec, labels) == Layout(
        headers=["Timestamp", "Kitchen", "Garage"], time_headers=frozenset({"Timestamp"}), numeric_headers=("Kitchen", "Garage")
    )
    assert wide_layout(None, labels).headers == ["time", "Kitchen", "Garage"]

    kitchen = normalise_frame(pd.DataFrame({"time": [T0, T0 + 60], "value": [20.0, 21.0]}))
    garage = normalise_frame(pd.DataFrame({"time": [T0 + 60], "value": [5.0]}))
    # merge_wide's columns come in the dict's order; the output follows the targets' order.
    frame = pd.concat(merge_wide({"Garage": iter([garage]), "Kitchen": iter([kitchen])}), ignore_index=True)
    out = select_wide_columns(frame, spec, labels, ROME)
    assert out.columns.tolist() == ["Timestamp", "Kitchen", "Garage"]
    assert out["Timestamp"][1].isoformat() == "2026-03-29T00:01:00+01:00"
    assert out["Kitchen"].tolist() == [20.0, 21.0]
    assert np.isnan(out["Garage"][0]) and out["Garage"][1] == 5.0
    assert select_wide_columns(frame, None, labels, ROME).columns.tolist() == ["time", "Kitchen", "Garage"]
