"""The churn model as an MLflow pyfunc: raw member feature rows in, probability/tier/reasons out."""

from __future__ import annotations

from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

from models.churn.scorer import ChurnScorer


class ChurnPyfunc(PythonModel):
    """Wraps a ChurnScorer; `models:/steward-churn@champion` loads one of these."""

    def __init__(
        self,
        scorer: ChurnScorer,
        held_out: ChurnScorer | None = None,
        labels_through: str | None = None,
    ) -> None:
        self.scorer = scorer
        # When scorer was refitted on the latest labels: the held-out model the run's metrics
        # describe, and the last day of any label scorer learned from (ISO), so that the
        # champion rule never judges a version on rows it learned (models.champions).
        self.held_out = held_out
        self.labels_through = labels_through

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """Score rows of raw feature columns (extra columns are ignored)."""
        return self.scorer.score(pd.DataFrame(model_input)).reset_index(drop=True)


def signature(scorer: ChurnScorer, example: pd.DataFrame) -> Any:
    """Inputs: every feature column as a double, NaN for NULL; outputs: the scorer's columns.

    Doubles, not longs: integer features with NULLs (days_since_*) arrive as float64, and
    MLflow refuses int64 -> float64 as unsafe, so callers cast with `model_input` first.
    """
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types import ColSpec, DataType, Schema

    inputs = Schema([ColSpec(DataType.double, name) for name in scorer.feature_columns])
    outputs = infer_signature(
        model_input(example, scorer.feature_columns), scorer.score(example).reset_index(drop=True)
    )
    return ModelSignature(inputs=inputs, outputs=outputs.outputs)


def model_input(frame: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
    """Member feature rows as the pyfunc's signature wants them: feature columns as float64."""
    from features.members.definition import FEATURE_COLUMNS

    return frame[columns or FEATURE_COLUMNS].astype(np.float64).reset_index(drop=True)


def pip_requirements() -> list[str]:
    """The packages the pyfunc imports, pinned to what trained it (no 10 s inference)."""
    from importlib.metadata import version

    names = (
        "mlflow",
        "lightgbm",
        "scikit-learn",
        "pandas",
        "numpy",
        "pyarrow",
        "pyyaml",
        "cloudpickle",
    )
    return [f"{name}=={version(name)}" for name in names]


def log_churn_model(
    scorer: ChurnScorer,
    example: pd.DataFrame,
    held_out: ChurnScorer | None = None,
    labels_through: str | None = None,
) -> Any:
    """Log the pyfunc under the active run, with a signature and an input example."""
    return mlflow.pyfunc.log_model(
        name="model",
        python_model=ChurnPyfunc(scorer, held_out, labels_through),
        signature=signature(scorer, example),
        input_example=model_input(example, scorer.feature_columns),
        pip_requirements=pip_requirements(),
    )
