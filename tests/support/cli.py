"""The `steward` CLI run in a child process, two ways.

steward_main runs the CLI's main() under this interpreter with a bare environment (no HOME, no
MLflow settings): what a person sees from a command. steward_script runs the installed `steward`
console script with MLflow's store in the home and, if asked, a failpoint armed: what the kill
and cluster tests drive.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

STEWARD_SCRIPT = str(Path(sys.executable).with_name("steward"))


def steward_main(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    """Run `steward ARGS` in a child process with STEWARD_HOME set."""
    code = "from pipelines.cli.main import main; main()"
    env = {"STEWARD_HOME": str(home), "PATH": "/usr/bin:/bin", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=120
    )


def steward_script(
    home: Path, *args: str, failpoint: str | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run the real `steward` CLI against home (a clean environment: no pytest variables)."""
    return subprocess.run(
        [STEWARD_SCRIPT, *args],
        env=steward_env(home, failpoint),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def steward_env(home: Path, failpoint: str | None = None) -> dict[str, str]:
    """STEWARD_HOME and MLflow's SQLite store in home, and the failpoint if any."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "STEWARD_HOME": str(home),
        "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "COLUMNS": "200",
    }
    if failpoint:
        env["STEWARD_FAILPOINT"] = failpoint
    return env
