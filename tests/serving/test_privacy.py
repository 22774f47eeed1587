"""End to end: `steward serve` at INFO (access log on) logs no API key and no request text.

The in-process check of the log record is in test_perspective.py, and test_cli.py checks one
key and text in `make test`; these run the real command (~8 s each, so slow) with keys in every
place they travel, and read everything it printed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from serving.settings import hash_key
from tests.serving.conftest import KEYS, Home
from tests.serving.server import free_port, wait_for

STEWARD = Path(sys.executable).parent / "steward"
KEY = KEYS["posts"][0]
WRONG_KEY = "k-wrong-" + uuid.uuid4().hex


def _serve_and_send(home: Home, folder: Path, marker: str, log_text: bool) -> str:
    """Run `steward serve`, send keyed requests carrying `marker`, stop it; all it printed."""
    port = free_port()
    entry = {"name": "bot", "sha256": hash_key(KEY), "scopes": ["posts:score"]}
    (folder / ".env").write_text(
        f"STEWARD_SERVE_PORT={port}\nSTEWARD_SERVE_COMPONENTS='[\"toxicity\"]'\n"
        f"STEWARD_SERVE_API_KEYS='[{json.dumps(entry)}]'\n"
        f"STEWARD_SERVE_LOG_TEXT={'true' if log_text else 'false'}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEWARD_SERVE_")}
    env |= {
        "STEWARD_HOME": str(home.root),
        "MLFLOW_TRACKING_URI": f"sqlite:///{home.root / 'mlflow.db'}",
    }
    proc = subprocess.Popen(
        [STEWARD, "serve"],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/readyz", timeout=120)
        _send(base, marker)
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out[-2000:]
    return out


def _send(base: str, marker: str) -> None:
    """Valid and wrong keys in every place a key may travel, with the marker as the text."""
    posts = {"posts": [{"id": "a", "text": f"you idiot {marker}"}]}
    # The language is given, as Perspective clients do: the marker alone reads as no known language.
    analyze = {
        "comment": {"text": f"you idiot {marker}"},
        "languages": ["en"],
        "requestedAttributes": {"TOXICITY": {}},
    }
    with httpx.Client(base_url=base, timeout=60) as c:
        for key, ok in ((KEY, 200), (WRONG_KEY, 401)):
            sent = [
                c.post("/v1/posts:score", json=posts, headers={"Authorization": f"Bearer {key}"}),
                c.post("/v1/posts:score", json=posts, headers={"X-API-Key": key}),
                c.post(f"/v1/posts:score?key={key}", json=posts),
                c.post(f"/v1alpha1/comments:analyze?key={key}", json=analyze),
                c.post(f"/v1alpha1/comments:analyze?alt=json&key={key}&x=1", json=analyze),
            ]
            assert [a.status_code for a in sent] == [ok] * len(sent)
        # Errors that quote the request must not quote the text or the key either.
        bad = c.post(
            f"/v1/posts:score?key={KEY}", json={"posts": [{"id": "a", "text": marker, "x": 1}]}
        )
        assert bad.status_code == 422
        assert c.get(f"/nowhere?key={WRONG_KEY}").status_code == 404


@pytest.mark.slow
def test_serve_logs_neither_keys_nor_text(home: Home, tmp_path: Path) -> None:
    marker = "marker-" + uuid.uuid4().hex
    out = _serve_and_send(home, tmp_path, marker, log_text=False)
    assert "POST /v1/posts:score" in out and "/v1alpha1/comments:analyze" in out  # access log
    assert "key=REDACTED" in out
    assert KEY not in out and WRONG_KEY not in out
    assert marker not in out


@pytest.mark.slow
def test_with_log_text_the_text_is_logged_but_never_a_key(home: Home, tmp_path: Path) -> None:
    marker = "marker-" + uuid.uuid4().hex
    out = _serve_and_send(home, tmp_path, marker, log_text=True)
    assert marker in out  # so the test above would see a leaked text
    assert KEY not in out and WRONG_KEY not in out
