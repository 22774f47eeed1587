"""Serving reads the MLflow store and never writes it: a reload leaves every file as it was."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx

from tests.serving.conftest import Home, auth
from tests.serving.server import Running


def _store_files(home: Home) -> dict[str, tuple[int, str]]:
    """Every file of the MLflow store (database and artifacts): mtime and content hash."""
    files = [home.root / "mlflow.db", *(home.root / "mlartifacts").rglob("*")]
    return {
        str(p.relative_to(home.root)): (
            p.stat().st_mtime_ns,
            hashlib.sha256(p.read_bytes()).hexdigest(),
        )
        for p in files
        if p.is_file()
    }


def test_reload_leaves_the_mlflow_store_untouched(server: Running, home: Home) -> None:
    before = _store_files(home)
    assert any(Path(p).name == "MLmodel" for p in before)  # the store's models are in there
    with httpx.Client(base_url=server.url, timeout=120) as c:
        answer = c.post("/v1/admin/reload", headers=auth("admin"))
    assert answer.status_code == 200, answer.text
    after = _store_files(home)
    changed = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
    assert changed == []
