"""What the command line prints when it is piped: whole tables, CSV or JSON, helpful help."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

LONG_REASON = "malformed line: expected 3 fields, got 5"


def steward(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    """`steward ARGS` in a child process whose output is a pipe, with no COLUMNS set."""
    code = "from pipelines.cli.main import main; main()"
    env = {"STEWARD_HOME": str(home), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=120
    )


def _ingest_args(tmp_path: Path) -> list[str]:
    path = tmp_path / "e.csv"
    path.write_text(
        "who,when,what\n1,2026-01-01,login\n2,yesterday,login\n3,2026-01-02,login,x,y\n"
    )
    args = ["ingest", "generic", str(path), "--table", "events"]
    return [*args, "--map", "member_id=who", "--map", "ts=when", "--map", "event_type=what"]


def test_a_piped_table_is_never_cut_to_80_columns(tmp_path: Path) -> None:
    result = steward(*_ingest_args(tmp_path), home=tmp_path / "home")
    assert result.returncode == 0, result.stderr
    # Wider than 80 columns: whole, each reason on one line, not wrapped or cut with an ellipsis.
    assert LONG_REASON in result.stdout and "…" not in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) > 80


def test_ingest_prints_csv_and_json_for_programs(tmp_path: Path) -> None:
    args = _ingest_args(tmp_path)
    as_json = steward(*args, "--format", "json", home=tmp_path / "a")
    assert as_json.returncode == 0, as_json.stderr
    rows = json.loads(as_json.stdout)["ingest"]
    assert rows[0] | {"ingest_id": None} == {
        "ingest_id": None,
        "source": "generic",
        "table": "events",
        "read": 3,
        "kept": 1,
        "quarantined": None,
        "excluded": None,
        "reason": None,
    }
    assert {r["reason"]: r["quarantined"] for r in rows[1:]} == {
        "bad timestamp in ts": 1,
        LONG_REASON: 1,
    }
    as_csv = steward(*args, "--format", "csv", home=tmp_path / "b")
    assert as_csv.returncode == 0, as_csv.stderr
    table = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [(r["table"], r["read"], r["quarantined"], r["reason"]) for r in table] == [
        ("events", "3", "", ""),
        ("events", "", "1", "bad timestamp in ts"),
        ("events", "", "1", LONG_REASON),
    ]
    status = steward("lake", "status", "--format", "json", home=tmp_path / "b")
    assert {"table": "events", "rows": 1, "reason": ""} in json.loads(status.stdout)
    wrong = steward(*args, "--format", "yaml", home=tmp_path / "c")
    assert wrong.returncode == 1
    assert wrong.stderr.strip() == "steward: error: --format 'yaml': give one of table, csv, json"


def test_fightchurn_help_names_every_file_it_needs(tmp_path: Path) -> None:
    result = steward("ingest", "fightchurn", "--help", home=tmp_path)
    assert result.returncode == 0, result.stderr
    for name in ("account.csv", "subscription.csv", "event.csv", "event_type.csv"):
        assert name in result.stdout, name
