"""At-risk exports and file arguments: formula cells neutralised, only the fields asked for,
no file argument that reaches steward's own state or blocks on a pipe."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from features.scores.export import DEFAULT_FIELDS, neutralise
from pipelines.cli.main import app
from tests.support.cli import steward_main
from tests.support.exports import HOSTILE_IDS, SAFE_IDS, hostile_table


@pytest.fixture
def scored_home(steward_home: Path) -> Path:
    """STEWARD_HOME with the hostile at-risk table in place."""
    hostile_table(steward_home)
    return steward_home


def read_csv(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV file as text, exactly as a spreadsheet receives them."""
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_formula_cells_are_neutralised_and_plain_cells_untouched(
    scored_home: Path, tmp_path: Path
) -> None:
    out = tmp_path / "risk.csv"
    fields = "member_id,probability,reasons,intervention,attributes"
    result = CliRunner().invoke(
        app, ["at-risk", "--top", "50", "--csv", str(out), "--fields", fields]
    )
    assert result.exit_code == 0, result.output
    rows = read_csv(out)
    assert [r["member_id"] for r in rows] == ["'" + i for i in HOSTILE_IDS] + SAFE_IDS
    assert all(r["reasons"] == '\'=WEBSERVICE("http://x"); posts fell 80%' for r in rows)
    assert all(r["intervention"] == "'@reach out" for r in rows)
    # JSON text starts with "{": not a formula, so it stays parseable.
    assert json.loads(rows[0]["attributes"]) == {"name": '=HYPERLINK("http://x")'}
    assert float(rows[0]["probability"]) == pytest.approx(0.9)  # numbers stay numbers
    for row in rows:
        for cell in row.values():
            assert not cell.lstrip().startswith(("=", "+", "-", "@")) and cell[:1] not in "\t\r"


def test_neutralise_leaves_text_that_only_contains_formula_characters() -> None:
    assert neutralise("a=b") == "a=b" and neutralise("3 - 1") == "3 - 1"
    assert neutralise("-") == "'-" and neutralise("\r=x") == "'\r=x"


def test_the_export_holds_only_the_fields_asked_for(scored_home: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    default, chosen = tmp_path / "default.csv", tmp_path / "chosen.csv"
    assert runner.invoke(app, ["at-risk", "--csv", str(default)]).exit_code == 0
    with default.open() as fh:
        assert next(csv.reader(fh)) == list(DEFAULT_FIELDS)  # no attributes, no drivers
    args = ["at-risk", "--csv", str(chosen), "--fields", "tier", "--fields", "tier,attributes"]
    assert runner.invoke(app, args).exit_code == 0
    with chosen.open() as fh:
        assert next(csv.reader(fh)) == ["member_id", "tier", "attributes"]
    unknown = runner.invoke(app, ["at-risk", "--csv", str(chosen), "--fields", "email"])
    assert isinstance(unknown.exception, ValueError) and "'email'" in str(unknown.exception)
    alone = runner.invoke(app, ["at-risk", "--fields", "tier"])
    assert isinstance(alone.exception, ValueError) and "--csv" in str(alone.exception)


def test_csv_output_cannot_reach_steward_state_or_write_through_a_link(
    scored_home: Path, tmp_path: Path
) -> None:
    state = scored_home / "scores" / "at_risk.parquet"
    before = state.read_bytes()
    link = tmp_path / "innocent.csv"
    link.symlink_to(state)
    folder = tmp_path / "a-folder.csv"
    folder.mkdir()
    refused = {
        scored_home / "scores" / "export.csv": "inside STEWARD_HOME",
        tmp_path / ".." / ".." / "etc" / "passwd": "ending in .csv",
        link: "ending in .csv",  # resolves to at_risk.parquet
        folder: "is a folder",
        tmp_path / "missing" / "x.csv": "does not exist",
    }
    runner = CliRunner()
    for target, message in refused.items():
        result = runner.invoke(app, ["at-risk", "--csv", str(target)])
        assert isinstance(result.exception, ValueError), target
        assert message in str(result.exception), (target, result.exception)
    assert state.read_bytes() == before and link.is_symlink()
    assert not (scored_home / "scores" / "export.csv").exists()
    # A link to a CSV elsewhere is replaced by the new file, never written through.
    elsewhere = tmp_path / "elsewhere.csv"
    elsewhere.write_text("kept\n")
    link2 = tmp_path / "via-link.csv"
    link2.symlink_to(elsewhere)
    assert runner.invoke(app, ["at-risk", "--csv", str(link2)]).exit_code == 0
    assert elsewhere.read_text() == "kept\n" and not link2.is_symlink()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_input_arguments_must_be_regular_files_or_folders(tmp_path: Path) -> None:
    fifo = tmp_path / "events.csv"
    os.mkfifo(fifo)  # reading it would block forever: refused before it is opened
    folder = tmp_path / "dump"
    folder.mkdir()
    cases = [
        (["ingest", "generic", str(fifo), "--table", "events"], "is not a regular file"),
        (["ingest", "generic", str(folder), "--table", "events"], "is not a regular file"),
        (["ingest", "stackexchange", str(tmp_path / "nope")], "does not exist"),
        (["ingest", "fightchurn", str(fifo)], "is not a folder"),
    ]
    for args, message in cases:
        result = steward_main(*args, home=tmp_path / "home")
        assert result.returncode == 1 and message in result.stderr, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1


def test_names_that_become_folders_cannot_climb_out(tmp_path: Path) -> None:
    from pydantic import ValidationError

    from models.toxicity.config import ToxicityConfig
    from pipelines.experiments.config import load_experiment

    with pytest.raises(ValidationError, match=r"should match pattern"):
        ToxicityConfig.model_validate({"tracking": {"experiment": "../../outside"}})
    odd = tmp_path / "my run.yaml"
    odd.write_text("task: churn\n")
    with pytest.raises(ValueError, match="file's name is the MLflow experiment's"):
        load_experiment(odd)
