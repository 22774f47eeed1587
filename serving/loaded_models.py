"""The models the server holds: loaded at startup, swapped whole on reload, never half-loaded."""

from __future__ import annotations

import gc
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from features.scores.at_risk import AtRiskTable, at_risk_path
from models.champions import first_line, resolve, stored_uri
from serving.settings import ServeSettings

if TYPE_CHECKING:
    from models.churn.scorer import ChurnScorer
    from models.toxicity.scoring import ToxicityScorer


@dataclass(frozen=True)
class Loaded:
    """One loaded model: what it is, where it came from and the registry version."""

    name: str
    version: str
    uri: str
    scorer: Any
    cohorts: dict[str, Any] | None = None  # churn: the version's behavioural cohorts, if logged

    def describe(self) -> dict[str, str]:
        """JSON-ready identity of the model."""
        return {"name": self.name, "version": self.version, "uri": self.uri}


@dataclass
class Models:
    """What is serving now; a reload builds a new Models and swaps the reference."""

    toxicity: Loaded | None = None
    churn: Loaded | None = None
    at_risk: AtRiskTable | None = None
    errors: dict[str, str] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """Versions and load errors, for /readyz and the reload report."""
        out: dict[str, Any] = {}
        for part in ("toxicity", "churn"):
            loaded: Loaded | None = getattr(self, part)
            out[part] = loaded.describe() if loaded else None
        table = self.at_risk
        out["at_risk"] = (
            {
                "path": str(table.path),
                "as_of": table.as_of.isoformat() if table.as_of else None,
                "members": len(table.frame),
                "model_version": table.model_version,
            }
            if table
            else None
        )
        return out


def load_toxicity(uri: str, threads: int | None = None) -> Loaded:
    """The toxicity scorer at uri, pinned to the version the alias names now; its transformer
    (if any) runs on `threads` threads (None: as saved)."""
    from models.champions import load_toxicity_scorer
    from models.toxicity.backends import load_backend

    name, version = resolve(uri)
    scorer: ToxicityScorer = load_toxicity_scorer(stored_uri(name, version))
    transformer = scorer.transformer
    if threads is not None and transformer is not None and transformer.threads != threads:
        scorer.transformer = load_backend(transformer.folder, threads)
    # The first call pays lazy initialisation (the language detector's model too), not a client.
    scorer.score(["warm-up"], None, "none")
    return Loaded(name, version, uri, scorer)


def load_churn(uri: str) -> Loaded:
    """The churn scorer at uri, pinned to the version the alias names now."""
    from models.champions import load_churn_scorer, version_cohorts

    name, version = resolve(uri)
    try:
        scorer: ChurnScorer = load_churn_scorer(stored_uri(name, version))
    except Exception as exc:  # a broken artifact surfaces as many exception types
        raise ValueError(f"cannot load {name} v{version}: {first_line(exc)}") from None
    return Loaded(name, version, uri, scorer, version_cohorts(name, version))


def at_risk_file(settings: ServeSettings) -> Path:
    """The at-risk table to serve: the setting, else STEWARD_HOME/scores/at_risk.parquet."""
    return settings.at_risk_path or at_risk_path()


def load_models(settings: ServeSettings, current: Models | None = None) -> Models:
    """Load every configured component; one that fails keeps `current`'s and records why."""
    from models.tracking import configure_tracking

    configure_tracking()
    current = current or Models()
    fresh = Models()
    loaders: dict[str, Any] = {}
    if "toxicity" in settings.components:
        loaders["toxicity"] = lambda: load_toxicity(settings.toxicity_uri, settings.model_threads)
    if "churn" in settings.components:
        loaders["churn"] = lambda: load_churn(settings.churn_uri)
        loaders["at_risk"] = lambda: AtRiskTable.read(at_risk_file(settings))
    for part, load in loaders.items():
        try:
            setattr(fresh, part, load())
        except Exception as exc:  # any failure: keep serving what we had, and say why
            setattr(fresh, part, getattr(current, part))
            fresh.errors[part] = first_line(exc)
    return fresh


def _freeze_heap() -> None:
    """Move the loaded models out of the garbage collector's sight.

    A TF-IDF vocabulary is hundreds of thousands of objects: every full collection walked
    them for ~190 ms, which was the p99 under load. One collection now (which also frees a
    replaced model) and a freeze keep later collections to new, short-lived objects.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


class ModelHolder:
    """The current Models, swapped atomically; reloads run one at a time."""

    def __init__(self) -> None:
        self.current = Models()
        self.ready = False
        self.loading = False
        self.reload_lock = threading.Lock()

    def load(self, settings: ServeSettings) -> Models:
        """Load (or reload) in the calling thread, then swap in what loaded."""
        with self.reload_lock:
            self.loading = True
            try:
                fresh = load_models(settings, self.current)
                # One reference assignment: requests in flight keep the Models they started with.
                self.current = fresh
                self.ready = self.complete(settings)
                _freeze_heap()
            finally:
                self.loading = False
            return fresh

    def complete(self, settings: ServeSettings) -> bool:
        """True when every configured component is loaded."""
        models = self.current
        needed: list[object] = [models.toxicity] if "toxicity" in settings.components else []
        if "churn" in settings.components:
            needed += [models.churn, models.at_risk]
        return all(part is not None for part in needed)
