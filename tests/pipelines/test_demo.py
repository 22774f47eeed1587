"""`steward demo` end to end, as `make demo` runs it, on a small synthetic community."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import duckdb

from features.lake.store import Lake


def test_demo_runs_the_whole_job(tmp_path: Path) -> None:
    env = {"STEWARD_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "COLUMNS": "220"}
    code = "from pipelines.cli.main import main; main()"
    result = subprocess.run(
        [sys.executable, "-c", code, "demo", "--members", "1500", "--days", "150"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
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
