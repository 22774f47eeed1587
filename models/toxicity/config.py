"""Validated toxicity experiment configs, read from experiments/*.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, model_validator

from features.schemas import MODERATION_LABELS
from models.config import SafeName, StrictConfig, read_yaml_mapping
from models.sweep import SweepSettings

_Strict = StrictConfig


class CommunityFile(_Strict):
    """A community's own moderation decisions in a CSV/Parquet/JSONL file."""

    path: Path
    text_column: str = "text"
    labels: dict[str, str] | None = None  # steward label -> column; default: same names
    lang_column: str | None = None


class DataConfig(_Strict):
    """Which corpora to train and evaluate on, and how to split them."""

    sources: list[str] = ["davidson", "stormfront", "cold", "seed"]
    eval_only: list[str] = ["jigsaw"]  # scored and reported, never trained on
    # Corpora only the transformer trains on: the linear model learns the wrong lesson from
    # civil_spans' written counterfactuals (leave-one-source-out, experiments/toxicity_minilm.yaml).
    transformer_only: list[str] = []
    community_files: list[CommunityFile] = []
    max_rows_per_source: int | None = Field(default=None, ge=10)
    test_fraction: float = Field(default=0.2, gt=0, lt=0.5)
    valid_fraction: float = Field(default=0.1, gt=0, lt=0.5)
    seed: int = 13
    min_positives: int = Field(default=20, ge=1)  # per label and language, to support it
    # A community's own decisions (the lake's moderation rows, community files) count this
    # many times a corpus row: a few hundred of them must move a model of ~100k corpus rows.
    community_weight: float = Field(default=1.0, gt=0)


class LinearConfig(_Strict):
    """TF-IDF word and character n-grams with one logistic regression per label."""

    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (2, 5)
    min_df: int = Field(default=2, ge=1)
    max_word_features: int = Field(default=200_000, ge=100)
    max_char_features: int = Field(default=300_000, ge=100)
    C: float = Field(default=4.0, gt=0)
    max_iter: int = Field(default=1000, ge=10)
    # Every (corpus, toxic or not) cell weighs the same: Davidson is 83% toxic tweets and
    # the forum 11% toxic, so unweighted the model learns "sounds like a tweet" as toxicity.
    balance_sources: bool = False
    # Clip at zero the weights of n-grams that only name a training group
    # (features.text.identity_terms): naming a group may not raise a score by itself.
    neutral_identity_terms: bool = False


class TransformerConfig(_Strict):
    """MiniLM fine-tuning on English for a fixed number of steps, and its export for serving."""

    # A fixed sample and a fixed number of steps (epochs over it): the same file on the same
    # data gives the same model whatever the machine's load. A run stopped by this limit is
    # recorded as incomplete and never promoted; None: no limit.
    time_limit_minutes: float | None = Field(default=None, gt=0)
    max_train_examples: int = Field(default=6000, ge=10)
    max_valid_examples: int = Field(default=2000, ge=10)
    max_len: int = Field(default=64, ge=8, le=512)
    unfreeze_top_layers: int = Field(default=2, ge=0, le=6)
    epochs: float = Field(default=2.0, gt=0)
    batch_size: int = Field(default=32, ge=1)
    lr_encoder: float = Field(default=5e-5, gt=0)
    lr_head: float = Field(default=1e-3, gt=0)
    threads: int = Field(default=2, ge=1)
    serving_threads: int = Field(default=1, ge=1)
    backend: Literal["auto", "onnx_int8", "onnx_int8_static", "torch_int8", "torch_fp32"] = "auto"
    auc_tolerance: float = Field(default=0.005, ge=0)  # int8 must match fp32 this closely
    max_batch_drift: float = Field(default=0.02, ge=0)  # single vs batched score, at most
    calibration_examples: int = Field(default=256, ge=0)  # for static int8; 0: none
    english_route: Literal["auto", "transformer", "ensemble"] = "auto"
    # MiniLM's share of the English average on the ensemble route (the linear model: the rest).
    ensemble_weight: float = Field(default=0.5, ge=0, le=1)
    seed: int = 0

    @model_validator(mode="before")
    @classmethod
    def _no_budget(cls, data: object) -> object:
        """The old wall-clock budget made the model depend on the load: say what replaced it."""
        if isinstance(data, dict) and "budget_minutes" in data:
            raise ValueError(
                "budget_minutes is gone: training runs its planned steps (epochs over "
                "max_train_examples); time_limit_minutes stops it early, and such a run is "
                "marked incomplete and never promoted"
            )
        return data


