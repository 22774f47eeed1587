"""The Fighting Churn With Data layout: members dated by subscriptions, events made canonical."""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from features.adapters.fightchurn import CANONICAL_EVENTS, FightChurnSource, load_event_types
from features.lake.store import Lake
from pipelines.ingest import IngestReport, ingest_source
from tests.conftest import require_shared

SAMPLE = "fightchurn_socialnet7_sample"
EVENT_TYPES = "event_type_id,event_type_name\n" + "".join(
    f"{i},{name}\n" for i, name in enumerate(CANONICAL_EVENTS)
)


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    """A tiny export with one bad row of each kind the adapter or validation handles."""
    folder = tmp_path / "fc"
    folder.mkdir()
    (folder / "account.csv").write_text(
        "id,channel,date_of_birth,country\n"
        "0,web,1980-01-02,FR\n"
        "1,appstore1,1990-03-04,US\n"  # no subscription: cannot be dated
        "2,appstore2,2000-05-06,\n"
        ",web,1985-01-01,DE\n"
    )
    (folder / "subscription.csv").write_text(
        "account_id,product,start_date,end_date,mrr,quantity,units,bill_period_months,discount\n"
        "0,basic,2020-02-10,2020-03-10,10.0,,,1,0.0\n"
        "0,basic,2020-01-10,2020-02-10,10.0,,,1,0.0\n"  # earlier, listed later
        "2,basic,2020-01-05,,9.5,,,1,0.0\n"  # still running
        "2,basic,soon,2020-03-05,9.5,,,1,0.0\n"
    )
    (folder / "event_type.csv").write_text(EVENT_TYPES)
    (folder / "event.csv").write_text(
        "account_id,event_time,event_type_id,user_id,event_value\n"
        "0,2020-01-11 08:00:00,0,0,\n"
        "0,2020-01-11 09:00:00,1,0,\n"
        "2,2020-01-12 10:00:00,7,0,2.5\n"
        "2,2020-01-12 11:00:00,9,0,\n"
        "2,late,2,0,\n"
        "2,2020-01-13 11:00:00,2,0,lots\n"
        "2,2020-01-13 12:00:00,2,0,,surplus\n"
    )
    return folder


def _reasons(report: IngestReport, table: str) -> dict[str, int]:
    return {reason: n for (t, reason), n in report.quarantined.items() if t == table}


def test_each_table_reconciles_with_the_expected_reasons(tmp_path: Path, layout: Path) -> None:
    report = ingest_source(Lake(tmp_path / "lake"), FightChurnSource(layout))
    assert dict(report.read) == {"members": 4, "subscriptions": 4, "events": 7}
    assert dict(report.kept) == {"members": 2, "subscriptions": 3, "events": 3}
    assert _reasons(report, "members") == {
        "no subscription to date the account": 1,
        "missing member_id": 1,
    }
    assert _reasons(report, "subscriptions") == {"bad timestamp in start_at": 1}
    assert _reasons(report, "events") == {
        "unknown event_type (a type of your own is named x_<name>)": 1,
        "bad timestamp in ts": 1,
        "value is not a number": 1,
        "malformed line: expected 5 fields, got 6": 1,
    }
    assert report.reconciles()


def test_rows_map_onto_the_canonical_model(tmp_path: Path, layout: Path) -> None:
    lake = Lake(tmp_path / "lake")
    ingest_source(lake, FightChurnSource(layout))
    members = lake.read("members").to_pandas().set_index("member_id")
    assert members.loc["0", "joined_at"] == pd.Timestamp("2020-01-10", tz="UTC")
    assert members.loc["2", "joined_at"] == pd.Timestamp("2020-01-05", tz="UTC")
    assert json.loads(members.loc["0", "attributes"]) == {
        "channel": "web",
        "country": "FR",
        "date_of_birth": "1980-01-02",
    }
    assert "country" not in json.loads(members.loc["2", "attributes"])
    subs = lake.read("subscriptions").to_pandas()
    running = subs[subs["member_id"] == "2"].iloc[0]
    assert pd.isna(running["end_at"]) and running["mrr"] == 9.5 and running["product"] == "basic"
    events = lake.read("events").to_pandas()
    assert list(events["event_type"]) == ["post", "friend_added", "comment"]
    assert events["value"].iloc[2] == 2.5 and events["target_id"].isna().all()
    quarantine = lake.read("quarantine").to_pandas().set_index("reason")
    undated = quarantine.loc["no subscription to date the account"]
    assert (undated["row_number"], json.loads(undated["raw"])["id"]) == (2, "1")


