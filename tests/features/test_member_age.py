"""A member's age from the date_of_birth attribute: a feature of lakes whose profiles have one."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from features.members import build as mf
from features.members import store as mf_store
from features.members.definition import AGE_COLUMN, FEATURE_COLUMNS, FeatureConfig
from features.schemas import MEMBERS
from pipelines.output import features_table
from tests.support.lakes import two_ingest_lake, with_birth_days
from tests.support.timelines import T, assert_same_table, build, connect, day, ev


def born(when: str) -> str:
    """A members row's attributes with a date of birth (as the fightchurn adapter writes it)."""
    return json.dumps({"channel": "web", "date_of_birth": when})


def test_age_is_years_since_birth_at_each_date_and_null_without_a_usable_birth_day() -> None:
    members = ["adult", "none", "junk", "future", "stamp", "text", "empty"]
    con = connect(
        [*(ev(m, day(0), "login") for m in members), ev("adult", day(365), "login")],
        members=[(m, day(-30)) for m in members],
        attributes={
            "adult": born("1994-06-01"),  # 30 years before T (2024-06-01), 8 leap days
            "none": json.dumps({"channel": "web"}),
            "junk": born("not a date"),
            "future": born("2024-06-02"),  # after T: a typo, no age
            "stamp": born("2000-06-01T08:00:00Z"),  # the day part of a timestamp
            "text": "premium member",  # attributes that are not JSON: no age, no failed build
            "empty": "",
        },
    )
    rows = build(con, [T, day(365)], data_end=day(400))  # both engines, which must agree
    assert math.isclose(rows[("adult", T)][AGE_COLUMN], (365 * 30 + 8) / 365.25)
    assert math.isclose(rows[("stamp", T)][AGE_COLUMN], (365 * 24 + 6) / 365.25)
    for member in ("none", "junk", "future", "text", "empty"):
        assert rows[(member, T)][AGE_COLUMN] is None
    assert math.isclose(
        rows[("adult", day(365))][AGE_COLUMN] - rows[("adult", T)][AGE_COLUMN], 365 / 365.25
    )


def test_a_member_listed_twice_has_an_age_only_when_the_listings_agree() -> None:
    con = connect([ev(m, day(0), "login") for m in ("same", "split")])
    members = pa.Table.from_pylist(
        [
            {"member_id": m, "joined_at": None, "attributes": born(b)}
            for m, b in (
                ("same", "1980-01-01"),
                ("same", "1980-01-01"),
                ("split", "1980-01-01"),
                ("split", "1990-01-01"),  # two people under one id: no age rather than a guess
            )
        ],
        schema=MEMBERS.schema,
    )
    con.unregister("members")
    con.register("members", members)
    rows = build(con, [T], data_end=day(40))
    assert rows[("same", T)][AGE_COLUMN] > 44
    assert rows[("split", T)][AGE_COLUMN] is None


def test_only_lakes_with_birth_days_get_the_column() -> None:
    plain = connect([ev("a", day(0), "login")], members=[("a", day(-5))])
    table = mf.build_features(plain, [T], FeatureConfig(data_end=day(40)))
    assert AGE_COLUMN not in table.schema.names  # steward's simulator, most communities
    aged = connect(
        [ev("a", day(0), "login")], members=[("a", day(-5))], attributes={"a": born("1990-01-01")}
    )
    table = mf.build_features(aged, [T], FeatureConfig(data_end=day(40)))
    features = table.schema.names[2:-2]
    assert features == [*FEATURE_COLUMNS, AGE_COLUMN]


def test_engines_agree_on_ages_of_a_community_and_the_build_records_them(tmp_path: Path) -> None:
    lake = two_ingest_lake(tmp_path / "lake")
    plain = mf.build_member_features(lake, tmp_path / "plain", every_days=14)
    assert not plain.member_age and "date_of_birth" not in str(features_table(plain).caption)
    lake = with_birth_days(lake)
    for engine in ("arrays", "sql"):
        report = mf.build_member_features(lake, tmp_path / engine, every_days=14, engine=engine)
        assert (
            AGE_COLUMN
            in json.loads((tmp_path / engine / mf_store.METADATA).read_text())["feature_columns"]
        )
        assert report.member_age and report.rows > 0
        caption = str(features_table(report).caption)
        assert "members' ages from their date_of_birth (age_years)" in caption
    got, want = (mf_store.read_features(tmp_path / engine) for engine in ("arrays", "sql"))
    assert_same_table(got, want)
    ages = got[AGE_COLUMN]
    # Every seventh member has no birth day; the others are 24 to 76 at the dates of 2026.
    assert 0 < ages.null_count < 0.25 * len(ages)
    assert pc.min(ages).as_py() > 23 and pc.max(ages).as_py() < 77
