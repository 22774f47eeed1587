"""Champion/challenger on the MLflow model registry, with aliases (not the deprecated stages).

A new version takes the `champion` alias only when it beats the current champion on the
same validation data, or when forced. Old versions stay, so rollback is moving the alias back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from features.storage.failpoints import failpoint
from models.tracking import INCOMPLETE_TAG

CHAMPION = "champion"


@dataclass(frozen=True)
class Promotion:
    """What happened to a newly registered version."""

    name: str
    version: str
    promoted: bool
    reason: str
    previous: str | None  # the champion version before this decision
    candidate_score: float
    champion_score: float | None


def champion_version(name: str) -> str | None:
    """The version holding the champion alias, or None."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        return str(MlflowClient().get_model_version_by_alias(name, CHAMPION).version)
    except MlflowException:
        return None


def register_and_promote(
    model_uri: str,
    name: str,
    candidate_score: float,
    score_version: Callable[[str], float],
    force: bool = False,
    higher_is_better: bool = True,
    blocked: str | None = None,
    incomplete: str | None = None,
) -> Promotion:
    """Register a model; move `champion` to it if it beats the champion (or if forced).

    `score_version(model_uri)` scores a registered version on the same validation data the
    candidate was scored on, so the comparison is like for like. `blocked`: why this model may
    never be champion (not even forced); it is registered and the reason says so. A model whose
    training was cut short (`incomplete` says why) is registered, tagged `steward.incomplete`,
    and never promoted, even forced.
    """
    from models.tracking import registry_lock

    # Held from registering to moving the alias: another training's promotion in between
    # would make this one compare itself with a champion that is no longer the champion.
    with registry_lock():
        if incomplete is not None:
            return _register_incomplete(model_uri, name, candidate_score, incomplete)
        return _register_and_promote(
            model_uri, name, candidate_score, score_version, force, higher_is_better, blocked
        )


def _register_incomplete(model_uri: str, name: str, candidate_score: float, why: str) -> Promotion:
    """Register and tag a cut-short model; the champion alias stays where it is."""
    import mlflow
    from mlflow import MlflowClient

    version = str(mlflow.register_model(model_uri, name).version)
    MlflowClient().set_model_version_tag(name, version, INCOMPLETE_TAG, why)
    reason = f"incomplete, never promoted: {why}"
    return Promotion(name, version, False, reason, champion_version(name), candidate_score, None)


def _register_and_promote(
    model_uri: str,
    name: str,
    candidate_score: float,
    score_version: Callable[[str], float],
    force: bool,
    higher_is_better: bool,
    blocked: str | None = None,
) -> Promotion:
    """register_and_promote's work, with the registry lock held."""
    import mlflow
    from mlflow import MlflowClient

    version = str(mlflow.register_model(model_uri, name).version)
    failpoint("registry.version_registered")
    previous = champion_version(name)
    champion_score = score_version(f"models:/{name}/{previous}") if previous else None
    better = champion_score is None or (
        candidate_score > champion_score if higher_is_better else candidate_score < champion_score
    )
    if previous is None:
        reason = "first version: becomes champion"
    elif force:
        reason = (
            f"forced (candidate {candidate_score:.4f}, champion v{previous} {champion_score:.4f})"
        )
    elif better:
        reason = f"beats champion v{previous}: {candidate_score:.4f} vs {champion_score:.4f}"
    else:
        reason = (
            f"does not beat champion v{previous}: {candidate_score:.4f} vs {champion_score:.4f}"
        )
    promoted = force or better
    if blocked is not None:
        reason, promoted = f"not made champion: {blocked}", False
    if promoted:
        MlflowClient().set_registered_model_alias(name, CHAMPION, version)
        failpoint("registry.alias_moved")
    return Promotion(name, version, promoted, reason, previous, candidate_score, champion_score)


def set_champion(name: str, version: str) -> None:
    """Point the champion alias at a version (rollback, or a manual promotion)."""
    from mlflow import MlflowClient

    from models.tracking import registry_lock

    with registry_lock():
        MlflowClient().set_registered_model_alias(name, CHAMPION, version)
