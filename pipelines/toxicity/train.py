"""Toxicity pipelines: train and track a model from a config, score posts, and the demo."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import pandas as pd

from features.storage.failpoints import failpoint
from features.text.corpora import (
    REAL_SOURCES,
    load_corpus,
    load_moderation_file,
    real_data_available,
    split_corpus,
)
from models.champions import load_toxicity_scorer
from models.toxicity import CHAMPION_URI
from models.toxicity.config import DataConfig, ToxicityConfig, load_config

if TYPE_CHECKING:
    from rich.console import Console

    from models.registry import Promotion
    from models.toxicity.scoring import PostScore, SpanMode, ToxicityScorer

DEMO_POSTS: tuple[str, ...] = (
    "Thanks for the tips, the meetup was great!",
    "You are an idiot and nobody wants you here.",
    "You're a 1d10t, l3arn to read",
    "I am a proud gay Muslim woman",
    "Shut the f*ck up, you pathetic loser",
    "这个新版本真的很好用，谢谢大家！",
    "你就是个白痴，滚出这个论坛",
    "我是河南人",
    "Discrimination against Muslims is wrong.",
    "歧视女人是不对的。",
)


@dataclass
class TrainResult:
    """What a training run produced."""

    run_id: str
    model_uri: str
    version: str
    metrics: pd.DataFrame
    promotion: Promotion | None
    scorer: ToxicityScorer
    details: dict[str, Any] = field(default_factory=dict)


def load_training_frame(data: DataConfig) -> pd.DataFrame:
    """The configured corpora, in one frame, with train/valid/test assigned."""
    names = [*data.sources, *data.transformer_only, *data.eval_only]
    parts = [load_corpus(name) for name in names]
    for item in data.community_files:
        parts.append(
            load_moderation_file(item.path, item.text_column, item.labels, item.lang_column)
        )
    frame = pd.concat(
        [_cap(p, data.max_rows_per_source, data.seed) for p in parts], ignore_index=True
    )
    frame = split_corpus(frame, data.test_fraction, data.valid_fraction, data.seed)
    eval_only = frame["source"].isin(data.eval_only)
    frame.loc[eval_only, "split"] = "test"
    return frame


def _cap(frame: pd.DataFrame, limit: int | None, seed: int) -> pd.DataFrame:
    """At most `limit` rows of one corpus (a random sample, for quick runs and tests)."""
    return frame if limit is None or len(frame) <= limit else frame.sample(limit, random_state=seed)


def train_toxicity(
    config_path: Path, force: bool = False, log: Callable[[str], None] = print
) -> TrainResult:
    """Train, evaluate, log and register the model a config describes."""
    return train_from_config(load_config(config_path), force, log)


def train_from_config(
    config: ToxicityConfig, force: bool = False, log: Callable[[str], None] = print
) -> TrainResult:
    """Train from a validated config; the run is tracked in the `toxicity` experiment."""
    from models.tracking import configure_tracking, owned_run, use_experiment

    configure_tracking()
    experiment = use_experiment(config.tracking.experiment)
    frame = load_training_frame(config.data)
    from models.toxicity.tracking import row_counts

    log("data: " + ", ".join(f"{k} {n:,}" for k, n in row_counts(frame).items()))
    # An owned run: a training killed midway is marked KILLED by the next one, not left RUNNING.
    with owned_run(experiment, config.name):
        return train_in_run(config, frame, force, log)


def train_in_run(
    config: ToxicityConfig,
    frame: pd.DataFrame,
    force: bool = False,
    log: Callable[[str], None] = print,
) -> TrainResult:
    """Train on a loaded frame inside the active MLflow run (the experiment runner opens it)."""
    import mlflow

    from models.toxicity.tracking import log_inputs

    run = mlflow.active_run()
    if run is None:
        raise RuntimeError("train_in_run needs an active MLflow run")
    with tempfile.TemporaryDirectory() as tmp:
        log_inputs(config, frame)
        version = f"{config.model}-{run.info.run_id[:8]}"
        return _train_in_run(config, frame, version, Path(tmp), force, log)


def _train_in_run(
    config: ToxicityConfig,
    frame: pd.DataFrame,
    version: str,
    tmp: Path,
    force: bool,
    log: Callable[[str], None],
) -> TrainResult:
    """Fit, set thresholds, evaluate, log artifacts, log and register the pyfunc."""
    import mlflow

    from models.toxicity.metrics import compare_english_routes, evaluate
    from models.toxicity.pyfunc import log_scorer
    from models.toxicity.scoring import routed_language
    from models.toxicity.tracking import log_details, log_metrics_table, register_scorer
    from models.toxicity.training import fit_scorer, mean_source_auc, set_thresholds

    report = fit_scorer(frame, config, version, tmp, log)
    scorer = report.scorer
    held = frame[frame["split"].isin(["valid", "test"])]
    started = time.perf_counter()
    routed = [routed_language(lg) for lg in held["lang"]]
    lin, tr = scorer.component_probs(held["text"].tolist(), routed)
    probs = scorer.combine(lin, tr, routed, scorer.english_route)
    report.seconds["score_held_out"] = time.perf_counter() - started
    is_valid = (held["split"] == "valid").to_numpy()
    set_thresholds(scorer, held[is_valid], probs[is_valid], config.thresholds)
    table = evaluate(
        held,
        pd.DataFrame(probs, columns=scorer.labels, index=held.index),
        routed,
        scorer.thresholds,
    ).assign(model="served")
    if tr is not None:
        routes = compare_english_routes(
            held,
            lambda r: scorer.combine(lin, tr, routed, r),
            scorer.labels,
            routed,
            scorer.thresholds,
        )
        table = pd.concat([table, routes], ignore_index=True)
    log_metrics_table(table)
    log_details(scorer, report, table, held, probs)
    toxic = probs[:, scorer.labels.index("toxicity")]
    mlflow.log_text(top_errors(held, toxic).to_csv(index=False), "top_errors.csv")
    model_uri = log_scorer(scorer, tmp / "model")
    failpoint("train.model_logged")
    valid = held[is_valid]
    score = mean_source_auc(valid, probs[is_valid, scorer.labels.index("toxicity")])
    mlflow.log_metric("promotion_score", score)
    incomplete = report.incomplete()
    if incomplete is not None:
        from models.tracking import INCOMPLETE_TAG

        mlflow.set_tag(INCOMPLETE_TAG, incomplete)
        log(f"incomplete: {incomplete}; the model is kept but never promoted")
    promotion = (
        register_scorer(config, model_uri, score, valid, force, incomplete)
        if config.tracking.register_model
        else None
    )
    if promotion is not None:
        log(f"registered {promotion.name} v{promotion.version}: {promotion.reason}")
    details = {
        "seconds": report.seconds,
        "backends": report.backends,
        "route_scores": report.route_scores,
    }
    run = mlflow.active_run()
    run_id = run.info.run_id if run else ""
    return TrainResult(run_id, model_uri, version, table, promotion, scorer, details)


def top_errors(held: pd.DataFrame, probability: Any, n: int = 10) -> pd.DataFrame:
    """The test posts the model got most wrong: confident false alarms and missed toxic posts."""
    frame = held.assign(probability=list(probability))
    test = frame[(frame["split"] == "test") & frame["toxicity"].notna()]
    is_toxic = test["toxicity"].astype(bool)
    false_alarms = test[~is_toxic].nlargest(n, "probability").assign(error="false alarm")
    missed = test[is_toxic].nsmallest(n, "probability").assign(error="missed")
    columns = ["error", "probability", "source", "lang", "text"]
    return pd.concat([false_alarms, missed], ignore_index=True)[columns]


def score_posts(
    texts: Sequence[str],
    langs: Sequence[object] | None = None,
    model_uri: str = CHAMPION_URI,
    spans: SpanMode = "flagged",
) -> list[PostScore]:
    """Score raw posts with a registered model: probabilities, action, language, spans, version."""
    return load_toxicity_scorer(model_uri).score(texts, langs, spans)


DemoModel = Literal["minilm", "linear"]

# What each demo model is, for the heading: the recipe and how long it trains on 2 cores.
_DEMO_MODELS: dict[str, str] = {
    "minilm": "linear + fine-tuned MiniLM for English (about 6 minutes on 2 cores)",
    "linear": "linear model (under a minute)",
}


def check_demo_model(name: str) -> DemoModel:
    """The --toxicity-model value, or a ValueError naming the choices."""
    for model in get_args(DemoModel):
        if name == model:
            return model
    raise ValueError(f"--toxicity-model {name!r}: give one of {', '.join(_DEMO_MODELS)}")


def demo_config(model: DemoModel = "minilm") -> tuple[ToxicityConfig, str]:
    """The shipped recipe (experiments/toxicity_{model}.yaml) on the real corpora when present,
    else the linear model on the simulator's posts."""
    from features.lake.store import Lake

    if real_data_available():
        from features.text.span_corpora import span_corpora_available
        from models.toxicity.config import SpanConfig

        # The recipe chosen on leave-one-source-out figures, as `steward train toxicity` uses.
        shipped = Path(__file__).resolve().parents[2] / "experiments" / f"toxicity_{model}.yaml"
        config = ToxicityConfig()
        if shipped.is_file():
            recipe = load_config(shipped)
            wanted = [*recipe.data.sources, *recipe.data.transformer_only]
            if real_data_available([s for s in wanted if s in REAL_SOURCES]):
                config = recipe
        # Spans from the tagger when its corpora are there: 3,000 posts keep the demo quick.
        spans = SpanConfig(train=span_corpora_available(), max_posts=3_000)
        config = config.model_copy(update={"name": "toxicity-demo", "sweep": None, "spans": spans})
        return config, "the public corpora in ../shared/data"
    # The demo ingests a simulated community first; its moderation decisions are in the lake.
    # A few thousand simulated posts are too few and too regular to fine-tune MiniLM on.
    source = "lake" if Lake.default().files("moderation") else "simulator"
    data = DataConfig(sources=[source, "seed"], eval_only=[])
    return ToxicityConfig(name="toxicity-demo", data=data), (
        "the simulator's labelled posts (../shared/data is absent, so no real corpora)"
    )


