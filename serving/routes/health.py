"""GET /healthz (the process answers), /readyz (the models are loaded) and /metrics."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from serving.state import State

router = APIRouter(tags=["health"])
# An absolute path in a load error (the at-risk file, an artifact folder): /readyz is public.
_PATH = re.compile(r"(?<![\w:/])/[^\s'\"]+")


def public_models(models: dict[str, Any]) -> dict[str, Any]:
    """What /readyz may show anyone: versions and sizes, no file paths."""
    out = dict(models)
    if isinstance(out.get("at_risk"), dict):
        out["at_risk"] = {k: v for k, v in out["at_risk"].items() if k != "path"}
    return out


def public_errors(errors: dict[str, str]) -> dict[str, str]:
    """Load errors with absolute paths hidden (the server log and the admin reload name them)."""
    return {part: _PATH.sub("<path>", why) for part, why in errors.items()}


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Alive: the event loop answers."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(state: State) -> JSONResponse:
    """200 with the versions served once every configured model is loaded; 503 until then."""
    holder = state.holder
    errors = public_errors(holder.current.errors)
    body: dict[str, Any] = {
        "ready": holder.ready,
        "loading": holder.loading,
        "models": public_models(holder.current.describe()),
        "errors": errors,
    }
    if not holder.ready:
        waiting = "still loading" if holder.loading else "not loaded"
        body["error"] = {
            "code": 503,
            "status": "UNAVAILABLE",
            "message": f"models {waiting}" + (f": {errors}" if errors else ""),
        }
    return JSONResponse(body, status_code=200 if holder.ready else 503)


@router.get("/metrics")
async def metrics(state: State) -> Response:
    """Prometheus text format."""
    return Response(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