def test_a_folder_without_events_is_refused(tmp_path: Path, layout: Path) -> None:
    (layout / "event.csv").unlink()
    with pytest.raises(FileNotFoundError, match=r"event\.csv\.gz or event\.csv"):
        FightChurnSource(layout).fingerprint()


def test_event_types_unknown_to_steward_become_custom_types(tmp_path: Path) -> None:
    path = tmp_path / "event_type.csv"
    path.write_text("event_type_id,event_type_name\n0,post\n8,view_video\n9,Add Contact\n")
    assert load_event_types(path) == {"0": "post", "8": "x_view_video", "9": "x_add_contact"}
    # Two names that clean to one custom type would merge two kinds of action: refused.
    path.write_text("event_type_id,event_type_name\n8,add_contact\n9,Add Contact\n")
    with pytest.raises(ValueError, match="'add_contact' and 'Add Contact' would both become"):
        load_event_types(path)


def test_a_crm_export_keeps_its_own_events(tmp_path: Path, layout: Path) -> None:
    """The book's other products (crm5: search, add_contact, ...) are kept as custom types,
    not quarantined: only the id that event_type.csv does not name is."""
    (layout / "event_type.csv").write_text(
        "event_type_id,event_type_name\n"
        + "".join(f"{i},{n}\n" for i, n in enumerate(["search", "add_contact", "meeting"]))
    )
    (layout / "event.csv").write_text(
        "account_id,event_time,event_type_id,user_id,event_value\n"
        "0,2020-01-11 08:00:00,0,0,\n"
        "0,2020-01-11 09:00:00,1,0,\n"
        "2,2020-01-12 10:00:00,2,0,\n"
        "2,2020-01-12 11:00:00,7,0,\n"
    )
    lake = Lake(tmp_path / "lake")
    report = ingest_source(lake, FightChurnSource(layout))
    assert dict(report.kept)["events"] == 3 and report.reconciles()
    assert _reasons(report, "events") == {
        "unknown event_type (a type of your own is named x_<name>)": 1
    }
    kinds = sorted(lake.read("events").column("event_type").to_pylist())
    assert kinds == ["x_add_contact", "x_meeting", "x_search"]


# ---- the real simulator sample ----


def _csv_rows(path: Path) -> list[dict[str, str]]:
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Lake, IngestReport]:
    folder = require_shared(SAMPLE)
    lake = Lake(tmp_path_factory.mktemp("fc") / "lake")
    return folder, lake, ingest_source(lake, FightChurnSource(folder))


@pytest.mark.realdata
def test_real_sample_counts_match_the_csv_files(real: tuple[Path, Lake, IngestReport]) -> None:
    folder, lake, report = real
    accounts = _csv_rows(folder / "account.csv")
    subscriptions = _csv_rows(folder / "subscription.csv")
    events = _csv_rows(folder / "event.csv.gz")
    assert (len(accounts), len(subscriptions), len(events)) == (737, 2858, 835_405)
    expected = {
        "members": len(accounts),
        "subscriptions": len(subscriptions),
        "events": len(events),
    }
    assert dict(report.read) == expected
    assert dict(report.kept) == expected  # the simulator writes no bad rows
    assert not report.quarantined
    assert {t: lake.read(t).num_rows for t in expected} == expected
    # Every event type arrives under its canonical name, as many as in the file.
    names = {r["event_type_id"]: r["event_type_name"] for r in _csv_rows(folder / "event_type.csv")}
    raw = Counter(CANONICAL_EVENTS[names[e["event_type_id"]]] for e in events)
    got = lake.read("events").column("event_type").value_counts().to_pylist()
    assert {v["values"]: v["counts"] for v in got} == raw


