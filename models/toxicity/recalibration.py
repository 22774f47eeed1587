"""Review/block thresholds recalibrated on the community's own moderation decisions.

The proposal re-scores every decided post in the lake with the served model and chooses
thresholds per label and language with the rule training uses (same precision and recall
targets, read from the model's training run). Applying it registers a new version of the
model that differs only in its thresholds and moves `champion` to it: batch scoring, the
API and the pages all read thresholds from the model, so they stay identical, the old
version stays in the registry (rollback is moving the alias back), and nothing changes
unless every step succeeds.
"""

from __future__ import annotations

import copy
import hashlib
import json
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from models.toxicity.config import ThresholdConfig
from models.toxicity.scoring import ToxicityScorer, routed_language
from models.toxicity.thresholds import Thresholds, fit_threshold_table, table_to_dict

EXPERIMENT = "toxicity_recalibration"
SOURCE = "community"


class RecalibrationError(RuntimeError):
    """A proposal that cannot be applied (stale, empty, or the registry write failed)."""


@dataclass(frozen=True)
class Change:
    """New thresholds for one label and language, and how they do on the decided posts."""

    label: str
    lang: str
    decided: int
    toxic: int
    before: Thresholds | None
    after: Thresholds
    recall_before: float | None  # share of toxic posts at or above review
    recall_after: float
    precision_before: float | None  # share toxic among posts at or above block
    precision_after: float | None


@dataclass(frozen=True)
class Proposal:
    """Thresholds proposed for one served model version from the decisions in the lake."""

    name: str
    version: str
    targets: ThresholdConfig
    decided: int
    changes: list[Change]
    table: dict[str, dict[str, Thresholds]]

    @property
    def digest(self) -> str:
        """Names exactly what was previewed: applying checks it is still what would apply."""
        raw = {"model": [self.name, self.version], "table": table_to_dict(self.table)}
        return hashlib.sha256(json.dumps(raw, sort_keys=True).encode()).hexdigest()[:20]


def training_targets(name: str, version: str) -> ThresholdConfig:
    """The threshold targets the version was trained with (the defaults if not recorded)."""
    from mlflow import MlflowClient

    client = MlflowClient()
    try:
        run_id = client.get_model_version(name, version).run_id
        params = client.get_run(run_id).data.params if run_id else {}
    except Exception:  # a version without a run (or a run gone) falls back to the defaults
        params = {}
    fields = ("block_precision", "review_recall", "prevalence", "min_positives")
    found: dict[str, object] = {}
    for key in fields:
        value = params.get(f"thresholds.{key}")
        if value not in (None, "None"):
            found[key] = value
    base = params.get("recalibration.base_targets")
    if base:  # a recalibrated version records the targets of the version it came from
        found = json.loads(base)
    return ThresholdConfig.model_validate(found)


def propose(
    scorer: ToxicityScorer,
    decisions: pd.DataFrame,
    name: str,
    version: str,
    targets: ThresholdConfig,
) -> Proposal:
    """Thresholds from the decided posts' scores (labels/languages with too few keep theirs)."""
    probs, langs = scorer.predict_proba(decisions["text"].tolist(), decisions["lang"].tolist())
    routed = [routed_language(lg) for lg in langs]
    p = pd.DataFrame(probs, columns=scorer.labels, index=decisions.index)
    y = decisions.reindex(columns=scorer.labels).astype(float)
    fitted = fit_threshold_table(
        y,
        p,
        routed,
        [SOURCE] * len(decisions),
        targets.block_precision,
        targets.review_recall,
        targets.min_positives,
        targets.prevalence,
    )
    table = copy.deepcopy(scorer.thresholds)
    changes = []
    for label, per_lang in fitted.items():
        for lang, after in per_lang.items():
            before = scorer.thresholds.get(label, {}).get(lang)
            rows = y[label].notna().to_numpy() & p[label].notna().to_numpy()
            if lang != "*":
                rows &= np.asarray(routed) == lang
            changes.append(_change(label, lang, y[label][rows], p[label][rows], before, after))
            table.setdefault(label, {})[lang] = after
    return Proposal(name, version, targets, len(decisions), changes, table)


def _change(
    label: str,
    lang: str,
    y: pd.Series,
    p: pd.Series,
    before: Thresholds | None,
    after: Thresholds,
) -> Change:
    """One row of the before/after table (unweighted, on the decided posts)."""
    toxic = y.to_numpy() == 1
    score = p.to_numpy()

    def recall(t: Thresholds | None) -> float | None:
        return None if t is None else float((score[toxic] >= t.review).mean())

    def precision(t: Thresholds | None) -> float | None:
        if t is None or t.block is None or not (score >= t.block).any():
            return None
        return float(toxic[score >= t.block].mean())

    return Change(
        label,
        lang,
        len(y),
        int(toxic.sum()),
        before,
        after,
        recall(before),
        recall(after) or 0.0,
        precision(before),
        precision(after),
    )


def apply(proposal: Proposal, scorer: ToxicityScorer, digest: str, alias: str) -> str:
    """Register the scorer with the proposed thresholds and move `alias` to it; its version.

    Refused when the preview is stale (`digest`) or the alias moved since; the model is
    logged before the registry lock is taken, so a failure at any step leaves the alias.
    """
    import mlflow
    from mlflow import MlflowClient

    from models.toxicity.pyfunc import log_scorer
    from models.tracking import configure_tracking, registry_lock, use_experiment

    if digest != proposal.digest:
        raise RecalibrationError("the decisions or the model changed since the preview")
    if not proposal.changes:
        raise RecalibrationError("nothing to apply: too few decisions for any label")
    configure_tracking()
    use_experiment(EXPERIMENT)
    fresh = copy.copy(scorer)
    fresh.thresholds = proposal.table
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    fresh.version = f"{scorer.version.split('+')[0]}+recal{stamp}"
    run_name = f"recalibrate-{proposal.name}-v{proposal.version}"
    with mlflow.start_run(run_name=run_name), tempfile.TemporaryDirectory() as tmp:
        mlflow.log_params(
            {
                "recalibration.base_model": f"{proposal.name}/{proposal.version}",
                "recalibration.decided_posts": proposal.decided,
                "recalibration.base_targets": proposal.targets.model_dump_json(),
            }
        )
        mlflow.log_dict(table_to_dict(scorer.thresholds), "thresholds_before.json")
        mlflow.log_dict(table_to_dict(proposal.table), "thresholds.json")
        model_uri = log_scorer(fresh, Path(tmp) / "model")
    client = MlflowClient()
    with registry_lock():
        held = str(client.get_model_version_by_alias(proposal.name, alias).version)
        if held != proposal.version:
            raise RecalibrationError(f"@{alias} moved to another version since the preview")
        version = str(mlflow.register_model(model_uri, proposal.name).version)
        client.set_registered_model_alias(proposal.name, alias, version)
    return version


def roll_back(name: str, alias: str, version: str) -> None:
    """Point the alias back at a version (when the new one fails to load)."""
    from mlflow import MlflowClient

    from models.tracking import registry_lock

    with registry_lock():
        MlflowClient().set_registered_model_alias(name, alias, version)
