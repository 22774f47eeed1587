"""The Stack Exchange dump adapter: mapping, per-table accounting, quarantine reasons, real dump."""

from __future__ import annotations

import json
import re
import tracemalloc
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from features.adapters.stackexchange import StackExchangeSource, iter_rows, strip_html
from features.lake.store import Lake
from pipelines.ingest import IngestReport, ingest_source
from tests.conftest import require_shared
from tests.support.stackexchange import dump_xml

DUMP = "stackexchange_conlang_meta"


def _reasons(report: IngestReport, table: str) -> dict[str, int]:
    return {reason: n for (t, reason), n in report.quarantined.items() if t == table}


def test_each_table_reconciles_with_the_expected_reasons(tmp_path: Path, dump: Path) -> None:
    report = ingest_source(Lake(tmp_path / "lake"), StackExchangeSource(dump))
    assert dict(report.read) == {"members": 3, "posts": 5 + 3, "events": 6 + 6 + 8 + 2}
    # Deleted users' answer 12 and comment 2 are posts with an unknown author (issue 21).
    assert dict(report.kept) == {"members": 2, "posts": 6, "events": 13}
    assert _reasons(report, "members") == {"bad timestamp in joined_at": 1}
    assert _reasons(report, "posts") == {
        "unknown PostTypeId 99": 1,
        "bad timestamp in ts": 1,
    }
    assert _reasons(report, "events") == {
        "answer has no OwnerUserId (deleted user)": 1,
        "bad timestamp in ts": 2,
        "comment has no UserId (deleted user)": 1,
        "no reply_received: comment on own post": 1,
        "vote on a post not in Posts.xml": 1,
        "vote on a post with no OwnerUserId (deleted user)": 1,
        "vote type 10 (Deletion) concerns no member": 1,
        "unknown VoteTypeId 42": 1,
    }
    assert report.reconciles()


def test_rows_map_onto_the_canonical_model(tmp_path: Path, dump: Path) -> None:
    lake = Lake(tmp_path / "lake")
    ingest_source(lake, StackExchangeSource(dump))
    members = lake.read("members").to_pandas().set_index("member_id")
    assert members.loc["1", "joined_at"] == pd.Timestamp("2020-01-01T10:00:00", tz="UTC")
    assert json.loads(members.loc["1", "attributes"]) == {
        "display_name": "Ann",
        "location": "Oslo",
        "reputation": 101,
    }
    posts = lake.read("posts").to_pandas().set_index("post_id")
    assert posts.loc["10", "text"] == "Is <b> allowed? A & B"
    assert posts.loc["c1", ["member_id", "text"]].tolist() == ["2", "Good <question>"]
    events = lake.read("events").to_pandas()
    got = {
        (r.event_type, r.member_id, r.target_id if isinstance(r.target_id, str) else None)
        for r in events.itertuples()
    }
    assert got == {
        ("post", "1", "10"),
        ("answer", "2", "11"),
        ("reply_received", "1", "2"),  # answer 11 by member 2 on member 1's question
        ("reply_received", "1", None),  # answer 12 by a deleted user
        ("comment", "2", "1"),
        ("comment", "1", "1"),
        ("reply_received", "2", None),  # deleted user's comment on member 2's answer
        ("vote_received", "1", "10"),
        ("vote_received", "2", "11"),
        ("answer_accepted", "2", "11"),
        ("like_given", "2", "10"),
        ("badge_earned", "1", "Teacher"),
    }
    votes = events[events["event_type"] == "vote_received"].set_index("target_id")["value"]
    assert votes.to_dict() == {"10": 1.0, "11": -1.0}


def test_quarantine_points_at_the_source_row(tmp_path: Path, dump: Path) -> None:
    lake = Lake(tmp_path / "lake")
    ingest_source(lake, StackExchangeSource(dump))
    quarantine = lake.read("quarantine").to_pandas().set_index("reason")
    row = quarantine.loc["vote on a post not in Posts.xml"]
    assert row["row_number"] == 3
    assert row["source"] == "stackexchange:Votes.xml"
    assert json.loads(row["raw"])["PostId"] == "999"


