"""What the routes share: settings, keys, the current models, the batcher and the metrics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from serving.auth import KeyRing
from serving.batching import MicroBatcher
from serving.errors import ApiError
from serving.loaded_models import Loaded, ModelHolder
from serving.metrics import Metrics
from serving.settings import ServeSettings


@dataclass
class ServerState:
    """Everything one app instance owns (nothing is global, so tests can run several)."""

    settings: ServeSettings
    keys: KeyRing
    holder: ModelHolder
    metrics: Metrics
    batcher: MicroBatcher | None = None


def get_state(request: Request) -> ServerState:
    """The app's state."""
    state: ServerState = request.app.state.steward
    return state


State = Annotated[ServerState, Depends(get_state)]


def need(state: ServerState, part: str) -> Loaded:
    """A loaded model, or 503 saying it is still loading or why it failed."""
    loaded: Loaded | None = getattr(state.holder.current, part)
    if loaded is None:
        raise not_loaded(state, part)
    return loaded


def not_loaded(state: ServerState, part: str) -> ApiError:
    """503 for a component that is not loaded, with the load error when there was one."""
    component = "churn" if part == "at_risk" else part  # the at-risk table comes with churn
    if component not in state.settings.components:
        return ApiError(503, f"this server does not serve {component} (STEWARD_SERVE_COMPONENTS)")
    error = state.holder.current.errors.get(part)
    if error:
        return ApiError(
            503, f"{part} is not loaded: {error}; fix it, then POST /v1/admin/reload", reason=error
        )
    return ApiError(503, f"{part} is still loading; retry shortly (GET /readyz says when ready)")
