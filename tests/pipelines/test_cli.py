"""The CLI as a person runs it: a real process, its output and exit code."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from features.lake.store import Lake
from features.members.store import read_features
from tests.support.cli import steward_main


def test_ingest_generic_prints_counts_by_reason(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text("who,when,what\n1,2026-01-01,login\n2,yesterday,login\n3,2026-01-02,fly\n")
    args = ["ingest", "generic", str(path), "--table", "events"]
    args += ["--map", "member_id=who", "--map", "ts=when", "--map", "event_type=what"]
    result = steward_main(*args, home=tmp_path / "home")
    assert result.returncode == 0, result.stderr
    assert "bad timestamp in ts" in result.stdout and "unknown event_type" in result.stdout
    assert Lake(tmp_path / "home" / "lake").read("events").num_rows == 1
    again = steward_main(*args, home=tmp_path / "home")
    # Nothing read the second time: the line says what the ingest that has the file did, and
    # names the unknown type again (an empty table before).
    text = " ".join(again.stdout.split())
    assert "already ingested" in text and "that ingest read 3 rows, kept 1, quarantined 2" in text
    assert "'fly' (1 row)" in text
    assert Lake(tmp_path / "home" / "lake").read("events").num_rows == 1


def test_ingest_generic_maps_a_products_own_event_onto_a_custom_type(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text(
        "who,when,what\n1,2026-01-01,quest_done\n2,2026-01-02,login\n3,2026-01-02,fly\n"
    )
    args = ["ingest", "generic", str(path), "--table", "events"]
    args += ["--map", "member_id=who", "--map", "ts=when", "--map", "event_type=what"]
    args += ["--event-type", "quest_done=x_quest_done"]
    result = steward_main(*args, home=tmp_path / "home")
    assert result.returncode == 0, result.stderr
    # The unmapped name is still refused, and the reason says how to keep it.
    assert "a type of your own is named x_<name>" in result.stdout
    kinds = Lake(tmp_path / "home" / "lake").read("events").column("event_type").to_pylist()
    assert sorted(kinds) == ["login", "x_quest_done"]


def test_ingest_generic_keeps_every_unknown_event_type_as_custom_when_asked(
    tmp_path: Path,
) -> None:
    path = tmp_path / "e.csv"
    path.write_text(
        "who,when,what\n1,2026-01-01,Quest Done\n2,2026-01-02,login\n3,2026-01-02,fly\n"
        "4,2026-01-03,quest_done\n"
    )
    args = ["ingest", "generic", str(path), "--table", "events"]
    args += ["--map", "member_id=who", "--map", "ts=when", "--map", "event_type=what"]
    result = steward_main(*args, "--custom-events", home=tmp_path / "home")
    assert result.returncode == 0, result.stderr
    kinds = Lake(tmp_path / "home" / "lake").read("events").column("event_type").to_pylist()
    assert sorted(kinds) == ["login", "x_fly", "x_quest_done", "x_quest_done"]
    # Two names cleaned into one type: kept (often two spellings of one action), and said.
    text = " ".join(result.stdout.split())
    assert "note: x_quest_done holds 2 source names: 'Quest Done', 'quest_done'" in text
    assert "x_fly holds" not in text
    # Without the flag the names steward has no type for are refused, as before.
    plain = steward_main(*args, home=tmp_path / "plain")
    assert plain.returncode == 0 and "unknown event_type" in plain.stdout
    assert Lake(tmp_path / "plain" / "lake").read("events").num_rows == 1


def test_ingest_generic_names_the_event_types_it_could_not_map_and_the_fix(
    tmp_path: Path,
) -> None:
    # A newcomer's first try at the book's export: its event types are ids (0 = post, ...).
    path = tmp_path / "e.csv"
    rows = [f"0,2020-01-0{1 + i % 3}T10:00:00,{kind}" for i, kind in enumerate("0020")]
    path.write_text("account_id,event_time,event_type_id\n" + "\n".join(rows) + "\n")
    args = ["ingest", "generic", str(path), "--table", "events", "--map", "member_id=account_id"]
    args += ["--map", "ts=event_time", "--map", "event_type=event_type_id"]
    result = steward_main(*args, home=tmp_path / "home")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())  # the console wraps lines
    assert "2 event_type values steward has no type for" in text
    assert "'0' (3 rows), '2' (1 row)" in text
    assert "--event-type 0=post" in text and "--custom-events" in text
    as_json = steward_main(*args, "--format", "json", home=tmp_path / "other")
    assert json.loads(as_json.stdout)["unknown_event_types"] == {"0": 3, "2": 1}
    # Mapped, every row is kept and no hint is printed.
    mapped = steward_main(
        *args, "--event-type", "0=post", "--event-type", "2=like_given", home=tmp_path / "home"
    )
    assert "no type for" not in mapped.stdout
    assert Lake(tmp_path / "home" / "lake").read("events").num_rows == 4


def test_errors_are_one_line_not_a_traceback(tmp_path: Path) -> None:
    result = steward_main("features", "build", "--every", "fortnight", home=tmp_path)
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        == "steward: error: --every 'fortnight': give a number of days such as 14d"
    )
    missing = steward_main(
        "ingest", "generic", str(tmp_path / "nope.csv"), "--table", "events", home=tmp_path
    )
    assert missing.returncode == 1
    assert "Traceback" not in missing.stderr and "nope.csv" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1


def test_features_build_with_either_engine_writes_the_same_files(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert steward_main("simulate", "--members", "300", "--days", "90", home=home).returncode == 0
    written = {}
    for engine in ("sql", "arrays"):
        result = steward_main("features", "build", "--every", "14d", "--engine", engine, home=home)
        assert result.returncode == 0, result.stderr
        assert "events/s" in result.stdout
        written[engine] = read_features(home / "features" / "member_features")
    assert written["arrays"].num_rows > 0
    assert written["arrays"].equals(written["sql"])
    # The simulator has no subscriptions: the data end is the last event day, and it is said.
    assert "data end " in result.stdout and "earliest of the tables' last days" in result.stdout
    first = min(written["arrays"]["as_of"].to_pylist())
    last = first + timedelta(days=28)
    ranged = steward_main(
        "features", "build", "--from", str(first), "--to", str(last), "--every", "7d", home=home
    )
    assert ranged.returncode == 0, ranged.stderr
    built = json.loads((home / "features" / "member_features" / "_features.json").read_text())
    assert built["as_of"] == [str(first + timedelta(days=7 * k)) for k in range(5)]
    unbounded = steward_main("features", "build", "--from", str(first), home=home)
    assert unbounded.returncode == 1 and "give --every 7d too" in unbounded.stderr
    open_start = steward_main("features", "build", "--to", str(last), "--every", "7d", home=home)
    assert open_start.returncode == 1 and "give --from DATE too" in open_start.stderr
    backwards = ["--from", str(last), "--to", str(first), "--every", "7d"]
    reversed_ = steward_main("features", "build", *backwards, home=home)
    assert reversed_.returncode == 1 and "is after --to" in reversed_.stderr
    wrong = steward_main("features", "build", "--every", "14d", "--engine", "spork", home=home)
    assert wrong.returncode == 1
    assert (
        wrong.stderr.strip() == "steward: error: --engine 'spork': give one of arrays, sql, spark"
    )


def test_spark_engine_without_java_is_one_line(tmp_path: Path) -> None:
    code = "from pipelines.cli.main import main; main()"
    # A JAVA_HOME without a java in it, and no java on PATH: what a machine without a JDK is.
    env = {"STEWARD_HOME": str(tmp_path), "PATH": str(tmp_path), "JAVA_HOME": str(tmp_path)}
    for args in (["features", "build", "--every", "14d"], ["score", "members"]):
        result = subprocess.run(
            [sys.executable, "-c", code, *args, "--engine", "spark"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert result.returncode == 1
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("steward: error: "), result.stderr
        assert ("pyspark is not installed" in lines[0]) or ("Java is not installed" in lines[0])


def test_mapping_typo_names_the_column(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text("who,when,what\n1,2026-01-01,login\n")
    result = steward_main(
        "ingest", "generic", str(path), "--table", "events", "--map", "membr_id=who", home=tmp_path
    )
    assert result.returncode == 1
    assert "membr_id" in result.stderr and "Traceback" not in result.stderr