@pytest.mark.realdata
def test_real_sample_values_match_the_raw_rows(real: tuple[Path, Lake, IngestReport]) -> None:
    folder, lake, _ = real
    members = lake.read("members").to_pandas().set_index("member_id")
    # account 0,appstore1,1971-05-07,KR; its first subscription starts 2020-01-21.
    assert members.loc["0", "joined_at"] == pd.Timestamp("2020-01-21", tz="UTC")
    assert json.loads(members.loc["0", "attributes"]) == {
        "channel": "appstore1",
        "country": "KR",
        "date_of_birth": "1971-05-07",
    }
    no_country = next(a["id"] for a in _csv_rows(folder / "account.csv") if not a["country"])
    assert "country" not in json.loads(members.loc[no_country, "attributes"])
    first = lake.read("events").slice(0, 1).to_pylist()[0]
    # event.csv.gz row 1: 0,2020-01-21 03:01:47,0,0,
    assert first == {
        "member_id": "0",
        "ts": pd.Timestamp("2020-01-21 03:01:47", tz="UTC").to_pydatetime(),
        "event_type": "post",
        "value": None,
        "target_id": None,
    }
    subs = lake.read("subscriptions").to_pandas()
    assert subs.iloc[0].to_dict() == {
        "member_id": "0",
        "start_at": pd.Timestamp("2020-01-21", tz="UTC"),
        "end_at": pd.Timestamp("2020-02-21", tz="UTC"),
        "product": "basic",
        "mrr": 10.0,
    }


@pytest.mark.realdata
def test_real_sample_reingest_adds_nothing(real: tuple[Path, Lake, IngestReport]) -> None:
    folder, lake, first = real
    tables = ("members", "subscriptions", "events", "quarantine")
    before = {t: lake.read(t).num_rows for t in tables}
    again = ingest_source(lake, FightChurnSource(folder))
    assert again.already_ingested and again.ingest_id == first.ingest_id
    assert {t: lake.read(t).num_rows for t in tables} == before


def test_quarantine_keeps_each_files_row_as_read(tmp_path: Path, layout: Path) -> None:
    lake = Lake(tmp_path / "lake")
    ingest_source(lake, FightChurnSource(layout))
    quarantine = lake.read("quarantine").to_pandas().set_index(["table", "reason"])
    # The account.csv, subscription.csv and event.csv rows, not the mapped canonical rows.
    account = json.loads(quarantine.loc[("members", "missing member_id"), "raw"])
    assert account == {"id": None, "channel": "web", "date_of_birth": "1985-01-01", "country": "DE"}
    start = json.loads(quarantine.loc[("subscriptions", "bad timestamp in start_at"), "raw"])
    assert start["start_date"] == "soon" and start["account_id"] == "2" and "start_at" not in start
    late = json.loads(quarantine.loc[("events", "bad timestamp in ts"), "raw"])
    assert late["event_time"] == "late" and late["event_type_id"] == "2" and "ts" not in late


def test_the_report_lists_the_files_read_and_skipped(tmp_path: Path, layout: Path) -> None:
    (layout / "notes.txt").write_text("not data")
    report = ingest_source(Lake(tmp_path / "lake"), FightChurnSource(layout))
    assert [(f.name, f.read) for f in report.files] == [
        ("account.csv", True),
        ("event.csv", True),
        ("event_type.csv", True),
        ("notes.txt", False),
        ("subscription.csv", True),
    ]
    assert report.files[3].why == "not a file of the Fighting Churn layout"
