"""POST /v1/posts:score: toxicity of up to max_posts posts, micro-batched with other requests."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends

from serving.auth import Caller, require
from serving.errors import ApiError, limit_error
from serving.schemas.common import ModelRef
from serving.schemas.posts import PostOut, ScorePostsRequest, ScorePostsResponse, SpanOut
from serving.state import ServerState, State, need

if TYPE_CHECKING:
    from models.toxicity.scoring import PostScore, SpanMode
    from serving.loaded_models import Loaded

router = APIRouter(tags=["posts"])
log = logging.getLogger("steward.serving")


def empty_text(where: str) -> str:
    """Why an empty or whitespace-only text is refused: the same words on every route."""
    return (
        f"{where} is empty or only whitespace: there is nothing to score; "
        "leave that post out of the request, or send its text"
    )


def first_empty(texts: Sequence[str]) -> int | None:
    """The position of the first empty or whitespace-only text, if any."""
    return next((i for i, text in enumerate(texts) if not text.strip()), None)


def check_texts(state: ServerState, texts: Sequence[str], where: str) -> None:
    """422 for an empty text, or naming max_posts or max_text_chars when over them."""
    settings = state.settings
    # A model given nothing still answers (0.17 toxicity, allow): a score of no text would
    # mislead, so an empty post is refused, naming it, as Perspective refuses an empty comment.
    empty = first_empty(texts)
    if empty is not None:
        raise ApiError(422, empty_text(where.format(i=empty)))
    if len(texts) > settings.max_posts:
        raise limit_error(
            422, "max_posts", settings.max_posts, f"{len(texts):,} posts in one request"
        )
    for i, text in enumerate(texts):
        if len(text) > settings.max_text_chars:
            raise limit_error(
                422,
                "max_text_chars",
                settings.max_text_chars,
                f"{where.format(i=i)} is {len(text):,} characters",
            )


def _unsupported_action(state: ServerState, score: PostScore) -> PostScore:
    """A post in a language no model scores gets the configured action (default review)."""
    from dataclasses import replace

    from models.toxicity.scoring import is_scored

    if is_scored(score.lang):
        return score
    return replace(score, action=state.settings.unsupported_language_action)


async def score_texts(
    state: ServerState,
    texts: Sequence[str],
    langs: Sequence[str | None],
    spans: SpanMode,
    store_text: bool = True,
) -> tuple[list[PostScore], Loaded]:
    """Scores from the batcher, recorded in the metrics (text logged only when configured)."""
    need(state, "toxicity")
    assert state.batcher is not None
    if state.settings.log_text and store_text:
        log.info("scoring posts: %s", list(texts))
    try:
        scores, model = await state.batcher.score(texts, langs, spans)
    except RuntimeError as exc:
        raise ApiError(503, f"toxicity model unavailable: {exc}") from None
    scores = [_unsupported_action(state, s) for s in scores]
    for s in scores:
        state.metrics.observe_scores("toxicity", s.probabilities.items())
        state.metrics.actions.labels(s.action).inc()
    return scores, model


@router.post("/v1/posts:score", response_model=ScorePostsResponse)
async def score_posts(
    body: ScorePostsRequest,
    state: State,
    caller: Annotated[Caller, Depends(require("posts:score"))],
) -> ScorePostsResponse:
    """Per post: probability per label, action (allow/review/block), spans and language."""
    texts = [p.text for p in body.posts]
    check_texts(state, texts, "posts[{i}].text")
    scores, model = await score_texts(state, texts, [p.lang for p in body.posts], body.spans)
    posts = [
        PostOut(
            id=p.id,
            probabilities=s.probabilities,
            action=s.action,  # type: ignore[arg-type]
            label=s.label,
            lang=s.lang,
            spans=[SpanOut(text=x.text, begin=x.begin, end=x.end, score=x.score) for x in s.spans],
        )
        for p, s in zip(body.posts, scores, strict=True)
    ]
    return ScorePostsResponse(
        posts=posts,
        model=ModelRef(name=model.name, version=model.version),
        model_version=model.scorer.version,
    )
