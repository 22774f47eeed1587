"""The moderation console: score pasted or uploaded posts; decide the review queue."""

from __future__ import annotations

import asyncio
import csv
import io
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from features.lake.moderation import (
    DecisionError,
    ReviewQueue,
    decision_counts,
    new_item,
    store_decision,
)
from serving.errors import ApiError
from serving.pages.forms import Form, FormError, read_form
from serving.pages.render import SECURITY_HEADERS, PageError, check_csrf, render, signed_in
from serving.pages.session import Session
from serving.state import ServerState, State

router = APIRouter(include_in_schema=False)


def lake_of(state: ServerState) -> Any:
    """The lake decisions go to (the one `steward train toxicity --source lake` reads)."""
    from features.lake.store import Lake

    path = state.settings.lake_path
    return Lake(path) if path else Lake.default()


def queue_of(state: ServerState) -> ReviewQueue:
    """The review queue of this server."""
    from features.storage.catalog import Catalog

    return ReviewQueue(state.settings.moderation_dir or Catalog.default().moderation)


def posts_from(form: Form) -> tuple[list[str], list[str | None], list[str | None]]:
    """Texts, languages and post ids: one post per line, or an uploaded .txt or .csv."""
    texts = [line.strip() for line in form.get("posts").splitlines() if line.strip()]
    langs: list[str | None] = [None] * len(texts)
    ids: list[str | None] = [None] * len(texts)
    name, data = form.files.get("file", ("", b""))
    if name and data:
        try:
            content = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise PageError(422, f"{name} is not UTF-8 text") from None
        if name.lower().endswith(".csv"):
            rows = list(csv.DictReader(io.StringIO(content)))
            if rows and "text" not in rows[0]:
                raise PageError(422, f"{name} has no 'text' column")
            rows = [r for r in rows if (r.get("text") or "").strip()]
            texts += [r["text"] for r in rows]
            langs += [r.get("lang") or None for r in rows]
            ids += [r.get("post_id") or None for r in rows]
        else:
            lines = [line.strip() for line in content.splitlines() if line.strip()]
            texts += lines
            langs += [None] * len(lines)
            ids += [None] * len(lines)
    return texts, langs, ids


def marked(text: str, spans: list[Any]) -> list[tuple[str, float | None]]:
    """The text cut into pieces, each with its span's score (None outside spans)."""
    out: list[tuple[str, float | None]] = []
    at = 0
    for span in sorted(spans, key=lambda s: s.begin):
        begin, end = max(span.begin, at), min(span.end, len(text))
        if begin >= end:
            continue
        if begin > at:
            out.append((text[at:begin], None))
        out.append((text[begin:end], span.score))
        at = end
    if at < len(text):
        out.append((text[at:], None))
    return out


def console(
    request: Request, state: ServerState, session: Session, status: int = 200, **extra: Any
) -> Response:
    """The console page: the form, any results, and the queue for moderators."""
    moderator = "posts:moderate" in session.caller.scopes
    lake = lake_of(state)
    return render(
        request,
        "moderation.html",
        session,
        status,
        moderator=moderator,
        queue=queue_of(state).items() if moderator else [],
        counts=decision_counts(lake) if moderator and Path(lake.root).exists() else None,
        decided=request.query_params.get("decided"),
        max_posts=state.settings.max_posts,
        **extra,
    )


@router.get("/ui/moderation")
async def moderation_page(request: Request, state: State) -> Response:
    """The console with an empty form."""
    return console(request, state, signed_in(request, "posts:score"))


@router.post("/ui/moderation/score")
async def score_pasted(request: Request, state: State) -> Response:
    """Score the posts; those sent to review join the queue."""
    from serving.routes.posts import check_texts, score_texts

    session = signed_in(request, "posts:score")
    try:
        form = await read_form(request)
    except FormError as exc:
        raise PageError(400, str(exc)) from None
    check_csrf(request, session, form.get("csrf"))
    texts, langs, ids = posts_from(form)
    if not texts:
        return console(request, state, session, 422, error="Paste or upload at least one post.")
    try:
        check_texts(state, texts, "post {i}")
        scores, model = await score_texts(state, texts, langs, "all")
    except ApiError as exc:
        return console(request, state, session, exc.status, error=exc.message)
    results = [
        {"text": t, "score": s, "pieces": marked(t, s.spans)}
        for t, s in zip(texts, scores, strict=True)
    ]
    # Blocked posts join the queue too: a moderator who disagrees turns a false block
    # into a clean label for the next training run.
    queued = [
        new_item(
            t,
            s.lang,
            s.label,
            float(s.probabilities.get(s.label) or 0.0),
            model.version,
            i,
            action=s.action,
        )
        for t, s, i in zip(texts, scores, ids, strict=True)
        if s.action in ("review", "block")
    ]
    await asyncio.to_thread(queue_of(state).add, queued)
    return console(
        request,
        state,
        session,
        results=results,
        model=model,
        labels=model.scorer.labels,
        queued=len(queued),
    )


@router.post("/ui/moderation/decide")
async def decide(request: Request, state: State) -> Response:
    """Store agree/disagree on a queued post as a label in the lake; back to the queue."""
    session = signed_in(request, "posts:moderate")
    form = await read_form(request)
    check_csrf(request, session, form.get("csrf"))
    decision = form.get("decision")
    if decision not in ("agree", "disagree"):
        raise PageError(422, "decision must be agree or disagree")
    lake, queue = lake_of(state), queue_of(state)
    try:
        await asyncio.to_thread(
            store_decision, lake, queue, form.get("item"), decision == "agree", session.caller.name
        )
    except DecisionError as exc:
        raise PageError(409, str(exc)) from None
    except Exception as exc:  # a failed write published nothing: say so, keep the queue
        raise PageError(
            500,
            f"The decision could not be stored ({type(exc).__name__}: {exc}). Nothing was "
            "written and the post is still in the queue; try again.",
        ) from None
    return RedirectResponse(
        f"/ui/moderation?decided={decision}#queue", status_code=303, headers=SECURITY_HEADERS
    )
