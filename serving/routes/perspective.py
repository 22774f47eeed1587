"""POST /v1alpha1/comments:analyze: Perspective API's AnalyzeComment, served by steward's model.

A Perspective client switches by changing its base URL; its ?key= works as an API key.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends

from serving.auth import Caller, require
from serving.errors import ApiError
from serving.routes.posts import check_texts, empty_text, score_texts
from serving.schemas.perspective import (
    AnalyzeCommentRequest,
    AnalyzeCommentResponse,
    AttributeScores,
    Score,
    SpanScore,
)
from serving.state import ServerState, State

if TYPE_CHECKING:
    from models.toxicity.scoring import PostScore
    from serving.loaded_models import Loaded

router = APIRouter(tags=["perspective"])
log = logging.getLogger("steward.serving")

# Perspective attribute -> steward label; None: Perspective has it, steward's models do not.
ATTRIBUTES: dict[str, str | None] = {
    "TOXICITY": "toxicity",
    "SEVERE_TOXICITY": None,
    "IDENTITY_ATTACK": "identity_attack",
    "INSULT": "insult",
    "PROFANITY": "obscene",
    "THREAT": "threat",
}


def served_attributes(labels: Sequence[str]) -> list[str]:
    """The Perspective attributes a model with these labels scores (what is advertised)."""
    return [name for name, label in ATTRIBUTES.items() if label is not None and label in labels]


def _bad_request(message: str, error_type: str, **detail: Any) -> ApiError:
    """400 INVALID_ARGUMENT with Perspective's error detail."""
    return ApiError(400, message, details=[{"errorType": error_type, **detail}])


def _check_request(body: AnalyzeCommentRequest, labels: list[str]) -> dict[str, str]:
    """Requested attribute -> label; 400 for what the model cannot score, as Perspective does."""
    if body.comment.type not in (None, "PLAIN_TEXT"):
        raise _bad_request(
            f"comment.type {body.comment.type!r} is not supported; send PLAIN_TEXT",
            "COMMENT_TYPE_NOT_SUPPORTED",
        )
    chosen: dict[str, str] = {}
    for name, params in body.requested_attributes.items():
        if params.score_type not in (None, "PROBABILITY"):
            raise _bad_request(
                f"Attribute {name} does not support score type {params.score_type}; use PROBABILITY",
                "SCORE_TYPE_NOT_SUPPORTED",
            )
        label = ATTRIBUTES.get(name)
        if label is None or label not in labels:
            served = ", ".join(served_attributes(labels))
            raise _bad_request(
                f"Attribute {name} is not supported by this model; supported: {served}",
                "ATTRIBUTE_NOT_SUPPORTED",
                attribute=name,
            )
        chosen[name] = label
    return chosen


def _attribute_scores(
    body: AnalyzeCommentRequest,
    chosen: dict[str, str],
    score: PostScore,
    spans: dict[str, list[SpanScore]],
    language: str,
) -> dict[str, AttributeScores]:
    """attributeScores, leaving out those under their scoreThreshold."""
    out: dict[str, AttributeScores] = {}
    for name, label in chosen.items():
        value = score.probabilities.get(label)
        if value is None:  # e.g. a label the model has for English only, asked of Chinese
            raise _language_not_supported(name, language, [score.lang])
        threshold = body.requested_attributes[name].score_threshold
        if threshold is not None and value < threshold:
            continue
        out[name] = AttributeScores(
            summary_score=Score(value=value),
            span_scores=spans.get(name) if body.span_annotations else None,
        )
    return out


async def _span_scores(
    state: ServerState, model: Loaded, text: str, lang: str, chosen: dict[str, str]
) -> dict[str, list[SpanScore]]:
    """Per attribute, the spans behind it, each scored as the probability of its text alone."""
    scorer = model.scorer
    assert state.batcher is not None

    def work() -> dict[str, list[SpanScore]]:
        out: dict[str, list[SpanScore]] = {}
        for name, label in chosen.items():
            found = scorer.explain(text, lang, label)
            if not found:
                out[name] = []
                continue
            probs, _ = scorer.predict_proba([s.text for s in found], [lang] * len(found))
            j = scorer.labels.index(label)
            out[name] = [
                SpanScore(begin=s.begin, end=s.end, score=Score(value=float(p[j])))
                for s, p in zip(found, probs, strict=True)
            ]
        return out

    # The model thread: span scoring never runs beside a batch on the 2 cores.
    return await asyncio.get_running_loop().run_in_executor(state.batcher.executor, work)


@router.post(
    "/v1alpha1/comments:analyze",
    response_model=AnalyzeCommentResponse,
    response_model_exclude_none=True,
    response_model_by_alias=True,
)
async def analyze_comment(
    body: AnalyzeCommentRequest,
    state: State,
    caller: Annotated[Caller, Depends(require("posts:score"))],
) -> AnalyzeCommentResponse:
    """Perspective's AnalyzeComment: summary (and span) scores for the requested attributes."""
    from serving.state import need

    model = need(state, "toxicity")
    chosen = _check_request(body, model.scorer.labels)
    text = body.comment.text
    if not text.strip():
        # Perspective's own answer to an empty comment: 400 with errorType COMMENT_EMPTY.
        raise _bad_request(empty_text("comment.text"), "COMMENT_EMPTY")
    check_texts(state, [text], "comment.text")
    from models.toxicity.scoring import canonical_language, is_scored

    given = body.languages[0] if body.languages else None
    if given is not None and not is_scored(canonical_language(given, text)):
        raise _language_not_supported(next(iter(chosen)), given, [])
    # doNotStore: steward stores no text; it also keeps this text out of the log.
    scores, model = await score_texts(
        state, [text], [given], "none", store_text=not body.do_not_store
    )
    score = scores[0]
    if not is_scored(score.lang):  # detected: French, Russian, ... never scored as English
        raise _language_not_supported(next(iter(chosen)), score.lang, [score.lang])
    spans = (
        await _span_scores(state, model, text, score.lang, chosen) if body.span_annotations else {}
    )
    return AnalyzeCommentResponse(
        attribute_scores=_attribute_scores(body, chosen, score, spans, given or score.lang),
        languages=body.languages or [score.lang],
        detected_languages=None if body.languages else [score.lang],
        client_token=body.client_token,
    )


def _language_not_supported(attribute: str, language: str, detected: list[str]) -> ApiError:
    """Perspective's 400 for a language the attribute does not score."""
    return _bad_request(
        f"Attribute {attribute} does not support request languages: {language}",
        "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE",
        languageNotSupportedByAttributeError={
            "detectedLanguages": detected,
            "attribute": attribute,
        },
    )
