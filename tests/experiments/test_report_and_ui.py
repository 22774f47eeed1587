"""The report page on its own (escaping, champion column) and `steward ui` on the local store."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from pipelines.cli.experiment import ui_command
from pipelines.experiments.report import _headline, render_report
from pipelines.experiments.run import Champion


def test_the_page_escapes_posts_and_shows_the_champion_beside_the_run() -> None:
    champion = Champion("steward-churn", "3", {"roc_auc": 0.90, "brier": 0.05})
    rows = _headline(["roc_auc", "brier"], "roc_auc", {"roc_auc": 0.93, "brier": 0.06}, champion)
    html = render_report(
        {
            "title": "churn_lgbm: churn-lgbm",
            "run_id": "abc123",
            "headline": rows,
            "champion": champion,
            "errors": [
                {
                    "error": "missed",
                    "probability": "0.0100",
                    "source": "forum",
                    "lang": "en",
                    "text": "<script>alert(1)</script> you idiot",
                }
            ],
        }
    )
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; you idiot" in html
    assert 'data-metric="roc_auc">0.9300<' in html and "champion v3" in html
    assert 'class="num better">+0.0300<' in html  # higher AUC is better
    assert 'class="num worse">+0.0100<' in html  # higher Brier is worse
    assert "(primary)" in html


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow  # the MLflow server takes 10-50 s to start here
def test_ui_serves_the_local_store_over_http(
    steward_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    port = free_port()
    command = ui_command("127.0.0.1", port)
    assert command[command.index("--backend-store-uri") + 1] == (
        f"sqlite:///{steward_home / 'mlflow.db'}"
    )
    assert command[command.index("--default-artifact-root") + 1].startswith("file://")
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 90
        status = None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    status = r.status
                    break
            except OSError:
                time.sleep(0.5)
        assert status == 200, server.stderr.read().decode() if server.poll() is not None else ""
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as page:
            assert "mlflow" in page.read().decode().lower()
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert server.returncode is not None
