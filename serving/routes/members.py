"""Member churn: one member from the at-risk table, on-demand scores, and at-risk pages."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from features.scores.at_risk import AtRiskTable, Tier
from serving.auth import Caller, require
from serving.errors import ApiError, echo, limit_error
from serving.schemas.common import ModelRef
from serving.schemas.members import (
    AtRiskMember,
    AtRiskPage,
    ChurnCohorts,
    MemberChurn,
    ScoredMember,
    ScoreMemberRequest,
)
from serving.state import ServerState, State, need, not_loaded

router = APIRouter(tags=["members"])
JSON_FIELDS = ("member_id", "probability", "tier", "reasons", "intervention", "attributes")
Reader = Annotated[Caller, Depends(require("members:read"))]


def _table(state: ServerState) -> AtRiskTable:
    """The at-risk table being served, or 503 saying why there is none."""
    table = state.holder.current.at_risk
    if table is None:
        raise not_loaded(state, "at_risk")
    return table


def _segment(pairs: list[str]) -> dict[str, str]:
    """segment=KEY=VALUE query values as a dict; 422 for anything else."""
    from features.scores.at_risk import parse_segment

    try:
        return parse_segment(pairs, "segment", "segment=channel=ios")
    except ValueError as exc:
        raise ApiError(422, str(exc)) from None


@router.get("/v1/members/at-risk", response_model=AtRiskPage, response_model_exclude_unset=True)
async def at_risk_members(
    state: State,
    caller: Reader,
    limit: Annotated[int, Query(ge=1)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
    tier: Tier | None = None,
    min_probability: Annotated[float | None, Query(ge=0, le=1)] = None,
    segment: Annotated[list[str], Query(description="KEY=VALUE on attributes, repeatable")] = [],  # noqa: B006
    format: Literal["json", "csv"] = "json",
    fields: Annotated[
        list[str],
        Query(
            description="only these fields (comma-separated or repeated); member_id always. "
            f"JSON: any of {', '.join(JSON_FIELDS)} (default: all of them). CSV: any column of "
            "`steward at-risk --fields` (default: without attributes and drivers)."
        ),
    ] = [],  # noqa: B006
) -> Any:
    """The members most likely to churn, highest probability first (JSON page or CSV)."""
    if limit > state.settings.max_page:
        raise limit_error(422, "max_page", state.settings.max_page, f"limit={limit:,}")
    columns = _fields(fields, format)
    table = _table(state)
    rows = table.select(tier, min_probability, _segment(segment))
    page = rows[offset : offset + limit]
    if format == "csv":
        return _csv(table, page, columns)
    members = [_at_risk_member(table.row(int(i)), columns) for i in page]
    version = table.model_version
    model = (
        ModelRef(name=str(table.frame["model_name"].iloc[0]), version=version) if version else None
    )
    return AtRiskPage(
        as_of=table.as_of, model=model, total=len(rows), limit=limit, offset=offset, members=members
    )


@router.get("/v1/members/cohorts", response_model=ChurnCohorts)
async def churn_cohorts(state: State, caller: Reader) -> ChurnCohorts:
    """How often members left by how much of each top behaviour they showed (the served churn
    version's cohorts, as its training run logged them)."""
    from models.churn.cohorts import cohort_lines

    churn = need(state, "churn")
    if not churn.cohorts:
        raise ApiError(
            404,
            f"{churn.name} v{churn.version} was trained before runs logged behavioural cohorts; "
            "retrain with `steward train churn` to get them",
        )
    report = churn.cohorts
    return ChurnCohorts(
        model=ModelRef(name=churn.name, version=churn.version),
        label=report["label"],
        rows=report["rows"],
        members=report["members"],
        churn_rate=report["churn_rate"],
        features=report["features"],
        summary=cohort_lines(report),
    )


def _fields(fields: list[str], format: str) -> list[str]:
    """The fields asked for, checked against what the format carries; 422 naming the rest."""
    from features.scores.export import DEFAULT_FIELDS, FIELDS, parse_fields

    try:
        if format == "csv":
            return parse_fields(fields, DEFAULT_FIELDS)
        chosen = parse_fields(fields, JSON_FIELDS)
    except ValueError as exc:
        raise ApiError(422, f"fields: {exc}") from None
    extra = [f for f in chosen if f not in JSON_FIELDS]
    if extra:
        csv_only = ", ".join(f for f in FIELDS if f not in JSON_FIELDS)
        raise ApiError(
            422, f"fields {extra} are in the CSV export only ({csv_only}); add format=csv"
        )
    return chosen


def _at_risk_member(row: dict[str, Any], fields: list[str]) -> AtRiskMember:
    """One list entry from a table row, with only the fields asked for."""
    return AtRiskMember(**{k: row[k] for k in fields})


def _csv(table: AtRiskTable, page: np.ndarray, fields: list[str]) -> Response:
    """The page as CSV, in the layout of `steward at-risk --csv`."""
    from features.scores.export import to_csv_text

    return Response(
        to_csv_text(table.frame.iloc[page], fields),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="at_risk.csv"'},
    )


@router.get("/v1/members/{member_id}/churn", response_model=MemberChurn)
async def member_churn(member_id: str, state: State, caller: Reader) -> MemberChurn:
    """One member's probability, tier, reasons and intervention from the latest at-risk table."""
    table = _table(state)
    row = table.member(member_id)
    if row is None:
        day = table.as_of.isoformat() if table.as_of else "?"
        raise ApiError(
            404,
            f"member {echo(member_id)} is not in the at-risk table scored as of {day} "
            f"({len(table.frame):,} members; only members active at that date are scored). "
            "Check the id, or score on demand with POST /v1/members:score.",
        )
    state.metrics.observe_scores("churn", [("churn", row["probability"])])
    return MemberChurn(
        **{k: row[k] for k in ("member_id", "probability", "tier", "reasons", "interventions")},
        intervention=row["intervention"],
        as_of=row["as_of"],
        scored_at=row["scored_at"],
        model=ModelRef(name=row["model_name"], version=row["model_version"]),
    )


def _feature_row(body: ScoreMemberRequest, columns: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """One row of the model's feature columns from raw values (missing ones as NaN)."""
    given = body.features or {}
    unknown = sorted(set(given) - set(columns))
    if unknown:
        raise ApiError(
            422,
            f"unknown features {unknown[:10]}; the model uses {len(columns)} features "
            f"such as {columns[:3]} (GET /docs)",
        )
    row = {c: np.nan if given.get(c) is None else float(given[c]) for c in columns}  # type: ignore[arg-type]
    return pd.DataFrame([row]), [c for c in columns if c not in given]


async def _events_row(
    state: ServerState, body: ScoreMemberRequest, columns: list[str]
) -> tuple[pd.DataFrame, Any]:
    """The member's feature row built from the request's events (columns: the model's)."""
    from serving.member_events import features_from_events, unknown_event_types

    events = body.events or []
    if len(events) > state.settings.max_events:
        raise limit_error(422, "max_events", state.settings.max_events, f"{len(events):,} events")
    if not events:
        raise ApiError(422, "events is empty: send the member's recent events (at least 90 days)")
    unknown = unknown_event_types(events)
    if unknown:
        raise ApiError(
            422,
            f"unknown event types {unknown[:10]}; see features/schemas.py EVENT_TYPES "
            "(a type of your own is named x_<name>)",
        )
    frame, day = await asyncio.to_thread(
        features_from_events,
        body.member_id,
        events,
        body.as_of,
        body.joined_at,
        body.subscriptions,
        columns,
        body.date_of_birth,
    )
    if frame.empty:
        raise ApiError(
            422,
            f"member {echo(body.member_id)} has no qualifying activity in the lookback window before "
            f"{day} and no subscription then: churn is scored only for active members",
        )
    return frame, day


@router.post("/v1/members:score", response_model=ScoredMember)
async def score_member(body: ScoreMemberRequest, state: State, caller: Reader) -> ScoredMember:
    """Score one member now from raw feature values or from their recent events."""
    loaded = need(state, "churn")
    scorer = loaded.scorer
    if body.features is not None:
        frame, missing = _feature_row(body, scorer.feature_columns)
        day = None
    else:
        frame, day = await _events_row(state, body, scorer.feature_columns)
        missing = []
    scored = (await asyncio.to_thread(scorer.score, frame)).iloc[0]
    state.metrics.observe_scores("churn", [("churn", float(scored["probability"]))])
    values = frame.iloc[0][scorer.feature_columns]
    return ScoredMember(
        member_id=body.member_id,
        probability=float(scored["probability"]),
        tier=str(scored["tier"]),  # type: ignore[arg-type]
        reasons=list(scored["reasons"]),
        interventions=list(scored["interventions"]),
        intervention=scored["intervention"],
        as_of=day,
        model=ModelRef(name=loaded.name, version=loaded.version),
        source="features" if body.features is not None else "events",
        features={k: None if pd.isna(v) else float(v) for k, v in values.items()},
        missing_features=missing,
    )