def test_batches_of_any_size_give_the_same_lake(tmp_path: Path, dump: Path) -> None:
    small, whole = Lake(tmp_path / "small"), Lake(tmp_path / "whole")
    ingest_source(small, StackExchangeSource(dump, batch_rows=2))
    ingest_source(whole, StackExchangeSource(dump))
    for table in ("members", "posts", "events"):
        assert small.read(table).equals(whole.read(table)), table
    # Within a batch validation lists its own rejects first, so only the order may differ.
    key = ["table", "source", "row_number", "reason"]
    quarantined = [
        lake.read("quarantine").to_pandas().sort_values(key, ignore_index=True)
        for lake in (small, whole)
    ]
    pd.testing.assert_frame_equal(*quarantined)


def test_malformed_xml_fails_and_publishes_nothing(tmp_path: Path, dump: Path) -> None:
    votes = dump / "Votes.xml"
    votes.write_text(votes.read_text(encoding="utf-8")[:300], encoding="utf-8")  # cut off
    lake = Lake(tmp_path / "lake")
    with pytest.raises(ValueError, match=r"Votes\.xml: malformed XML after row"):
        ingest_source(lake, StackExchangeSource(dump))
    assert lake.manifest()["ingests"] == []


def test_a_folder_without_users_is_refused(tmp_path: Path, dump: Path) -> None:
    (dump / "Users.xml").unlink()
    with pytest.raises(FileNotFoundError, match=r"no Users\.xml"):
        StackExchangeSource(dump).fingerprint()


def test_strip_html_keeps_text_and_paragraphs() -> None:
    html = "<h1>Yes.</h1>\n<p>a &lt; b &amp;&amp; <code>x&gt;1</code></p><p><br></p><ul><li>one</li></ul>"
    assert strip_html(html) == "Yes.\n\na < b && x>1\n\none"
    assert strip_html("") == ""


# ---- the real conlang meta dump ----


def _row_lines(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines() if "<row " in line]


def _count(path: Path, pattern: str = "") -> int:
    return sum(1 for line in _row_lines(path) if re.search(pattern, line))


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Lake, IngestReport]:
    folder = require_shared(DUMP)
    lake = Lake(tmp_path_factory.mktemp("se") / "lake")
    return folder, lake, ingest_source(lake, StackExchangeSource(folder))


@pytest.mark.realdata
def test_real_dump_counts_match_the_xml_files(real: tuple[Path, Lake, IngestReport]) -> None:
    folder, lake, report = real
    users, posts, comments = (
        _count(folder / f) for f in ("Users.xml", "Posts.xml", "Comments.xml")
    )
    votes, badges = _count(folder / "Votes.xml"), _count(folder / "Badges.xml")
    questions = _count(folder / "Posts.xml", r'PostTypeId="1"')
    answers = _count(folder / "Posts.xml", r'PostTypeId="2"')
    assert (users, posts, comments, votes, badges) == (272, 177, 230, 1119, 612)
    assert dict(report.read) == {
        "members": users,
        "posts": posts + comments,
        "events": votes + badges + questions + 2 * answers + 2 * comments,
    }
    for table in report.read:
        assert report.read[table] == (
            report.kept[table] + report.quarantined_in(table) + report.excluded_in(table)
        )
        assert lake.read(table).num_rows == report.kept[table]
    # Deleted users, counted straight from the files.
    no_owner = posts - _count(folder / "Posts.xml", "OwnerUserId=")
    no_author = comments - _count(folder / "Comments.xml", "UserId=")
    vote_types = Counter(re.findall(r'VoteTypeId="(\d+)"', (folder / "Votes.xml").read_text()))
    assert _reasons(report, "members") == {}
    # Deleted users' posts and comments are kept with an unknown author (issue 21).
    assert _reasons(report, "posts") == {
        "missing text": 4,  # empty tag wiki bodies (PostTypeId 4 and 5)
    }
    kept_posts = lake.read("posts").to_pandas()
    assert kept_posts["member_id"].isna().sum() == no_owner + no_author == 6 + 14
    # The Community bot (-1) is no member: its Users row and the 5 votes on its posts are
    # excluded, counted by reason.
    assert 'Id="-1"' in _row_lines(folder / "Users.xml")[0]
    assert dict(report.excluded) == {
        ("members", "system account -1 (not a member)"): 1,
        ("events", "system account -1 (not a member)"): 5,
    }
    assert "-1" not in set(lake.read("members").column("member_id").to_pylist())
    assert "-1" not in set(lake.read("events").column("member_id").to_pylist())
    assert _reasons(report, "events") == {
        "answer has no OwnerUserId (deleted user)": 6,
        "comment has no UserId (deleted user)": no_author,
        "no reply_received: answer on own post": 6,
        "no reply_received: comment on own post": 51,
        "no reply_received: comment on a post with no OwnerUserId (deleted user)": 15,
        "vote on a post not in Posts.xml": 18,
        "vote on a post with no OwnerUserId (deleted user)": 46,
        "vote type 10 (Deletion) concerns no member": vote_types["10"],
        "vote type 11 (Undeletion) concerns no member": vote_types["11"],
        "vote type 15 (ModeratorReview) concerns no member": vote_types["15"],
        "vote type 16 (ApproveEditSuggestion) concerns no member": vote_types["16"],
    }
    assert dict(report.kept) == {"members": 271, "posts": 403, "events": 2299}
    # Every file of the folder is listed: read, or skipped and why.
    files = {f.name: f for f in report.files}
    assert {n for n, f in files.items() if f.read} == {
        "Users.xml", "Posts.xml", "Comments.xml", "Votes.xml", "Badges.xml"
    }  # fmt: skip
    assert {n for n, f in files.items() if not f.read} == {
        "PostHistory.xml", "PostLinks.xml", "Tags.xml", "LICENSE", "SOURCE.md"
    }  # fmt: skip
    assert "edit history" in files["PostHistory.xml"].why
    assert "concern no member" in files["PostLinks.xml"].why
    assert lake.manifest()["ingests"][-1]["source_files"][0]["name"] == "Badges.xml"


