"""The at-risk members page: filter, sort, expand a row, download the same rows as CSV."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import numpy as np
import pandas as pd
from fastapi import APIRouter, Request
from fastapi.responses import Response

from features.scores.at_risk import TIERS, AtRiskTable
from serving.pages.render import SECURITY_HEADERS, PageError, render, signed_in
from serving.state import State, not_loaded

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
TIER_RANK = {t: i for i, t in enumerate(reversed(TIERS))}  # low 0 .. high 2
SORTS = {"probability": "Churn probability", "member_id": "Member", "tier": "Risk tier"}


@dataclass(frozen=True)
class Filters:
    """The page's query: filters, sort and page, checked."""

    tier: str = ""
    min_probability: str = ""
    segment: str = ""
    sort: str = "probability"
    order: str = "desc"
    page: int = 1

    def query(self, **changes: Any) -> str:
        """This query with some values changed, as a URL query string."""
        values = {**self.__dict__, **changes}
        return urlencode({k: v for k, v in values.items() if v not in ("", None)})


def parse_filters(request: Request) -> tuple[Filters, list[str]]:
    """Filters from the query string, and a message per value that was ignored."""
    q = request.query_params
    problems = []
    tier = q.get("tier", "")
    if tier not in ("", *TIERS):
        problems.append(f"tier must be one of {', '.join(TIERS)}")
        tier = ""
    minimum = q.get("min_probability", "").strip()
    if minimum:
        try:
            if not 0 <= float(minimum) <= 1:
                raise ValueError
        except ValueError:
            problems.append("minimum probability must be a number from 0 to 1")
            minimum = ""
    segment = q.get("segment", "").strip()
    if segment and not _segment(segment):
        problems.append("segment must be KEY=VALUE, e.g. channel=ios")
        segment = ""
    sort = q.get("sort", "probability")
    sort = sort if sort in SORTS else "probability"
    order = "asc" if q.get("order") == "asc" else "desc"
    page = int(q["page"]) if q.get("page", "").isdigit() and int(q["page"]) > 0 else 1
    return Filters(tier, minimum, segment, sort, order, page), problems


def _segment(text: str) -> dict[str, str]:
    """KEY=VALUE as a dict ({} when it is not that)."""
    from features.scores.at_risk import parse_segment

    try:
        return parse_segment([text], "segment") if text else {}
    except ValueError:
        return {}


def ordered_rows(table: AtRiskTable, f: Filters) -> np.ndarray:
    """Positions of the rows passing the filters, in the order asked for."""
    minimum = float(f.min_probability) if f.min_probability else None
    rows = table.select(f.tier or None, minimum, _segment(f.segment))
    frame = table.frame.iloc[rows]
    keys = pd.DataFrame(
        {
            "key": frame["tier"].map(TIER_RANK) if f.sort == "tier" else frame[f.sort],
            "probability": frame["probability"],
        }
    )
    if f.sort == "member_id":
        keys["key"] = keys["key"].astype(str)
    # Ties (a tier holds many members) stay highest probability first.
    ordered = keys.reset_index(drop=True).sort_values(
        ["key", "probability"], ascending=[f.order == "asc", False], kind="stable"
    )
    return rows[ordered.index.to_numpy()]


def _table(state: State) -> AtRiskTable:
    """The served table, or a 503 page saying why there is none."""
    table = state.holder.current.at_risk
    if table is None:
        raise PageError(503, not_loaded(state, "at_risk").message)
    return table


@router.get("/ui/at-risk")
async def at_risk_page(request: Request, state: State) -> Response:
    """The at-risk members, filtered and sorted, PAGE_SIZE to a page."""
    session = signed_in(request, "members:read")
    table = _table(state)
    filters, problems = parse_filters(request)
    rows = ordered_rows(table, filters)
    pages = max(1, -(-len(rows) // PAGE_SIZE))
    page = min(filters.page, pages)
    shown = rows[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    return render(
        request,
        "at_risk.html",
        session,
        422 if problems else 200,
        filters=filters,
        problems=problems,
        members=[table.row(int(i)) for i in shown],
        total=len(rows),
        page=page,
        pages=pages,
        sorts=SORTS,
        tiers=TIERS,
        as_of=table.as_of,
        model_version=table.model_version,
        model_name=str(table.frame["model_name"].iloc[0]) if len(table.frame) else None,
        synthetic=table.synthetic_note,
        cohorts=_cohorts(state),
    )


def _cohorts(state: State) -> dict[str, Any] | None:
    """The served churn model's behavioural cohorts as lines, with its version; None if none."""
    from models.churn.cohorts import cohort_lines

    churn = state.holder.current.churn
    if churn is None or not churn.cohorts:
        return None
    return {"version": churn.version, "lines": cohort_lines(churn.cohorts)}


@router.get("/ui/at-risk.csv")
async def at_risk_csv(request: Request, state: State) -> Response:
    """Every row the page's filters select, in its order, through the CSV export."""
    from features.scores.export import DEFAULT_FIELDS, to_csv_text

    signed_in(request, "members:read")
    table = _table(state)
    filters, problems = parse_filters(request)
    if problems:
        raise PageError(422, "; ".join(problems))
    text = to_csv_text(table.frame.iloc[ordered_rows(table, filters)], DEFAULT_FIELDS)
    headers = {
        **SECURITY_HEADERS,
        "Content-Disposition": f'attachment; filename="at_risk_{table.as_of}.csv"',
    }
    return Response(text, media_type="text/csv; charset=utf-8", headers=headers)
