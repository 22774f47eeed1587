"""Threshold recalibration from the decisions: preview (moderators), apply (admin)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from models.toxicity.recalibration import Proposal, RecalibrationError
from serving.pages.forms import read_form
from serving.pages.moderation import lake_of
from serving.pages.render import PageError, check_csrf, render, signed_in
from serving.state import ServerState, State, need

router = APIRouter(include_in_schema=False)


def served_alias(state: ServerState) -> str:
    """The registry alias the server follows for toxicity (applying moves it)."""
    from models.champions import MODEL_URI

    found = MODEL_URI.match(state.settings.toxicity_uri)
    if found is None or not found["alias"]:
        raise PageError(
            409,
            f"This server serves a pinned model ({state.settings.toxicity_uri}); recalibration "
            "moves an alias, so serve models:/NAME@ALIAS to use it.",
        )
    return str(found["alias"])


def build_proposal(state: ServerState) -> tuple[Proposal, Any]:
    """The proposal for the served model from every moderation decision in the lake."""
    from features.text.corpora import load_lake_moderation
    from models.toxicity.recalibration import propose, training_targets

    loaded = need(state, "toxicity")
    try:
        decisions = load_lake_moderation(lake_of(state))
    except ValueError as exc:
        raise PageError(409, f"No decisions to learn from yet: {exc}.") from None
    targets = training_targets(loaded.name, loaded.version)
    return propose(loaded.scorer, decisions, loaded.name, loaded.version, targets), loaded


@router.get("/ui/moderation/recalibrate")
async def preview(request: Request, state: State) -> Response:
    """Thresholds now and as proposed, per label and language, with their effect."""
    session = signed_in(request, "posts:moderate")
    proposal, loaded = await asyncio.to_thread(build_proposal, state)
    return render(
        request,
        "recalibrate.html",
        session,
        proposal=proposal,
        model=loaded,
        can_apply="admin" in session.caller.scopes,
    )


@router.post("/ui/moderation/recalibrate")
async def apply_proposal(request: Request, state: State) -> Response:
    """Register the proposed thresholds as a new version, move the alias, reload."""
    from models.toxicity.recalibration import apply, roll_back
    from serving.routes.admin import reload_models

    session = signed_in(request, "admin")
    form = await read_form(request)
    check_csrf(request, session, form.get("csrf"))
    alias = served_alias(state)
    proposal, loaded = await asyncio.to_thread(build_proposal, state)
    try:
        version = await asyncio.to_thread(apply, proposal, loaded.scorer, form.get("digest"), alias)
    except RecalibrationError as exc:
        raise PageError(409, f"Not applied: {exc}. Preview again.") from None
    except Exception as exc:  # the registry write failed: the alias was not moved
        raise PageError(
            500,
            f"Not applied ({type(exc).__name__}: {exc}); {loaded.name} v{loaded.version} is "
            "still the served model.",
        ) from None
    report = await asyncio.to_thread(reload_models, state)
    if "toxicity" in report["errors"]:
        await asyncio.to_thread(roll_back, loaded.name, alias, loaded.version)
        raise PageError(
            500,
            f"v{version} did not load ({report['errors']['toxicity']}); @{alias} is back on "
            f"v{loaded.version}, which is still serving.",
        )
    return render(
        request, "recalibrated.html", session, proposal=proposal, version=version, alias=alias
    )
