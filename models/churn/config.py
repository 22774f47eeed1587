"""The churn experiment file (experiments/churn_*.yaml) as validated pydantic models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from features.schemas import is_custom_event
from models.config import SafeName, StrictConfig, read_yaml_mapping
from models.sweep import SweepSettings

MODEL_NAME = "steward-churn"
EXPERIMENT = "churn"


_Strict = StrictConfig
# Discriminated unions put the chosen member's tag in an error's location: not a key to show.
_UNION_TAGS = ("lgbm", "logreg", "int", "float", "choice")


class LgbmParams(_Strict):
    """LightGBM settings; small, shallow trees keep TreeSHAP reasons fast (bench/churn.py)."""

    kind: Literal["lgbm"] = "lgbm"
    n_estimators: int = Field(default=100, ge=1)
    num_leaves: int = Field(default=7, ge=2)
    max_depth: int = Field(default=3, ge=1)
    learning_rate: float = Field(default=0.05, gt=0)
    min_child_samples: int = Field(default=200, ge=1)
    feature_fraction: float = Field(default=0.8, gt=0, le=1)
    bagging_fraction: float = Field(default=0.8, gt=0, le=1)
    lambda_l2: float = Field(default=100.0, ge=0)
    num_threads: int = Field(default=2, ge=1)


class LogregParams(_Strict):
    """Logistic regression on signed-log, standardised features with missing-value indicators."""

    kind: Literal["logreg"] = "logreg"
    penalty: Literal["l1", "l2"] = "l2"
    C: float = Field(default=0.1, gt=0)
    max_iter: int = Field(default=1000, ge=1)


class ValidationSettings(_Strict):
    """Out-of-time validation: train on earlier dates, validate on the latest labelled one."""

    # Training dates must satisfy as_of + horizon + embargo_days <= the validation date: every
    # training label window closes embargo_days before it. None: 0.
    embargo_days: int | None = Field(default=None, ge=0)
    # A validation date with fewer churners or stayers cannot judge a model (a small
    # community's 9 rows gave ROC-AUC 0.5): training stops with the date, counts and fix.
    min_churners: int = Field(default=10, ge=2)
    min_stayers: int = Field(default=10, ge=2)
    # Bootstrap resamples of the validation rows for the AUC and lift confidence intervals;
    # a model whose AUC interval includes 0.5 is never made champion.
    bootstrap: int = Field(default=200, ge=20)
    # feature_view: auto compares the two views on the validation date only with at least this
    # many churners there; with fewer (the fightchurn sample's 17) the comparison is a coin
    # flip, and every column is kept.
    view_min_churners: int = Field(default=100, ge=2)
    calibration_methods: list[Literal["isotonic", "sigmoid"]] = ["isotonic", "sigmoid"]
    calibration_folds: int = Field(default=2, ge=2)
    # After validation, the served model is refitted with the same settings on every labelled
    # date up to the validation date (the training dates, those between and the validation date
    # itself), so that it learns from the freshest closed labels; the metrics stay those of the
    # model fitted before the validation date. False: serve that model as it is.
    refit: bool = True


class Tiers(_Strict):
    """Calibrated probability thresholds of the risk tiers: high at probability `high`, or at
    `high_lift` times the churn rate of the labelled rows where that is lower; medium likewise.

    Where 2-4% of members leave in 30 days (the book's simulator) almost nobody reaches 0.5:
    with lifts, high starts at 8-16%. A model keeps the thresholds it was trained with."""

    high: float = Field(default=0.5, gt=0, le=1)
    medium: float = Field(default=0.25, gt=0, le=1)
    # null: the probability thresholds alone.
    high_lift: float | None = Field(default=4.0, gt=1)
    medium_lift: float | None = Field(default=2.0, gt=1)

    @model_validator(mode="after")
    def _ordered(self) -> Tiers:
        if self.medium >= self.high:
            raise ValueError(f"tiers.medium ({self.medium}) must be below tiers.high ({self.high})")
        if (self.high_lift is None) != (self.medium_lift is None):
            # One lift alone could put medium above high (0.25 above 4 x 2%).
            raise ValueError("tiers.high_lift and tiers.medium_lift are set together, or both null")
        if (
            self.medium_lift is not None
            and self.high_lift is not None
            and self.medium_lift >= self.high_lift
        ):
            raise ValueError(
                f"tiers.medium_lift ({self.medium_lift}) must be below tiers.high_lift "
                f"({self.high_lift})"
            )
        return self

    def resolved(self, churn_rate: float) -> Tiers:
        """The probability thresholds for a churn rate (each the lower of its probability and
        its lift times the rate), with no lifts left to apply."""
        rate = max(churn_rate, 1e-6)  # training needs churners; a zero rate must not be 0
        high = self.high if self.high_lift is None else min(self.high, self.high_lift * rate)
        medium = (
            self.medium if self.medium_lift is None else min(self.medium, self.medium_lift * rate)
        )
        return Tiers(high=high, medium=medium, high_lift=None, medium_lift=None)


class ReasonSettings(_Strict):
    """How many reasons each member gets and where the intervention mapping lives."""

    top_k: int = Field(default=3, ge=1, le=10)
    # A YAML file of reason key -> intervention; relative paths are from the config file.
    interventions: Path | None = None
    # Custom event types whose events are a risk, not engagement (a CRM's x_add_competitor):
    # reasons word their presence or rise as a risk. steward cannot tell from a name, nor
    # reliably from the labels (on the book's crm5 simulator more x_add_competitor goes with
    # less churn, AUC 0.44, because busy accounts do more of everything).
    harm_events: list[str] = []

    @field_validator("harm_events")
    @classmethod
    def _custom_only(cls, value: list[str]) -> list[str]:
        wrong = [name for name in value if not is_custom_event(name)]
        if wrong:
            raise ValueError(
                f"{', '.join(map(repr, wrong))}: only custom event types (x_<name>) can be "
                "marked as harm; steward's own types have a fixed reading"
            )
        return value


class ChurnConfig(_Strict):
    """One churn experiment: which label, which data, which model, how it is judged."""

    task: Literal["churn"] = "churn"
    name: str = "churn"
    # auto: subscription where the features have subscription labels, activity otherwise
    # (models/churn/labels.py says which and why).
    label: Literal["auto", "activity", "subscription"] = "auto"
    # The member features folder; None: STEWARD_HOME/features/member_features.
    features: Path | None = None
    # Feature columns left out of the model, as shell patterns (e.g. "*toxic_reply*"); a
    # pattern that matches no column is an error, so a typo cannot silently keep a feature.
    features_exclude: list[str] = []
    # The columns the model uses: all of them; long_term, each count at its longest window and
    # the member's standing, no recent windows, days since or trends (long_term_columns); auto:
    # whichever of the two ranks the validation date better (models/churn/train.py).
    feature_view: Literal["auto", "all", "long_term"] = "auto"
    model: Annotated[LgbmParams | LogregParams, Field(discriminator="kind")] = LgbmParams()
    validation: ValidationSettings = ValidationSettings()
    tiers: Tiers = Tiers()
    reasons: ReasonSettings = ReasonSettings()
    registered_model: SafeName = MODEL_NAME
    # False: log the run without registering it (ablations and questions, not candidates).
    register_model: bool = True
    seed: int = 7
    # Read by `steward experiment sweep`; training ignores it.
    sweep: SweepSettings | None = None

    @property
    def label_column(self) -> str:
        """The feature table's label column for this config's label (auto: choose it first)."""
        if self.label == "auto":
            raise ValueError("label: auto is chosen from the features: call choose_label first")
        return f"churned_{self.label}"


def load_config(path: Path) -> ChurnConfig:
    """Read and validate an experiment file; errors are one line naming the key."""
    path = Path(path)
    config = parse_config(read_yaml_mapping(path), source=str(path))
    return resolve_paths(config, path.parent)


def parse_config(raw: dict[str, Any], source: str = "config") -> ChurnConfig:
    """Validate a settings mapping; the first problem is reported as `source: key: message`."""
    try:
        return ChurnConfig.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(p) for p in error["loc"] if str(p) not in _UNION_TAGS)
        message = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ValueError(f"{source}: {key or 'config'}: {message}{more}") from None


def resolve_paths(config: ChurnConfig, base: Path) -> ChurnConfig:
    """Relative paths in a config file are relative to that file."""
    updates: dict[str, Any] = {}
    if config.features is not None and not config.features.is_absolute():
        updates["features"] = (base / config.features).resolve()
    found = config.reasons.interventions
    if found is not None and not found.is_absolute():
        reasons = config.reasons.model_copy(update={"interventions": (base / found).resolve()})
        updates["reasons"] = reasons
    return config.model_copy(update=updates)


def resolved_dict(config: ChurnConfig) -> dict[str, Any]:
    """The config with every default filled in, as plain data (logged to MLflow)."""
    return config.model_dump(mode="json")