@pytest.mark.realdata
def test_real_dump_values_match_the_raw_rows(real: tuple[Path, Lake, IngestReport]) -> None:
    _, lake, _ = real
    members = lake.read("members").to_pandas().set_index("member_id")
    # <row Id="19" Reputation="1117" CreationDate="2018-02-06T20:05:53.000" DisplayName="rotaredom"
    assert members.loc["19", "joined_at"] == pd.Timestamp("2018-02-06T20:05:53", tz="UTC")
    assert json.loads(members.loc["19", "attributes"])["reputation"] == 1117
    posts = lake.read("posts").to_pandas().set_index("post_id")
    assert posts.loc["6", "text"] == (
        "Every Stack Exchange site has at least one chatroom associated to it. The primary "
        "chatroom for the site usually has an interesting name which is somehow evocative of the "
        "topic of that site: for instance, the h Bar at Physics, the Sphinx's Lair at Puzzling, "
        "The Screening Room at Movies & TV.\n\nWhat should we call the main chatroom for "
        "Constructed Languages SE?"
    )
    assert posts.loc["6", "member_id"] == "12"
    events = lake.read("events").to_pandas()
    # Votes on post 1 (owned by member 14); vote Id 1, the first, is an UpMod dated 2018-02-06.
    on_post_1 = events[(events["event_type"] == "vote_received") & (events["target_id"] == "1")]
    assert set(on_post_1["member_id"]) == {"14"}
    assert set(on_post_1["value"]) <= {1.0, -1.0}
    first = on_post_1.iloc[0]
    assert (first["ts"], first["value"]) == (pd.Timestamp("2018-02-06", tz="UTC"), 1.0)
    # Answer 2 on question 1 was written by a since-deleted user: a reply nobody can be named for.
    replies = events[(events["event_type"] == "reply_received") & (events["member_id"] == "14")]
    assert pd.Timestamp("2018-02-06T20:25:42.850", tz="UTC") in set(replies["ts"])


@pytest.mark.realdata
def test_real_dump_reingest_adds_nothing(real: tuple[Path, Lake, IngestReport]) -> None:
    folder, lake, first = real
    before = {t: lake.read(t).num_rows for t in ("members", "posts", "events", "quarantine")}
    again = ingest_source(lake, StackExchangeSource(folder))
    assert again.already_ingested and again.ingest_id == first.ingest_id
    assert {t: lake.read(t).num_rows for t in before} == before


