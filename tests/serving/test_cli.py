"""`steward serve` as a user runs it (settings from .env), and the demo's curl examples."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pandas as pd
import pytest

from serving.hints import curl_examples
from serving.routes.perspective import served_attributes
from tests.serving.conftest import KEYS, Home
from tests.serving.server import Running, free_port, wait_for

STEWARD = Path(sys.executable).parent / "steward"


def _env(home: Home) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEWARD_SERVE_")}
    return {
        **env,
        "STEWARD_HOME": str(home.root),
        "MLFLOW_TRACKING_URI": f"sqlite:///{home.root / 'mlflow.db'}",
    }


def test_new_key_then_serve_with_settings_from_a_dotenv_file(home: Home, tmp_path: Path) -> None:
    made = subprocess.run(
        [STEWARD, "serve", "--new-key", "forum-bot", "--scope", "posts:score"],
        capture_output=True,
        text=True,
        env=_env(home),
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    key = re.search(r"(stw_\S+)", made.stdout)[1]  # type: ignore[index]
    entry = json.loads(made.stdout.strip().splitlines()[-1])
    assert key not in json.dumps(entry) and entry["scopes"] == ["posts:score"]
    port = free_port()
    (tmp_path / ".env").write_text(
        f"STEWARD_SERVE_PORT={port}\nSTEWARD_SERVE_COMPONENTS='[\"toxicity\"]'\n"
        f"STEWARD_SERVE_API_KEYS='[{json.dumps(entry)}]'\n"
    )
    proc = subprocess.Popen(
        [STEWARD, "serve"],
        cwd=tmp_path,
        env=_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/readyz", timeout=120)
        url = f"http://127.0.0.1:{port}/v1/posts:score"
        body = {"posts": [{"id": "a", "text": "you idiot"}]}
        assert (
            httpx.post(url, json=body, headers={"Authorization": f"Bearer {key}"}).status_code
            == 200
        )
        assert httpx.post(url, json=body).status_code == 401
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out[-2000:]
    assert key not in out  # neither the key nor request text reach the log
    assert "you idiot" not in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["serve", "--host", "0.0.0.0", "--no-auth"], "only on a loopback host"),
        (["serve", "--new-key", "x", "--scope", "root"], "--scope ['root']"),
    ],
)
def test_unsafe_or_wrong_options_are_one_line_errors(
    home: Home, args: list[str], message: str
) -> None:
    done = subprocess.run(
        [STEWARD, *args], capture_output=True, text=True, env=_env(home), timeout=60
    )
    assert done.returncode == 1
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_the_demos_curl_examples_work(server: Running, home: Home, tmp_path: Path) -> None:
    member = str(pd.read_parquet(home.root / "scores" / "at_risk.parquet")["member_id"].iloc[0])
    host, port = server.url.removeprefix("http://").split(":")
    labels = server.app.state.steward.holder.current.toxicity.scorer.labels
    text = curl_examples(host, int(port), KEYS["all"][0], member, served_attributes(labels))
    assert "steward serve" in text and '"INSULT": {}' in text  # this model has insult
    commands = re.findall(r"^  (curl .*?)(?<!\\)$", text.replace("\\\n", " "), flags=re.M)
    assert len(commands) >= 7
    for command in commands:
        done = subprocess.run(
            ["bash", "-c", command], capture_output=True, text=True, cwd=tmp_path, timeout=60
        )
        assert done.returncode == 0, command
        assert '"error"' not in done.stdout, (command, done.stdout[:500])
        assert done.stdout or (tmp_path / "at_risk.csv").stat().st_size > 0, command
    assert (tmp_path / "at_risk.csv").read_text().startswith("member_id,")


def test_the_demos_perspective_example_asks_only_for_what_a_model_serves() -> None:
    # The demo's model on the public corpora has no insult label: its example must not ask.
    labels = ["toxicity", "identity_attack", "obscene", "threat"]
    text = curl_examples(attributes=served_attributes(labels))
    asked = re.search(r"-d '(\{\"comment\".*\})'", text)
    assert asked is not None
    requested = json.loads(asked.group(1))["requestedAttributes"]
    assert list(requested) == ["TOXICITY", "IDENTITY_ATTACK", "PROFANITY", "THREAT"]
