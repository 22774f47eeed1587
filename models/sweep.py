"""The `sweep:` section of an experiment file: what Optuna searches and how trials are judged."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from models.config import StrictConfig


class IntRange(StrictConfig):
    """Integers from low to high inclusive (log: sampled evenly in log space)."""

    type: Literal["int"] = "int"
    low: int
    high: int
    step: int = Field(default=1, ge=1)
    log: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> IntRange:
        _check_range(self.low, self.high, self.log)
        return self


class FloatRange(StrictConfig):
    """Floats from low to high (log: sampled evenly in log space, for rates and penalties)."""

    type: Literal["float"] = "float"
    low: float
    high: float
    log: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> FloatRange:
        _check_range(self.low, self.high, self.log)
        return self


class Choice(StrictConfig):
    """One of a list of values."""

    type: Literal["choice"] = "choice"
    values: list[int | float | str | bool] = Field(min_length=1)


ParamRange = Annotated[IntRange | FloatRange | Choice, Field(discriminator="type")]


class SweepSettings(StrictConfig):
    """Hyperparameter search: ranges per dotted config key, the metric and its direction."""

    # The run metric trials are ranked by; None: the task's primary metric (churn: roc_auc).
    metric: str | None = None
    direction: Literal["maximize", "minimize"] = "maximize"
    trials: int = Field(default=20, ge=1)  # the default of --trials
    seed: int = 0  # the sampler's seed: the same file proposes the same trials
    params: dict[str, ParamRange] = Field(min_length=1)


def _check_range(low: float, high: float, log: bool) -> None:
    """low <= high, and positive bounds where the range is sampled in log space."""
    if low > high:
        raise ValueError(f"low ({low}) must not exceed high ({high})")
    if log and low <= 0:
        raise ValueError(f"a log range needs low > 0 (got {low})")
