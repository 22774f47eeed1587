"""Custom event types (x_...): a product's own kinds of action get features of their own."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from features.members import build as mf
from features.members import store as mf_store
from features.members.definition import (
    FEATURE_COLUMNS,
    FeatureConfig,
    absent_custom_value,
    feature_columns,
    validate_config,
)
from features.members.event_codes import encode_table
from features.schemas import EVENTS, MAX_CUSTOM_EVENT_TYPES, custom_event_name
from pipelines.output import features_table
from tests.support.lakes import two_ingest_lake, with_custom_events
from tests.support.timelines import (
    T,
    assert_same_table,
    build,
    connect,
    day,
    ev,
    timeline_lake,
)

CUSTOM = ["x_add_contact", "x_search"]


def crm_timeline() -> list[dict]:
    """Member c acts only through custom types; member d logs in and has one custom event."""
    return [
        *(ev("c", day(d), "x_search") for d in (0, -6, -20, -20)),
        ev("c", day(-40), "x_add_contact"),
        ev("c", day(1), "x_search"),  # after T: not counted
        ev("d", day(-2), "login"),
        ev("d", day(-95), "x_add_contact"),  # outside every window; still its last one
    ]


def test_custom_types_get_counts_and_days_since_and_count_as_activity() -> None:
    con = connect(crm_timeline(), members=[("c", day(-60)), ("d", day(-200))])
    rows = build(con, [T], data_end=day(60))  # both engines, which must agree
    c, d = rows[("c", T)], rows[("d", T)]
    # c has no event of steward's own types: only the custom ones make it active at T.
    assert (c["n_x_search_7d"], c["n_x_search_30d"], c["n_x_search_90d"]) == (2, 4, 4)
    assert c["days_since_last_x_search"] == 0 and c["days_since_last_x_add_contact"] == 40
    assert c["n_x_add_contact_30d"] == 0 and c["n_x_add_contact_90d"] == 1
    assert c["active_days_30d"] == 3 and c["days_since_last_activity"] == 0
    # c's x_search the day after T is activity, so c stayed; d did nothing after T.
    assert c["churned_activity"] == 0 and rows[("d", T)]["churned_activity"] == 1
    assert d["n_x_add_contact_90d"] == 0 and d["days_since_last_x_add_contact"] == 95
    assert d["n_login_7d"] == 1


def test_the_table_adds_each_custom_types_columns_after_steward_own() -> None:
    con = connect(crm_timeline(), members=[("c", day(-60))])
    table = mf.build_features(con, [T], FeatureConfig(data_end=day(60)))
    features = table.schema.names[2:-2]
    assert features[: len(FEATURE_COLUMNS)] == FEATURE_COLUMNS
    assert features[len(FEATURE_COLUMNS) :] == [
        *(f"n_x_add_contact_{w}d" for w in (7, 14, 30, 90)),
        "days_since_last_x_add_contact",
        *(f"n_x_search_{w}d" for w in (7, 14, 30, 90)),
        "days_since_last_x_search",
    ]
    assert features == feature_columns(FeatureConfig(custom_events=tuple(CUSTOM)))


def test_a_lake_with_custom_types_writes_and_reads_them(tmp_path: Path) -> None:
    lake = timeline_lake(tmp_path / "lake", crm_timeline(), {"c": day(-60)})
    for engine in ("arrays", "sql"):
        report = mf.build_member_features(lake, tmp_path / engine, as_of=[T], engine=engine)
        assert report.custom_events == tuple(CUSTOM)
        caption = str(features_table(report).caption)
        assert (
            "2 custom event types with features of their own (x_add_contact, x_search)" in caption
        )
        metadata = json.loads((tmp_path / engine / mf_store.METADATA).read_text())
        assert metadata["config"]["custom_events"] == CUSTOM
        assert metadata["feature_columns"][-5:] == [
            *(f"n_x_search_{w}d" for w in (7, 14, 30, 90)),
            "days_since_last_x_search",
        ]
        rows = {r["member_id"]: r for r in mf_store.read_features(tmp_path / engine).to_pylist()}
        assert rows["c"]["n_x_search_30d"] == 4


def test_engines_agree_on_a_community_with_custom_types(tmp_path: Path) -> None:
    # Three events files, the custom types only in the last: the arrays engine codes them as it
    # meets them and must still write exactly the SQL's table.
    lake = with_custom_events(two_ingest_lake(tmp_path / "lake"))
    for engine in ("arrays", "sql"):
        mf.build_member_features(lake, tmp_path / engine, every_days=14, engine=engine)
    got, want = (mf_store.read_features(tmp_path / engine) for engine in ("arrays", "sql"))
    assert_same_table(got, want)
    # Each share again a day later: about as many in the 30-day windows (measured 5,704 / 5,598).
    shares, copies = (pc.sum(got[f"n_{t}_30d"]).as_py() for t in ("share", "x_share_link"))
    assert shares > 1000 and abs(copies - shares) < 0.1 * shares
    assert got.schema.names[-7:-2] == [
        *(f"n_x_share_link_{w}d" for w in (7, 14, 30, 90)),
        "days_since_last_x_share_link",
    ]


def test_custom_types_are_checked_and_capped() -> None:
    with pytest.raises(ValueError, match="sorted, distinct x_ names"):
        validate_config(FeatureConfig(custom_events=("x_b", "x_a")))
    with pytest.raises(ValueError, match="sorted, distinct x_ names"):
        validate_config(FeatureConfig(custom_events=("login",)))
    many = [f"x_t{i:03d}" for i in range(MAX_CUSTOM_EVENT_TYPES + 1)]
    rows = [ev("m", day(0), kind) for kind in many]
    with pytest.raises(
        ValueError, match=f"hold more than {MAX_CUSTOM_EVENT_TYPES} custom event types"
    ):
        encode_table(pa.Table.from_pylist(rows, schema=EVENTS.schema))
    coded = encode_table(pa.Table.from_pylist(rows[:-1], schema=EVENTS.schema))
    assert coded.custom == tuple(many[:-1])


def test_custom_codes_follow_names_whatever_order_they_are_seen_in() -> None:
    # Pieces are coded on two threads, custom types numbered as first seen: the codes must end
    # up in name order, each event keeping its own type.
    rows = [ev("m", day(-i), kind) for i, kind in enumerate(["x_z", "login", "x_a", "x_m", "x_z"])]
    coded = encode_table(pa.Table.from_pylist(rows, schema=EVENTS.schema))
    assert coded.custom == ("x_a", "x_m", "x_z")
    assert [coded.types[k] for k in coded.kind] == [r["event_type"] for r in rows]


def test_a_missing_custom_feature_reads_as_no_such_event() -> None:
    assert absent_custom_value("n_x_search_30d") == 0.0
    assert math.isnan(absent_custom_value("days_since_last_x_search"))
    with pytest.raises(ValueError, match="not a custom event type's feature"):
        absent_custom_value("n_login_30d")


def test_source_names_become_custom_types() -> None:
    assert custom_event_name("Add Contact") == "x_add_contact"
    assert custom_event_name("win-opportunity (value)") == "x_win_opportunity_value"
    assert custom_event_name("x_quest") == "x_quest"  # one already is not renamed again
