"""POST /v1/posts:score: posts in; probabilities, action, spans, language and model out."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from serving.schemas.common import ModelRef


class PostIn(BaseModel):
    """One post to score."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=256)
    text: str
    lang: str | None = Field(
        default=None, max_length=35, description="BCP 47 tag; detected when absent"
    )


class ScorePostsRequest(BaseModel):
    """Posts to score (at most max_posts) and which spans to return."""

    model_config = ConfigDict(extra="forbid")

    posts: list[PostIn] = Field(min_length=1)
    spans: Literal["flagged", "all", "none"] = Field(
        default="flagged", description="spans for flagged posts only (default), every post, or none"
    )


class SpanOut(BaseModel):
    """A piece of the post (character offsets into its text) that pushed the score up."""

    text: str
    begin: int
    end: int
    score: float = Field(
        description="how much it pushed the label up: log-odds (linear), probability (MiniLM)"
    )


class PostOut(BaseModel):
    """The scores of one post."""

    id: str
    probabilities: dict[str, float | None] = Field(
        description="per label; null where the model has no such label for the post's language"
    )
    action: Literal["allow", "review", "block"]
    label: str = Field(description="the label behind the action")
    lang: str
    spans: list[SpanOut]


class ScorePostsResponse(BaseModel):
    """Scores in request order and the model that gave them."""

    posts: list[PostOut]
    model: ModelRef
    model_version: str = Field(description="the scorer's own version, as in batch output")