class FixedThresholds(_Strict):
    """Toxicity thresholds of one language, chosen outside training (bench.toxicity)."""

    review: float = Field(gt=0, lt=1)
    block: float | None = Field(default=None, gt=0, le=1)  # None: nothing is blocked


class SpanConfig(_Strict):
    """The span tagger, trained on the training parts of the annotated span corpora
    (toxic_spans_civil, HateXplain rationales) when they are in ../shared/data."""

    train: bool = False
    max_posts: int | None = Field(default=None, ge=20)  # None: every training-part post
    C: float = Field(default=0.5, gt=0)
    seed: int = 13


class ThresholdConfig(_Strict):
    """Actions from probabilities: targets met on validation data, per label and language."""

    block_precision: float = Field(default=0.95, gt=0, le=1)
    review_recall: float = Field(default=0.90, gt=0, le=1)
    # Share of toxic posts the precision target assumes; None: as in the validation data.
    prevalence: float | None = Field(default=0.10, gt=0, lt=1)
    # Labels whose review threshold sends a post to review; every label's block threshold blocks.
    # Sub-labels at 90% recall would flood the queue with what toxicity already catches.
    review_labels: list[str] = ["toxicity"]
    min_positives: int = Field(default=20, ge=1)  # below this a language uses the pooled one
    # Per language: toxicity thresholds chosen on pooled leave-one-source-out scores (what
    # `python -m bench.toxicity` prints), which hold on sources the model never saw; they
    # replace the ones chosen on the validation split. Empty: validation thresholds.
    fixed: dict[str, FixedThresholds] = {}


class TrackingConfig(_Strict):
    """Where the run is recorded and under which registered model."""

    experiment: SafeName = "toxicity"
    registered_model: SafeName = "steward-toxicity"
    register_model: bool = True


class ToxicityConfig(_Strict):
    """One toxicity experiment."""

    task: Literal["toxicity"] = "toxicity"
    name: str = "toxicity"
    model: Literal["linear", "minilm"] = "linear"
    labels: list[str] = list(MODERATION_LABELS)
    data: DataConfig = DataConfig()
    linear: LinearConfig = LinearConfig()
    transformer: TransformerConfig = TransformerConfig()
    thresholds: ThresholdConfig = ThresholdConfig()
    spans: SpanConfig = SpanConfig()
    tracking: TrackingConfig = TrackingConfig()
    # Read by `steward experiment sweep`; training ignores it.
    sweep: SweepSettings | None = None

    @model_validator(mode="after")
    def _known_labels(self) -> ToxicityConfig:
        unknown = [lb for lb in self.labels if lb not in MODERATION_LABELS]
        if unknown or "toxicity" not in self.labels:
            raise ValueError(f"labels must include toxicity and come from {MODERATION_LABELS}")
        stray = [lb for lb in self.thresholds.review_labels if lb not in self.labels]
        if stray:
            raise ValueError(f"thresholds.review_labels {stray} are not in labels {self.labels}")
        both = sorted(set(self.data.transformer_only) & set(self.data.sources))
        if both:
            raise ValueError(f"data.transformer_only {both} are also in data.sources: pick one")
        if self.data.transformer_only and self.model != "minilm":
            raise ValueError(
                "data.transformer_only needs model: minilm (a linear model never reads them)"
            )
        return self


def load_config(path: Path) -> ToxicityConfig:
    """Read and validate a YAML config; errors name the file and the offending key."""
    path = Path(path)
    raw = read_yaml_mapping(path)
    try:
        return ToxicityConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise ValueError(f"config {path}: {where}: {first['msg']}") from None
