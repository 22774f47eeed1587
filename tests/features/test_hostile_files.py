"""Hostile export files: bytes that are not UTF-8, NUL and control characters, nesting bombs,
XML entity bombs and external entities. Each row is kept or quarantined with why; a file that
cannot be read at all is refused with its name, and the lake stays as it was."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from features.adapters.generic import GenericSource
from features.adapters.stackexchange import StackExchangeSource
from features.lake.store import Lake
from pipelines.ingest import ingest_source
from tests.support.lakes import lake_state

HEADER = b"member_id,ts,event_type\n"


def quarantine(lake: Lake) -> dict[int, tuple[str, str]]:
    """row_number -> (reason, raw) of everything quarantined."""
    frame = lake.read("quarantine").to_pandas()
    return {int(r.row_number): (r.reason, r.raw) for r in frame.itertuples()}


def test_rows_that_are_not_utf8_are_quarantined_and_the_rest_kept(tmp_path: Path) -> None:
    rows = [b"1,2026-01-01,login", b"2\xff\xfe,2026-01-02,login", b"3,2026-01-03,post"]
    rows += [b"4,2026-01-04,comment\xc3", b"5,2026-01-05,login"]
    path = tmp_path / "events.csv"
    path.write_bytes(HEADER + b"\n".join(rows) + b"\n")
    lake = Lake(tmp_path / "lake")
    report = ingest_source(lake, GenericSource(path, "events"))
    assert report.reconciles() and report.read["events"] == 5 and report.kept["events"] == 3
    assert sorted(lake.read("events").column("member_id").to_pylist()) == ["1", "3", "5"]
    found = quarantine(lake)
    assert found[2] == ("not valid UTF-8 in member_id (byte 1)", "2\\xff\\xfe,2026-01-02,login")
    assert found[4][0] == "not valid UTF-8 in event_type (byte 7)"


def test_a_header_that_is_not_utf8_refuses_the_file_and_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_bytes(b"member\xff_id,ts,event_type\n1,2026-01-01,login\n")
    lake = Lake(tmp_path / "lake")
    with pytest.raises(ValueError, match=r"events\.csv: the header line is not UTF-8"):
        ingest_source(lake, GenericSource(path, "events"))
    assert lake.manifest()["ingests"] == []


def test_jsonl_bad_bytes_and_nesting_bombs_are_quarantined(tmp_path: Path) -> None:
    lines = [
        b'{"member_id": "1", "ts": "2026-01-01", "event_type": "login"}',
        b'{"member_id": "2\xff", "ts": "2026-01-01", "event_type": "login"}',
        b"[" * 200_000 + b"]" * 200_000,  # 200k levels: json.loads would recurse past the stack
        b'{"member_id": "4", "ts": "2026-01-02", "event_type": "post"}',
    ]
    path = tmp_path / "events.jsonl.gz"  # gzip JSON Lines are read too
    path.write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
    lake = Lake(tmp_path / "lake")
    report = ingest_source(lake, GenericSource(path, "events"))
    assert report.reconciles() and report.kept["events"] == 2
    found = quarantine(lake)
    assert found[2][0] == "not valid UTF-8 (byte 16)" and "\\xff" in found[2][1]
    assert found[3][0] == "malformed JSON: nested too deeply"


def test_nul_and_control_characters_are_data_not_crashes(tmp_path: Path) -> None:
    rows = [b"a\x00b,2026-01-01,login", b"c\x1b[31m,2026-01-01,login", b"d,2026-01-01\x00,login"]
    path = tmp_path / "events.csv"
    path.write_bytes(HEADER + b"\n".join(rows) + b"\n")
    lake = Lake(tmp_path / "lake")
    report = ingest_source(lake, GenericSource(path, "events"))
    assert report.reconciles() and report.kept["events"] == 2
    # Member ids are opaque text: kept byte for byte, for whoever reads them to escape.
    assert sorted(lake.read("events").column("member_id").to_pylist()) == ["a\x00b", "c\x1b[31m"]
    assert quarantine(lake)[3][0] == "bad timestamp in ts"


BOMB = """<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE users [
 <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
 <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
 <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
 <!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
 <!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">
 <!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">
]>
<users><row Id="1" CreationDate="2020-01-01T10:00:00.000" DisplayName="&f;" /></users>
"""

EXTERNAL = """<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE users [ <!ENTITY leak SYSTEM "file:///etc/passwd"> ]>
<users><row Id="1" CreationDate="2020-01-01T10:00:00.000" DisplayName="&leak;" /></users>
"""


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        (BOMB, "amplification"),  # 6 levels x 24 = 15 GB of text if expanded
        (EXTERNAL, "external entity"),
    ],
)
def test_xml_entity_bombs_and_external_entities_are_refused(
    tmp_path: Path,
    dump: Path,
    xml: str,
    message: str,
) -> None:
    lake = Lake(tmp_path / "lake")
    ingest_source(lake, GenericSource(_events(tmp_path), "events"))
    before = lake_state(lake.root)
    (dump / "Users.xml").write_text(xml, encoding="utf-8")
    with pytest.raises(ValueError, match=rf"Users\.xml: malformed XML after row 0: .*{message}"):
        ingest_source(lake, StackExchangeSource(dump))
    assert lake_state(lake.root) == before


def _events(folder: Path) -> Path:
    """A one-row events file, so that 'unchanged' is about a lake that holds something."""
    path = folder / "one.csv"
    path.write_bytes(HEADER + b"1,2026-01-01,login\n")
    return path
