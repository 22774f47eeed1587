"""Loading registered scorers: what batch scoring, the CLI and the server all load the same way."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from models.churn.config import MODEL_NAME
from models.toxicity import CHAMPION_URI as TOXICITY_CHAMPION

if TYPE_CHECKING:
    from models.churn.scorer import ChurnScorer
    from models.toxicity.scoring import ToxicityScorer

MODEL_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>\d+))$")


def resolve(uri: str) -> tuple[str, str]:
    """(name, version) of models:/NAME@ALIAS or models:/NAME/VERSION in the registry now."""
    from mlflow import MlflowClient

    found = MODEL_URI.match(uri)
    if found is None:
        raise ValueError(f"{uri!r} is not models:/NAME@ALIAS or models:/NAME/VERSION")
    name = found["name"]
    if found["version"]:
        return name, found["version"]
    try:
        version = MlflowClient().get_model_version_by_alias(name, found["alias"]).version
    except Exception as exc:  # MLflow raises several kinds for a missing model or alias
        raise ValueError(
            f"no {name}@{found['alias']} in the registry ({first_line(exc)}); "
            f"train one with `steward train {name.removeprefix('steward-')}`"
        ) from None
    return name, str(version)


def stored_uri(name: str, version: str) -> str:
    """Where a registered version's files are, to load them from there (read-only).

    Loading `models:/NAME/VERSION` makes MLflow write a `registered_model_meta` file into the
    model's folder, which for the local store is the store itself: a server would rewrite the
    registry's files on every load and reload. Loading from the version's own location reads.
    """
    from mlflow import MlflowClient

    return str(MlflowClient().get_model_version_download_uri(name, version))


def version_cohorts(name: str, version: str) -> dict[str, Any] | None:
    """The behavioural cohorts logged with a version's training run (cohorts.json); None for a
    version whose run has none (trained before runs logged them, or not a churn run)."""
    import mlflow
    from mlflow import MlflowClient

    run_id = MlflowClient().get_model_version(name, version).run_id
    if not run_id:
        return None
    try:
        found = mlflow.artifacts.load_dict(f"runs:/{run_id}/cohorts.json")
    except Exception:  # a missing artifact surfaces as several MLflow and OS errors
        return None
    return found if isinstance(found, dict) and found.get("features") else None


def churn_labels_through(name: str, version: str, horizon_days: int) -> date | None:
    """The last day of any label a registered churn version learned (its run's labels_through,
    or for runs logged before that tag its validation date plus horizon_days); None: unknown."""
    from mlflow import MlflowClient

    from models.tracking import configure_tracking

    configure_tracking()
    try:
        client = MlflowClient()
        tags = client.get_run(str(client.get_model_version(name, version).run_id)).data.tags
    except Exception:  # MLflow raises several kinds for a missing version or run
        return None
    if "labels_through" in tags:
        return date.fromisoformat(tags["labels_through"])
    if "valid_date" in tags:
        return date.fromisoformat(tags["valid_date"]) + timedelta(days=horizon_days)
    return None


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (MLflow's run to pages)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def load_churn_scorer(model_uri: str) -> ChurnScorer:
    """The ChurnScorer inside a logged or registered churn pyfunc."""
    return _churn_scorer(_churn_pyfunc(model_uri), model_uri)


def load_churn_judge(model_uri: str, valid_date: date) -> ChurnScorer:
    """The scorer to judge a churn version on valid_date's rows by: the served one, unless it was
    refitted on labels reaching past valid_date (it would be judged on rows it learned); then the
    held-out model its metrics describe."""
    model = _churn_pyfunc(model_uri)
    held_out = getattr(model, "held_out", None)  # absent in models logged before refits
    labels_through = getattr(model, "labels_through", None)
    if held_out is not None and labels_through and date.fromisoformat(labels_through) > valid_date:
        return _churn_scorer(model, model_uri, held_out)
    return _churn_scorer(model, model_uri)


def _churn_pyfunc(model_uri: str) -> Any:
    """The python model inside a logged or registered pyfunc."""
    import mlflow

    return mlflow.pyfunc.load_model(model_uri).unwrap_python_model()


def _churn_scorer(model: Any, model_uri: str, scorer: Any = None) -> ChurnScorer:
    """model's scorer (or the one given), checked to be a steward churn scorer."""
    from models.churn.scorer import ChurnScorer

    scorer = getattr(model, "scorer", None) if scorer is None else scorer
    if not isinstance(scorer, ChurnScorer):
        raise ValueError(f"{model_uri} is not a steward churn model")
    return scorer


def load_churn_champion(name: str = MODEL_NAME) -> tuple[ChurnScorer, str]:
    """The champion churn scorer and its version; a clear error when there is none."""
    return load_churn_model(name)


def churn_version(
    name: str = MODEL_NAME, version: str | None = None, alias: str | None = None
) -> str:
    """The registered version to score with: this version, the one an alias points at, or the
    champion (neither given); a clear error when there is none."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from models.registry import champion_version
    from models.tracking import configure_tracking

    if version is not None and alias is not None:
        raise ValueError("give --model-version or --alias, not both")
    configure_tracking()
    if version is None and alias is None:
        champion = champion_version(name)
        if champion is None:
            raise ValueError(
                f"no champion for {name}: run `steward train churn --config FILE` first"
            )
        return champion
    try:
        found = (
            MlflowClient().get_model_version_by_alias(name, alias)
            if alias is not None
            else MlflowClient().get_model_version(name, str(version))
        )
    except MlflowException:
        what = f"alias {alias!r}" if alias is not None else f"version {version}"
        raise ValueError(
            f"{name} has no {what}: see `steward experiment compare` or the MLflow UI"
        ) from None
    return str(found.version)


def load_churn_model(
    name: str = MODEL_NAME, version: str | None = None, alias: str | None = None
) -> tuple[ChurnScorer, str]:
    """A registered scorer and its version (see churn_version for which one)."""
    found = churn_version(name, version, alias)
    return load_churn_scorer(f"models:/{name}/{found}"), found


def load_toxicity_scorer(model_uri: str = TOXICITY_CHAMPION) -> ToxicityScorer:
    """The scorer inside a logged or registered toxicity model (default: the champion)."""
    import mlflow

    from models.tracking import configure_tracking

    configure_tracking()
    try:
        model = mlflow.pyfunc.load_model(model_uri)
    except Exception as exc:  # MLflow raises several kinds for a missing model
        raise ValueError(
            f"cannot load {model_uri}: {str(exc).splitlines()[0]}; train one with `steward train toxicity`"
        ) from None
    scorer: ToxicityScorer = model.unwrap_python_model().scorer
    return scorer
