"""GET /healthz (the process answers), /readyz (the models are loaded) and /metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from serving.state import State

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Alive: the event loop answers."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(state: State) -> JSONResponse:
    """200 with the versions served once every configured model is loaded; 503 until then."""
    holder = state.holder
    body: dict[str, Any] = {
        "ready": holder.ready,
        "loading": holder.loading,
        "models": holder.current.describe(),
        "errors": holder.current.errors,
    }
    if not holder.ready:
        waiting = "still loading" if holder.loading else "not loaded"
        body["error"] = {
            "code": 503,
            "status": "UNAVAILABLE",
            "message": f"models {waiting}"
            + (f": {holder.current.errors}" if holder.current.errors else ""),
        }
    return JSONResponse(body, status_code=200 if holder.ready else 503)


@router.get("/metrics")
async def metrics(state: State) -> Response:
    """Prometheus text format."""
    return Response(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
