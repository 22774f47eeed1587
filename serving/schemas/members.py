"""Member churn: one member's score, on-demand scoring, and pages of the at-risk table."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, FiniteFloat, model_validator

from features.scores.at_risk import Tier
from serving.schemas.common import ModelRef


class MemberChurn(BaseModel):
    """A member's churn probability, risk tier, reasons and suggested intervention."""

    member_id: str
    probability: float
    tier: Tier
    reasons: list[str]
    interventions: list[str]
    intervention: str | None
    as_of: date
    scored_at: datetime | None = None
    model: ModelRef


# Finite only: JSON has no NaN or Infinity, yet Python's parser reads them (and 1e400 as
# inf), and an infinite feature turned into reasons like "no activity for -9.2e18 days".


class EventIn(BaseModel):
    """One event of the member, in the canonical event layout."""

    model_config = ConfigDict(extra="forbid")

    ts: datetime = Field(description="UTC when no offset is given")
    event_type: str
    value: FiniteFloat | None = None
    target_id: str | None = None


class SubscriptionIn(BaseModel):
    """One subscription period of the member."""

    model_config = ConfigDict(extra="forbid")

    start_at: datetime
    end_at: datetime | None = None
    product: str | None = None
    mrr: FiniteFloat | None = None


class ScoreMemberRequest(BaseModel):
    """Raw feature values, or the member's recent events (features are built from them)."""

    model_config = ConfigDict(extra="forbid")

    member_id: str = Field(default="member", min_length=1, max_length=256)
    features: dict[str, FiniteFloat | None] | None = Field(
        default=None, description="feature name -> value; missing features count as unknown (null)"
    )
    events: list[EventIn] | None = None
    joined_at: datetime | None = Field(default=None, description="default: the first event")
    date_of_birth: date | None = Field(
        default=None, description="the member's (a model trained on ages uses it; else unknown)"
    )
    subscriptions: list[SubscriptionIn] = []
    as_of: date | None = Field(default=None, description="default: the day of the last event")

    @model_validator(mode="after")
    def _one_source(self) -> ScoreMemberRequest:
        if (self.features is None) == (self.events is None):
            raise ValueError("give either 'features' or 'events', not both and not neither")
        return self


class ScoredMember(MemberChurn):
    """An on-demand score, with the feature values it was computed from."""

    as_of: date | None = Field(description="the observation date (events only)")  # type: ignore[assignment]
    source: Literal["features", "events"]
    features: dict[str, float | None]
    missing_features: list[str] = Field(description="features not given, scored as unknown")


class AtRiskMember(BaseModel):
    """One row of the at-risk list; with `fields=`, only the fields asked for are sent."""

    member_id: str
    probability: float | None = None
    tier: Tier | None = None
    reasons: list[str] | None = None
    intervention: str | None = None
    attributes: dict[str, Any] | None = None


class AtRiskPage(BaseModel):
    """A page of members, highest probability first, after the filters."""

    as_of: date | None
    model: ModelRef | None
    total: int = Field(description="members that pass the filters")
    limit: int
    offset: int
    members: list[AtRiskMember]


class CohortOut(BaseModel):
    """Rows whose value lies in [low, high] (both null: the value is missing)."""

    low: float | None
    high: float | None
    rows: int
    churners: int
    rate: float
    rate_low: float = Field(description="95% interval of the rate, members resampled")
    rate_high: float


class ChurnCohorts(BaseModel):
    """The served churn version's behavioural cohorts: churn rate by each top feature's value,
    over every labelled row up to its validation date. Descriptive: not why members left."""

    model: ModelRef
    label: str
    rows: int
    members: int
    churn_rate: float
    features: dict[str, list[CohortOut]] = Field(
        description="the six most important features, each's cohorts in value order"
    )
    summary: list[str] = Field(description="the top three as `steward train churn` prints them")
