"""Tests of the synthetic community simulator."""

from __future__ import annotations

import json
import time
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from features.schemas import EVENT_TYPES, QUALIFYING_EVENT_TYPES, TABLES
from features.synthetic.simulator import (
    EXPECTED_EVENTS_PER_MEMBER_DAY,
    LEAD_DAYS,
    SIMULATED_EVENT_TYPES,
    Community,
    simulate,
    write_community,
)

START = pd.Timestamp("2026-01-01", tz="UTC")
DAYS = 90
DAY = pd.Timedelta(days=1)
FRAMES = ("members", "events", "posts", "moderation")


@pytest.fixture(scope="module")
def community() -> Community:
    """A small community shared by the read-only tests."""
    return simulate(members=3_000, days=DAYS, seed=7)


def of_type(events: pd.DataFrame, *types: str) -> pd.DataFrame:
    """The events of the given types."""
    return events[events["event_type"].isin(types)]


def test_same_seed_gives_identical_output() -> None:
    first, second = simulate(300, 20, seed=5), simulate(300, 20, seed=5)
    for name in FRAMES:
        pd.testing.assert_frame_equal(getattr(first, name), getattr(second, name))


def test_different_seeds_give_different_output() -> None:
    first, second = simulate(300, 20, seed=5), simulate(300, 20, seed=6)
    assert not first.events.equals(second.events)
    assert not first.members.equals(second.members)


def test_rejects_an_empty_community() -> None:
    with pytest.raises(ValueError, match="at least one member"):
        simulate(0, 10, seed=1)


def test_frames_have_canonical_columns_and_dtypes(community: Community) -> None:
    for name in FRAMES:
        frame = getattr(community, name)
        assert list(frame.columns) == TABLES[name].names
    assert str(community.events["ts"].dtype) == "datetime64[us, UTC]"
    assert str(community.members["joined_at"].dtype) == "datetime64[us, UTC]"
    assert community.events["value"].dtype == "float64"
    assert community.events["member_id"].map(type).eq(str).all()


def test_members_are_marked_synthetic_with_attributes(community: Community) -> None:
    attributes = community.members["attributes"].map(json.loads)
    assert attributes.map(lambda a: a["synthetic"] is True).all()
    assert set(attributes.map(lambda a: a["channel"])) == {"web", "ios", "android"}
    assert set(attributes.map(lambda a: a["tier"])) == {"free", "plus"}
    assert community.members["member_id"].is_unique


def test_every_simulated_event_type_is_canonical_and_present(community: Community) -> None:
    produced = set(community.events["event_type"])
    assert produced <= set(EVENT_TYPES)
    assert produced == set(SIMULATED_EVENT_TYPES)


def test_timestamps_fall_inside_the_window(community: Community) -> None:
    events, members = community.events, community.members
    assert events["ts"].min() >= START
    assert events["ts"].max() < START + DAYS * DAY
    assert members["joined_at"].min() >= START - LEAD_DAYS * DAY
    assert members["joined_at"].max() < START + DAYS * DAY
    assert (members["joined_at"] < START).any() and (members["joined_at"] >= START).any()
    joined = events.merge(members[["member_id", "joined_at"]], on="member_id")
    assert (joined["ts"] >= joined["joined_at"]).all()


def test_every_post_event_has_its_post(community: Community) -> None:
    events = of_type(community.events, "post")
    events = events.rename(columns={"target_id": "post_id"})[["post_id", "member_id", "ts"]]
    posts = community.posts[["post_id", "member_id", "ts"]]
    assert posts["post_id"].is_unique
    pd.testing.assert_frame_equal(
        events.sort_values("post_id").reset_index(drop=True),
        posts.sort_values("post_id").reset_index(drop=True),
    )


def test_posts_are_bilingual_and_partly_toxic(community: Community) -> None:
    posts, moderation = community.posts, community.moderation
    assert 0.2 < (posts["lang"] == "zh").mean() < 0.4
    assert set(posts["lang"]) == {"en", "zh"}
    assert moderation["post_id"].tolist() == posts["post_id"].tolist()
    assert 0.05 < moderation["toxicity"].mean() < 0.2
    kinds = moderation[["identity_attack", "insult", "obscene", "threat"]]
    # A toxic post has at least one kind of toxicity; a clean one has none.
    assert (kinds.max(axis=1) == moderation["toxicity"]).all()
    assert moderation["text"].nunique() > 0.5 * len(moderation)


def test_tickets_resolve_after_they_open(community: Community) -> None:
    opened = of_type(community.events, "ticket_opened")
    resolved = of_type(community.events, "ticket_resolved")
    assert opened["target_id"].is_unique and resolved["target_id"].is_unique
    both = resolved.merge(opened, on="target_id", suffixes=("_done", "_open"), how="left")
    assert both["ts_open"].notna().all()
    assert (both["ts_done"] > both["ts_open"]).all()
    assert (both["member_id_done"] == both["member_id_open"]).all()
    # Some stay open, so that open-ticket features have something to count.
    assert len(resolved) < len(opened)


