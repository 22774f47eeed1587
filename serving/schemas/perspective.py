"""Perspective API's AnalyzeComment request and response (v1alpha1), field for field."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class _Camel(BaseModel):
    # Perspective's JSON is camelCase; unknown fields are ignored as Google's API does.
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class TextEntry(_Camel):
    """comment: the text to score, and its type (PLAIN_TEXT)."""

    text: str
    type: str | None = None


class AttributeParameters(_Camel):
    """requestedAttributes[NAME]: score type (PROBABILITY) and an optional threshold."""

    score_type: str | None = None
    score_threshold: float | None = None


class AnalyzeCommentRequest(_Camel):
    """POST /v1alpha1/comments:analyze."""

    comment: TextEntry
    context: dict[str, Any] | None = None
    requested_attributes: dict[str, AttributeParameters] = Field(min_length=1)
    span_annotations: bool = False
    languages: list[str] | None = None
    do_not_store: bool = False
    client_token: str | None = None
    session_id: str | None = None
    community_id: str | None = None


class Score(_Camel):
    """A score: value in [0, 1] and its type."""

    value: float
    type: str = "PROBABILITY"


class SpanScore(_Camel):
    """The score of one span of the comment."""

    begin: int
    end: int
    score: Score


class AttributeScores(_Camel):
    """attributeScores[NAME]."""

    summary_score: Score
    span_scores: list[SpanScore] | None = None


class AnalyzeCommentResponse(_Camel):
    """The response; attribute names mirror the request's."""

    attribute_scores: dict[str, AttributeScores]
    languages: list[str]
    detected_languages: list[str] | None = None
    client_token: str | None = None
