"""The MLflow pyfunc: raw text in, per-label probabilities, action, spans and language out.

It wraps `ToxicityScorer`, the same scoring function batch jobs and the server call, and
loads everything learned (vocabularies, weights, thresholds, tokenizer) from its artifacts.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel

from models.toxicity.scoring import ToxicityScorer

BASE_REQUIREMENTS = ("mlflow", "scikit-learn", "scipy", "numpy", "pandas", "joblib", "py3langid")
ONNX_REQUIREMENTS = ("onnxruntime", "tokenizers")
TORCH_REQUIREMENTS = ("torch", "transformers", "tokenizers")


class ToxicityPyfunc(PythonModel):
    """Scores a DataFrame with a `text` column (optional `lang`); params: spans all/flagged/none."""

    def load_context(self, context: Any) -> None:
        """Load the saved scorer from the model's artifacts."""
        self.scorer = ToxicityScorer.load(Path(context.artifacts["model"]))

    # Type hints MLflow reads when the class is defined (in every process that loads the model):
    # without them it warns "Add type hints to the `predict` method". A DataFrame hint asks for
    # no schema inference; the logged signature stays the one log_scorer gives.
    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """One output row per input row: lang, action, label, probabilities, spans, version."""
        frame = (
            model_input
            if isinstance(model_input, pd.DataFrame)
            else pd.DataFrame({"text": list(model_input)})
        )
        spans = (params or {}).get("spans", "flagged")
        if spans not in ("all", "flagged", "none"):
            raise ValueError(f"spans must be all, flagged or none; got {spans!r}")
        return self.scorer.score_frame(frame, spans)


def requirements(scorer: ToxicityScorer) -> list[str]:
    """Pinned requirements of this scorer (given explicitly: inferring them takes ~10 s)."""
    names = list(BASE_REQUIREMENTS)
    if scorer.transformer is not None:
        onnx = scorer.transformer.kind == "onnx_int8"
        names += ONNX_REQUIREMENTS if onnx else TORCH_REQUIREMENTS
    out = []
    for name in dict.fromkeys(names):
        try:
            out.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            out.append(name)
    return out


def log_scorer(scorer: ToxicityScorer, folder: Path) -> str:
    """Save the scorer to `folder`, log it as the run's pyfunc model and return its URI."""
    from mlflow.models import ModelSignature
    from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

    scorer.save(folder)
    signature = ModelSignature(
        inputs=Schema([ColSpec("string", "text"), ColSpec("string", "lang", required=False)]),
        params=ParamSchema([ParamSpec("spans", "string", "flagged")]),
    )
    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=ToxicityPyfunc(),
        artifacts={"model": str(folder)},
        signature=signature,
        pip_requirements=requirements(scorer),
    )
    return str(info.model_uri)
