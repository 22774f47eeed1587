"""Ingest: validation reasons, reconciliation, idempotence and atomic publish."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest

from features.adapters.generic import GenericSource
from features.lake.store import Lake
from pipelines.ingest import ingest_source
from tests.support.lakes import lake_state

MAPPING = {"member_id": "uid", "ts": "when", "event_type": "what", "value": "v", "target_id": "to"}

GOOD = [
    "1,2026-01-01T10:00:00,post,,p1",
    "2,2026-01-02 03:04:05,login,,",
    "3,2026-01-03,points_earned,12.5,",
]
BAD = {
    "missing member_id": ",2026-01-01,login,,",
    "bad timestamp in ts": "4,2026-13-45,login,,",
    "missing ts": "5,,login,,",
    "unknown event_type (a type of your own is named x_<name>)": "6,2026-01-01,teleport,,",
    "value is not a number": "7,2026-01-01,points_earned,lots,",
    "malformed line: expected 5 fields, got 6": "8,2026-01-01,login,,,surplus",
}


def _write_csv(path: Path, lines: list[str], gz: bool = False) -> Path:
    text = "uid,when,what,v,to\n" + "\n".join(lines) + "\n"
    if gz:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


@pytest.fixture
def events_csv(tmp_path: Path) -> Path:
    return _write_csv(tmp_path / "events.csv", GOOD + list(BAD.values()))


def test_each_bad_row_is_quarantined_with_its_reason(tmp_path: Path, events_csv: Path) -> None:
    lake = Lake(tmp_path / "lake")
    report = ingest_source(lake, GenericSource(events_csv, "events", MAPPING))
    assert report.kept["events"] == len(GOOD)
    assert {reason: n for (_, reason), n in report.quarantined.items()} == dict.fromkeys(BAD, 1)
    quarantine = lake.read("quarantine").to_pandas().set_index("reason")
    for reason, line in BAD.items():
        row = quarantine.loc[reason]
        # The original row is kept: every raw field can be found in what was quarantined.
        fields = [f for f in line.split(",") if f]
        raw = row["raw"]
        if not reason.startswith("malformed"):
            # The row as it stood in the source: its own column names, not the canonical ones.
            assert set(json.loads(raw)) == {"uid", "when", "what", "v", "to"}
            raw = " ".join(str(v) for v in json.loads(raw).values())
        assert all(f in raw for f in fields), (reason, raw)
    # Row numbers point at the data row in the file (1-based, header not counted).
    expected_rows = {reason: len(GOOD) + i + 1 for i, reason in enumerate(BAD)}
    assert quarantine["row_number"].to_dict() == expected_rows


def test_counts_reconcile_and_types_are_canonical(tmp_path: Path, events_csv: Path) -> None:
    lake = Lake(tmp_path / "lake")
    report = ingest_source(lake, GenericSource(events_csv, "events", MAPPING))
    assert report.read["events"] == len(GOOD) + len(BAD)
    assert report.read["events"] == report.kept["events"] + report.quarantined_in("events")
    # The names behind "unknown event_type", for the hint on what to map.
    assert report.unknown_event_types == {"teleport": 1}
    events = lake.read("events").to_pandas()
    assert list(events["member_id"]) == ["1", "2", "3"]
    assert str(events["ts"].dt.tz) == "UTC"
    assert events["ts"].iloc[1] == pd.Timestamp("2026-01-02 03:04:05", tz="UTC")
    assert events["value"].iloc[2] == 12.5
    assert events["target_id"].iloc[0] == "p1" and pd.isna(events["target_id"].iloc[1])


def test_text_that_looks_like_null_is_kept(tmp_path: Path) -> None:
    # 'NA' is a member called NA (or Namibia), not a missing value.
    path = _write_csv(tmp_path / "na.csv", ["NA,2026-01-01,login,,null"])
    lake = Lake(tmp_path / "lake")
    assert ingest_source(lake, GenericSource(path, "events", MAPPING)).kept["events"] == 1
    row = lake.read("events").to_pylist()[0]
    assert row["member_id"] == "NA" and row["target_id"] == "null"


def test_reingest_adds_nothing(tmp_path: Path, events_csv: Path) -> None:
    lake = Lake(tmp_path / "lake")
    first = ingest_source(lake, GenericSource(events_csv, "events", MAPPING))
    before = lake_state(lake.root)
    again = ingest_source(lake, GenericSource(events_csv, "events", MAPPING))
    assert again.already_ingested and again.ingest_id == first.ingest_id
    assert lake_state(lake.root) == before
    assert lake.read("events").num_rows == len(GOOD)


def test_failure_midway_leaves_lake_unchanged(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    first = _write_csv(tmp_path / "first.csv", GOOD)
    ingest_source(lake, GenericSource(first, "events", MAPPING))
    before = lake_state(lake.root)

    # Five batches of two rows; the source breaks while the third is being read.
    big = _write_csv(tmp_path / "big.csv", [f"{i},2026-02-01,login,," for i in range(10)])
    source = GenericSource(big, "events", MAPPING, batch_rows=2)
    batches = source.batches

    def failing():  # type: ignore[no-untyped-def]
        for n, batch in enumerate(batches()):
            if n == 2:
                raise OSError("disk went away")
            yield batch

    source.batches = failing  # type: ignore[method-assign]
    with pytest.raises(OSError, match="disk went away"):
        ingest_source(lake, source)
    assert lake_state(lake.root) == before
    assert lake.read("events").num_rows == len(GOOD)
    # The same file ingests cleanly afterwards: nothing half-written blocks it.
    report = ingest_source(lake, GenericSource(big, "events", MAPPING, batch_rows=2))
    assert report.kept["events"] == 10 and lake.read("events").num_rows == len(GOOD) + 10


def test_streams_in_batches_with_gzip(tmp_path: Path) -> None:
    path = _write_csv(
        tmp_path / "e.csv.gz", [f"{i},2026-03-01,login,," for i in range(25)], gz=True
    )
    source = GenericSource(path, "events", MAPPING, batch_rows=10)
    sizes = [len(b.frame) for b in source.batches()]
    assert sizes == [10, 10, 5]
    assert ingest_source(Lake(tmp_path / "lake"), source).kept["events"] == 25


def test_jsonl_and_parquet_sources(tmp_path: Path) -> None:
    lines = [
        json.dumps({"uid": "1", "when": "2026-01-01", "what": "post"}),
        "{not json",
        json.dumps({"uid": "2", "when": "2026-01-02", "what": "login", "v": 3}),
    ]
    jsonl = tmp_path / "e.jsonl"
    jsonl.write_text("\n".join(lines) + "\n")
    lake = Lake(tmp_path / "lake")
    report = ingest_source(lake, GenericSource(jsonl, "events", MAPPING))
    assert report.kept["events"] == 2
    assert [r for (_, r) in report.quarantined] == [
        "malformed JSON: Expecting property name enclosed in double quotes"
    ]

    frame = pd.DataFrame(
        {
            "uid": [10, 11],
            "when": pd.to_datetime(["2026-01-05", "2026-01-06"]),
            "what": ["post", "nope"],
        }
    )
    frame.to_parquet(tmp_path / "e.parquet")
    parquet_mapping = {"member_id": "uid", "ts": "when", "event_type": "what"}
    report = ingest_source(lake, GenericSource(tmp_path / "e.parquet", "events", parquet_mapping))
    assert report.kept["events"] == 1 and report.quarantined_in("events") == 1
    assert "10" in set(lake.read("events").column("member_id").to_pylist())


def test_mapping_errors_are_clear(tmp_path: Path, events_csv: Path) -> None:
    with pytest.raises(ValueError, match="does not have"):
        GenericSource(events_csv, "events", {"memberid": "uid"})
    with pytest.raises(ValueError, match="unknown table"):
        GenericSource(events_csv, "evnts", {})
    source = GenericSource(events_csv, "events", {**MAPPING, "member_id": "user"})
    with pytest.raises(ValueError, match=r"mapped columns \['user'\] are not in the file"):
        ingest_source(Lake(tmp_path / "lake"), source)


def test_typed_columns_with_nulls_are_quarantined_as_missing(tmp_path: Path) -> None:
    # Typed (Parquet) columns take the fast path: a null is missing, any value is present.
    frame = pd.DataFrame(
        {
            "uid": ["1", "2", " ", "4"],
            "when": pd.to_datetime(["2026-01-05", "NaT", "2026-01-06", "2026-01-07"], utc=True),
            "what": ["post", "login", "login", "points_earned"],
            "v": [None, 0.0, None, float("nan")],
        }
    )
    frame.to_parquet(tmp_path / "e.parquet")
    mapping = {"member_id": "uid", "ts": "when", "event_type": "what", "value": "v"}
    lake = Lake(tmp_path / "lake")
    report = ingest_source(lake, GenericSource(tmp_path / "e.parquet", "events", mapping))
    assert report.kept["events"] == 2
    assert {r: n for (_, r), n in report.quarantined.items()} == {
        "missing ts": 1,
        "missing member_id": 1,
    }
    kept = lake.read("events").to_pandas()
    assert sorted(kept["member_id"]) == ["1", "4"]
    assert kept["value"].isna().all()  # an optional number may be null


def test_two_ingests_of_one_file_at_once_publish_it_once(tmp_path: Path) -> None:
    import threading

    # Big enough that both pass the first "already ingested?" look before either publishes:
    # the second then finds the first's entry under the writer lock.
    lines = [f"{i},2026-01-0{1 + i % 9}T10:00:00,login,," for i in range(50_000)]
    path = _write_csv(tmp_path / "events.csv", lines)
    lake = Lake(tmp_path / "lake")
    start = threading.Barrier(2)
    reports = []

    def run() -> None:
        start.wait()
        reports.append(ingest_source(lake, GenericSource(path, "events", MAPPING)))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(lake.manifest()["ingests"]) == 1
    assert lake.read("events").num_rows == 50_000
    first, second = sorted(reports, key=lambda r: r.already_ingested)
    assert not first.already_ingested and second.already_ingested
    assert second.ingest_id == first.ingest_id
    # The one that waited says what the other kept.
    assert second.earlier is not None and second.earlier["kept"] == {"events": 50_000}