def demo_toxicity(console: Console, model: DemoModel = "minilm") -> None:
    """Train the shipped recipe and show scores, actions and spans for posts in both languages."""
    from pipelines.output import rows_table

    config, what = demo_config(model)
    console.rule(f"toxicity: {_DEMO_MODELS[config.model]} trained on {what}")
    started = time.perf_counter()
    result = train_from_config(config, log=lambda m: console.print(f"  {m}"))
    console.print(f"trained in {time.perf_counter() - started:.0f} s (run {result.run_id[:8]})")
    console.print(_quality_table(result.metrics))
    scores = load_toxicity_scorer(result.model_uri).score(list(DEMO_POSTS), spans="all")
    rows = [
        [
            post,
            s.lang,
            s.probabilities.get("toxicity"),
            s.action,
            ", ".join(f"'{sp.text}'" for sp in s.spans) or "-",
        ]
        for post, s in zip(DEMO_POSTS, scores, strict=True)
    ]
    console.print(
        rows_table(
            f"example posts (model {result.version})",
            ["post", "lang", "toxicity", "action", "spans"],
            rows,
        )
    )


def _quality_table(metrics: pd.DataFrame) -> Any:
    """Held-out toxicity ROC-AUC by source."""
    from pipelines.output import rows_table

    test = metrics[
        (metrics["model"] == "served")
        & (metrics["split"] == "test")
        & (metrics["label"] == "toxicity")
        & metrics["group"].str.startswith("source:")
    ]
    rows = [
        [str(g).removeprefix("source:"), int(n), auc, f1]
        for g, n, auc, f1 in zip(
            test["group"], test["n"], test["roc_auc"], test["f1_review"], strict=True
        )
    ]
    return rows_table(
        "held-out test split (never trained on)",
        ["source", "posts", "ROC-AUC", "F1 at review"],
        rows,
    )