def test_targets_point_at_members_and_posts(community: Community) -> None:
    events, posts = community.events, community.posts
    members = set(community.members["member_id"])
    social = of_type(events, "like_given", "comment")
    assert social["target_id"].isin(members).all()
    assert (social["target_id"] != social["member_id"]).all()
    received = of_type(events, "reply_received", "like_received", "toxic_reply_received")
    author = received.merge(posts, left_on="target_id", right_on="post_id", how="left")
    assert (author["member_id_x"] == author["member_id_y"]).all()
    assert of_type(events, "share", "report_received")["target_id"].isin(posts["post_id"]).all()


def test_only_points_carry_a_value(community: Community) -> None:
    events = community.events
    points = events["event_type"].isin(["points_earned", "points_redeemed"])
    assert (events.loc[points, "value"] > 0).all()
    assert events.loc[~points, "value"].isna().all()


def test_event_volume_matches_the_documented_rate() -> None:
    members, days = 2_000, 180
    volume = len(simulate(members, days, seed=3).events) / (members * days)
    assert 0.75 * EXPECTED_EVENTS_PER_MEMBER_DAY < volume < 1.25 * EXPECTED_EVENTS_PER_MEMBER_DAY


def churn_rows(events: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Members active in the 30 days to `as_of`, what they lived through, and whether they left."""
    acting = of_type(events, *QUALIFYING_EVENT_TYPES)
    active = acting.loc[acting["ts"].between(as_of - 30 * DAY, as_of), "member_id"].unique()
    later = acting.loc[(acting["ts"] > as_of) & (acting["ts"] <= as_of + 30 * DAY), "member_id"]
    past = events[events["ts"] <= as_of]
    recent = past[past["ts"] > as_of - 30 * DAY]
    opened = of_type(past, "ticket_opened")
    overdue = opened[
        (opened["ts"] <= as_of - 3 * DAY)
        & ~opened["target_id"].isin(of_type(past, "ticket_resolved")["target_id"])
    ]
    posts = of_type(recent, "post")
    unanswered = ~posts["target_id"].isin(of_type(recent, "reply_received")["target_id"])
    points = of_type(past, "points_earned", "points_redeemed")
    signed = points["value"].where(points["event_type"] == "points_earned", -points["value"])
    rows = pd.DataFrame(index=pd.Index(active, name="member_id"))
    rows["tickets"] = overdue.groupby("member_id").size()
    rows["unanswered"] = unanswered.groupby(posts["member_id"]).mean()
    rows["toxic"] = of_type(recent, "toxic_reply_received").groupby("member_id").size()
    rows["balance"] = signed.groupby(points["member_id"]).sum()
    last_week = recent[recent["ts"] > as_of - 7 * DAY].groupby("member_id").size()
    rows["last_week_share"] = last_week / recent.groupby("member_id").size()
    rows = rows.fillna({"tickets": 0, "toxic": 0, "balance": 0, "last_week_share": 0})
    rows["churned"] = ~rows.index.isin(later)
    return rows


def test_churn_is_driven_by_its_causes(community: Community) -> None:
    rows = pd.concat(churn_rows(community.events, START + d * DAY) for d in (30, 45, 60))
    assert 0.08 < rows["churned"].mean() < 0.35
    means = rows.groupby("churned").mean()
    left, stayed = means.loc[True], means.loc[False]
    assert left["tickets"] > 1.5 * stayed["tickets"]
    assert left["unanswered"] > 1.03 * stayed["unanswered"]
    # Toxic replies also sour the mood and so activity; their own hazard must add to that.
    assert left["toxic"] > 1.5 * stayed["toxic"]
    assert left["balance"] > stayed["balance"]
    assert left["last_week_share"] < 0.5 * stayed["last_week_share"]


def test_write_community_writes_canonical_parquet(community: Community, tmp_path: Path) -> None:
    paths = write_community(community, tmp_path / "sim")
    assert set(paths) == set(FRAMES)
    for name, path in paths.items():
        assert path.name == f"{name}.parquet"
        assert pq.read_schema(path).remove_metadata() == TABLES[name].schema
        assert pq.read_metadata(path).num_rows == len(getattr(community, name))
    events = pq.read_table(paths["events"])
    assert events["target_id"].null_count == (community.events["target_id"].isna()).sum()


def test_start_date_moves_the_window() -> None:
    events = simulate(200, 5, seed=1, start=date(2025, 6, 1)).events
    assert events["ts"].min() >= pd.Timestamp("2025-06-01", tz="UTC")
    assert events["ts"].max() < pd.Timestamp("2025-06-06", tz="UTC")


@pytest.mark.slow
def test_simulates_a_large_community_within_a_minute() -> None:
    began = time.perf_counter()
    community = simulate(members=100_000, days=180, seed=1)
    assert time.perf_counter() - began < 60
    assert len(community.events) > 10_000_000
