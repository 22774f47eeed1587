"""An experiment file, resolved: its task, validated config, `--set` overrides and provenance.

`experiments/NAME.yaml` is a churn or toxicity config with a `task:` key; its runs are logged to
the MLflow experiment NAME (the file stem). Overrides use dotted keys and go through the same
strict validation as the file, so a typo in either is an error that names the key.
"""

from __future__ import annotations

import copy
import hashlib
import json
import platform
import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import yaml
from pydantic import BaseModel, ValidationError

from models.config import SAFE_NAME, read_yaml_mapping

TASKS = ("churn", "toxicity")
# Versions recorded with every run: what can change a metric when the code does not.
PACKAGES = (
    "steward",
    "numpy",
    "pandas",
    "pyarrow",
    "duckdb",
    "scikit-learn",
    "lightgbm",
    "torch",
    "transformers",
    "onnxruntime",
    "mlflow",
    "optuna",
)
# Tags the runner sets on every run (compare and the report read them back).
TAG = "steward."
_UNION_TAGS = ("lgbm", "logreg", "int", "float", "choice")
_ROOT = Path(__file__).resolve().parents[2]


class Progress(Protocol):
    """Where long steps report: a stage label (no total) or a bar (done of total)."""

    def __call__(self, step: str, done: float | None = None, total: float | None = None) -> None:
        """Report a stage, or progress on a counted step."""


def no_progress(step: str, done: float | None = None, total: float | None = None) -> None:
    """The silent Progress (tests, pipes)."""


@dataclass(frozen=True)
class ExperimentSpec:
    """One experiment file with its overrides applied and validated."""

    path: Path
    task: str
    config: Any  # ChurnConfig or ToxicityConfig
    raw: dict[str, Any] = field(repr=False)  # the mapping the config was validated from
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The MLflow experiment: the file's stem (experiments/churn_lgbm.yaml -> churn_lgbm)."""
        return self.path.stem

    def with_overrides(self, overrides: Mapping[str, Any], what: str = "--set") -> ExperimentSpec:
        """The same file with more dotted-key overrides, validated again."""
        raw = apply_overrides(self.raw, overrides)
        config = validate(self.task, raw, self.path, what)
        return replace(self, config=config, raw=raw, overrides={**self.overrides, **overrides})


def load_experiment(path: Path, sets: Sequence[str] = ()) -> ExperimentSpec:
    """Read an experiment file and apply `--set key=value` overrides; one-line errors."""
    path = Path(path)
    raw = read_yaml_mapping(path)
    if not re.match(SAFE_NAME, path.stem):
        raise ValueError(
            f"{path}: the file's name is the MLflow experiment's (and its artifact folder's): "
            "use letters, digits, '.', '_' and '-', starting with a letter or digit"
        )
    task = raw.get("task")
    if task not in TASKS:
        shown = "missing" if task is None else f"{task!r} is not one of {', '.join(TASKS)}"
        raise ValueError(
            f"{path}: task: {shown} (start the file with `task: churn` or `task: toxicity`)"
        )
    spec = ExperimentSpec(path, str(task), validate(str(task), raw, path), raw)
    if sets:
        spec = spec.with_overrides(parse_sets(sets))
    check_sweep_keys(spec)
    return spec


def parse_sets(pairs: Sequence[str]) -> dict[str, Any]:
    """`key=value` pairs; values are YAML scalars or lists (0.1, true, null, [a, b])."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            raise ValueError(f"--set {pair!r} is not key=value (e.g. model.num_leaves=15)")
        try:
            out[key] = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError:
            raise ValueError(f"--set {pair!r}: the value is not a YAML value") from None
    return out


def apply_overrides(raw: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of raw with each dotted key set; sections are created where the file omits them."""
    out = copy.deepcopy(dict(raw))
    for key, value in overrides.items():
        parts = key.split(".")
        node = out
        for i, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                section = ".".join(parts[: i + 1])
                raise ValueError(f"{key}: {section} is a value, not a section with keys")
            node = child
        node[parts[-1]] = value
    return out


def config_class(task: str) -> type[BaseModel]:
    """The pydantic model of a task's experiment file."""
    if task == "churn":
        from models.churn.config import ChurnConfig

        return ChurnConfig
    from models.toxicity.config import ToxicityConfig

    return ToxicityConfig


def validate(task: str, raw: Mapping[str, Any], path: Path, what: str = "") -> Any:
    """The strict config of a mapping; the first problem as `file: key: message` on one line."""
    source = f"{path} ({what})" if what else str(path)
    try:
        config = config_class(task).model_validate(dict(raw))
    except ValidationError as exc:
        raise ValueError(f"{source}: {validation_message(exc)}") from None
    if task == "churn":
        from models.churn.config import resolve_paths

        config = resolve_paths(config, path.parent)  # type: ignore[arg-type]
    return config


def validation_message(exc: ValidationError) -> str:
    """`key: message` for a pydantic error's first problem, union tags left out of the key."""
    error = exc.errors()[0]
    key = ".".join(str(p) for p in error["loc"] if str(p) not in _UNION_TAGS)
    message = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{key or 'config'}: {message}{more}"


def check_sweep_keys(spec: ExperimentSpec) -> None:
    """Every swept key must be a config key that takes the values its range gives."""
    sweep = spec.config.sweep
    if sweep is None:
        return
    for key, space in sweep.params.items():
        if key.split(".")[0] in ("task", "name", "sweep"):
            raise ValueError(f"{spec.path}: sweep.params: {key!r} cannot be swept")
        samples = space.values if space.type == "choice" else [space.low, space.high]
        for value in samples:
            # The error reads `FILE (sweep.params.KEY=VALUE): KEY: what is wrong`.
            spec.with_overrides({key: value}, f"sweep.params.{key}={value}")


def git_state() -> dict[str, str]:
    """The steward checkout's commit and whether it has uncommitted changes."""
    try:
        commit = _git("rev-parse", "HEAD")
        dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": "unknown", "git_dirty": "unknown"}
    return {"git_commit": commit, "git_dirty": str(dirty).lower()}


def _git(*args: str) -> str:
    """Output of a git command in the steward checkout."""
    done = subprocess.run(
        ["git", "-C", str(_ROOT), *args], capture_output=True, text=True, timeout=10, check=True
    )
    return done.stdout.strip()


def package_versions() -> dict[str, str]:
    """Python and the installed versions of the packages that shape the metrics."""
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "absent"
    return found


def record_provenance(spec: ExperimentSpec, kind: str, metric: str, direction: str) -> None:
    """Tags, params and artifacts that make a run reproducible and comparable."""
    import mlflow

    text = spec.path.read_text()
    git = git_state()
    versions = package_versions()
    mlflow.set_tags(
        {
            f"{TAG}task": spec.task,
            f"{TAG}run_kind": kind,
            f"{TAG}experiment_file": str(spec.path),
            f"{TAG}file_sha256": hashlib.sha256(text.encode()).hexdigest(),
            f"{TAG}overrides": json.dumps(spec.overrides, sort_keys=True, default=str),
            f"{TAG}primary_metric": metric,
            f"{TAG}direction": direction,
            **{f"{TAG}{k}": v for k, v in git.items()},
        }
    )
    mlflow.log_params({f"env.{k}": v for k, v in versions.items()})
    mlflow.log_text(text, "experiment.yaml")
    mlflow.log_dict(
        {"git": git, "packages": versions, "overrides": spec.overrides}, "environment.json"
    )