def test_iter_rows_numbers_rows_and_skips_other_elements(tmp_path: Path) -> None:
    path = tmp_path / "Tags.xml"
    path.write_text('<tags><row Id="1" /><note>x</note><row Id="2" /></tags>', encoding="utf-8")
    assert list(iter_rows(path)) == [(1, {"Id": "1"}), (2, {"Id": "2"})]


def test_iter_rows_frees_rows_as_it_goes(tmp_path: Path) -> None:
    path = tmp_path / "Votes.xml"
    rows = "".join(
        f'  <row Id="{i}" PostId="{i % 97}" VoteTypeId="2" CreationDate="2020-02-06T00:00:00.000" />\n'
        for i in range(20_000)
    )
    path.write_text(f"<votes>\n{rows}</votes>\n", encoding="utf-8")
    tracemalloc.start()
    try:
        count = sum(1 for _ in iter_rows(path))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == 20_000
    # Keeping parsed rows would hold ~12 MB here; streaming holds a few rows at a time.
    assert peak < 2_000_000


def test_bounty_flag_and_favourite_votes(tmp_path: Path) -> None:
    folder = tmp_path / "dump"
    folder.mkdir()
    dump_xml(folder, "Users.xml", ['Id="1" CreationDate="2020-01-01T00:00:00.000"'])
    dump_xml(folder, "Posts.xml", [
        'Id="10" PostTypeId="2" ParentId="9" CreationDate="2020-02-01T00:00:00.000" OwnerUserId="1" Body="a"',
    ])  # fmt: skip
    day = 'CreationDate="2020-02-06T00:00:00.000"'
    dump_xml(folder, "Votes.xml", [
        f'Id="1" PostId="10" VoteTypeId="8" UserId="2" BountyAmount="50" {day}',
        f'Id="2" PostId="10" VoteTypeId="9" BountyAmount="50" {day}',
        f'Id="3" PostId="10" VoteTypeId="12" {day}',
        f'Id="4" PostId="10" VoteTypeId="5" {day}',
    ])  # fmt: skip
    lake = Lake(tmp_path / "lake")
    report = ingest_source(lake, StackExchangeSource(folder))
    events = lake.read("events").to_pandas()
    votes = events[events["ts"] == pd.Timestamp("2020-02-06", tz="UTC")]
    assert list(zip(votes["event_type"], votes["member_id"], votes["value"], strict=True)) == [
        ("points_redeemed", "2", 50.0),
        ("points_earned", "1", 50.0),
        ("report_received", "1", 1.0),
    ]
    assert _reasons(report, "events") == {
        "Favorite vote has no UserId": 1,
        "no reply_received: answer on a post not in Posts.xml": 1,
    }


def test_deleted_users_posts_are_kept_with_an_unknown_author(tmp_path: Path, dump: Path) -> None:
    lake = Lake(tmp_path / "lake")
    ingest_source(lake, StackExchangeSource(dump))
    posts = lake.read("posts").to_pandas().set_index("post_id")
    assert posts.loc["12", "text"] == "No." and pd.isna(posts.loc["12", "member_id"])
    assert posts.loc["c2", "text"] == "Gone" and pd.isna(posts.loc["c2", "member_id"])


def _with_community(dump: Path) -> None:
    """The dump with the Community bot (-1): a user, a wiki post, a vote on it and a badge."""
    users = dump / "Users.xml"
    users.write_text(
        users.read_text(encoding="utf-8").replace(
            "<users>\n",
            '<users>\n  <row Id="-1" CreationDate="2019-01-01T00:00:00.000" DisplayName="Community" />\n',
        ),
        encoding="utf-8",
    )
    dump_xml(dump, "Posts.xml", [
        'Id="10" PostTypeId="1" CreationDate="2020-02-01T00:00:00.000" OwnerUserId="1" Body="q"',
        'Id="20" PostTypeId="1" CreationDate="2020-02-01T00:00:00.000" OwnerUserId="-1" Body="wiki"',
    ])  # fmt: skip
    dump_xml(dump, "Votes.xml", [
        'Id="1" PostId="20" VoteTypeId="2" CreationDate="2020-02-06T00:00:00.000"',
        'Id="2" PostId="10" VoteTypeId="2" CreationDate="2020-02-06T00:00:00.000"',
    ])  # fmt: skip
    dump_xml(dump, "Badges.xml", ['Id="1" UserId="-1" Name="Bot" Date="2020-02-08T00:00:00.000"'])
    (dump / "Comments.xml").unlink()


