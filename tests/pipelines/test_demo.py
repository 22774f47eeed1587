"""`steward demo` end to end, as `make demo` runs it, on a small synthetic community."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from features.lake.store import Lake
from tests.conftest import require_shared


def run_demo(home: Path, *args: str, timeout: int) -> str:
    """`steward demo` on a small community in its own process; what it printed."""
    env = {"STEWARD_HOME": str(home), "PATH": "/usr/bin:/bin", "COLUMNS": "220"}
    code = "from pipelines.cli.main import main; main()"
    command = [sys.executable, "-c", code, "demo", "--members", "1500", "--days", "150", *args]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_demo_runs_the_whole_job(tmp_path: Path) -> None:
    # The linear model keeps this test quick; the default (MiniLM) is the slow test below.
    out = run_demo(tmp_path, "--toxicity-model", "linear", timeout=600)
    assert "synthetic" in out
    # One summary row per observation date, with a churn rate where labels are known.
    rates = re.findall(r"│ (\d{4}-\d\d-\d\d) .*│\s+(0\.\d{3})\s+│", out)
    assert len(rates) >= 3 and all(0.02 < float(r) < 0.6 for _, r in rates)
    assert "10 members most at risk" in out
    # Toxicity: example posts in both languages with an action each.
    assert re.search(r"│\s+en\s+│.*│\s+(allow|review|block)\s+│", out)
    assert re.search(r"│\s+zh\s+│.*│\s+(allow|review|block)\s+│", out)
    assert Lake(tmp_path / "lake").read("events").num_rows > 50_000
    assert (tmp_path / "scores" / "at_risk.parquet").exists()
    # It ends by telling how to serve, with a curl for the riskiest member it just scored.
    top = (
        duckdb.connect()
        .execute(
            "SELECT member_id FROM read_parquet(?) ORDER BY probability DESC, member_id LIMIT 1",
            [str(tmp_path / "scores" / "at_risk.parquet")],
        )
        .fetchall()
    )
    assert "steward serve --no-auth" in out
    assert f"/v1/members/{top[0][0]}/churn" in out


def _action(out: str, post: str) -> str:
    """The action the demo's example table shows for one post."""
    found = re.search(re.escape(post) + r"\s*│\s+\w+\s+│\s+[\d.]+\s+│\s+(\w+)\s+│", out)
    assert found, f"{post!r} is not in the example table"
    return found.group(1)


@pytest.mark.slow
@pytest.mark.realdata
def test_demo_by_default_trains_and_shows_the_served_toxicity_model(tmp_path: Path) -> None:
    """`make demo` as a newcomer runs it: MiniLM for English (about 6 minutes on 2 cores)."""
    require_shared("toxic_spans_civil")
    out = run_demo(tmp_path, timeout=1800)
    assert "linear + fine-tuned MiniLM for English" in out and "model minilm-" in out
    assert "[torch.onnx]" not in out  # the exporter's progress lines are kept out of the demo
    # Insults without swear words go to a person; friendly posts and counter-speech do not.
    assert _action(out, "You are an idiot and nobody wants you here.") in ("review", "block")
    assert _action(out, "You're a 1d10t, l3arn to read") in ("review", "block")
    assert _action(out, "Thanks for the tips, the meetup was great!") == "allow"
    assert _action(out, "Discrimination against Muslims is wrong.") == "allow"
    # The champion the demo leaves behind is what `steward serve` loads.
    assert "TOXICITY" in out and "IDENTITY_ATTACK" in out
