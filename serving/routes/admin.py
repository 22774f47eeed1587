"""POST /v1/admin/reload: pick up new champions without dropping requests."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from serving.auth import Caller, require
from serving.errors import ApiError
from serving.state import ServerState, State

router = APIRouter(tags=["admin"])


def reload_models(state: ServerState) -> dict[str, Any]:
    """Load the champions and the at-risk table again; what fails keeps its old model."""
    before = state.holder.current.describe()
    fresh = state.holder.load(state.settings)
    after = fresh.describe()
    state.metrics.set_models(after)
    state.metrics.reloads.labels("failed" if fresh.errors else "ok").inc()
    return {"before": before, "models": after, "errors": fresh.errors}


@router.post("/v1/admin/reload")
async def reload(
    state: State, caller: Annotated[Caller, Depends(require("admin"))]
) -> dict[str, Any]:
    """Reload in a thread while the old models keep serving; 500 naming what failed."""
    report = await asyncio.to_thread(reload_models, state)
    if report["errors"]:
        failed = "; ".join(f"{part}: {why}" for part, why in report["errors"].items())
        kept = ", ".join(
            f"{part} {found['name']} v{found['version']}" if "name" in (found or {}) else part
            for part, found in report["models"].items()
            if part in report["errors"] and found
        )
        raise ApiError(
            500,
            f"reload failed for {failed}. Still serving the previous {kept or 'nothing'}; "
            "fix the model (or move the champion alias back) and reload again.",
            models=report["models"],
            failed=report["errors"],
        )
    return {"reloaded": True, **report}