def test_system_accounts_are_no_members_and_are_counted_as_excluded(
    tmp_path: Path, dump: Path
) -> None:
    _with_community(dump)
    lake = Lake(tmp_path / "lake")
    report = ingest_source(lake, StackExchangeSource(dump))
    assert report.reconciles()
    why = "system account -1 (not a member)"
    # The user row, the question event of post 20, the vote on it and the badge.
    assert dict(report.excluded) == {("members", why): 1, ("events", why): 3}
    assert "-1" not in set(lake.read("members").column("member_id").to_pylist())
    assert "-1" not in set(lake.read("events").column("member_id").to_pylist())
    assert "20" in set(lake.read("posts").column("post_id").to_pylist())  # text is kept
    # Configurable: with no system accounts the bot is a member like any other.
    kept = ingest_source(
        Lake(tmp_path / "all"), StackExchangeSource(dump, system_accounts=frozenset())
    )
    assert kept.excluded == Counter() and kept.kept["members"] == report.kept["members"] + 1


def test_quarantine_keeps_the_xml_row_of_a_post_refused_by_validation(
    tmp_path: Path, dump: Path
) -> None:
    image = (
        "&lt;p&gt;&lt;img src=&quot;https://i.example/x.png&quot; alt=&quot;&quot;&gt;&lt;/p&gt;"
    )
    dump_xml(dump, "Posts.xml", [
        'Id="10" PostTypeId="1" CreationDate="2020-02-01T00:00:00.000" OwnerUserId="1" Body="q"',
        f'Id="11" PostTypeId="2" ParentId="10" CreationDate="2020-02-02T00:00:00.000" OwnerUserId="2" Body="{image}"',
    ])  # fmt: skip
    lake = Lake(tmp_path / "lake")
    ingest_source(lake, StackExchangeSource(dump))
    quarantine = lake.read("quarantine").to_pandas()
    row = quarantine[(quarantine["reason"] == "missing text") & (quarantine["table"] == "posts")]
    assert len(row) == 1 and row["row_number"].iloc[0] == 2
    raw = json.loads(row["raw"].iloc[0])
    # The row as the dump wrote it, not the mapped row: the image that left no text shows.
    assert raw["Body"] == '<p><img src="https://i.example/x.png" alt=""></p>'
    assert raw["PostTypeId"] == "2" and "member_id" not in raw


def test_the_report_lists_every_file_read_and_skipped(tmp_path: Path, dump: Path) -> None:
    dump_xml(dump, "PostHistory.xml", ['Id="1" PostId="10"'])
    dump_xml(dump, "Tags.xml", ['Id="1" TagName="grammar"'])
    dump_xml(dump, "Elsewhere.xml", ['Id="1"'])
    report = ingest_source(Lake(tmp_path / "lake"), StackExchangeSource(dump))
    status = {f.name: (f.read, f.why) for f in report.files}
    assert {n for n, (read, _) in status.items() if read} == {
        "Users.xml", "Posts.xml", "Comments.xml", "Votes.xml", "Badges.xml"
    }  # fmt: skip
    assert status["PostHistory.xml"][0] is False and "edit history" in status["PostHistory.xml"][1]
    assert status["Tags.xml"] == (False, "tag names and counts: they concern no member")
    assert status["Elsewhere.xml"] == (
        False,
        "not a file of a Stack Exchange dump that steward maps",
    )


def test_system_accounts_option_takes_user_ids_only() -> None:
    from features.adapters.stackexchange import parse_system_accounts

    assert parse_system_accounts("-1, 42") == frozenset({"-1", "42"})
    assert parse_system_accounts("") == frozenset()
    with pytest.raises(ValueError, match=r"\['bot'\] are not user ids"):
        parse_system_accounts("-1,bot")
