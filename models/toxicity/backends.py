"""Serving the fine-tuned MiniLM: ONNX Runtime int8, torch dynamic int8 or torch fp32.

Each backend takes raw text, normalises it with `features.text.normalize`, tokenises with the saved
tokenizer, sorts by length so batches carry little padding, and returns probabilities.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from features.text.normalize import normalize_texts
from models.toxicity.tokens import TOKENIZER_FILE, encode, load_tokenizer

META_FILE = "transformer.json"
ONNX_FILE = "model.onnx"
WEIGHTS_FILE = "weights.pt"
CONFIG_FILE = "config.json"
BACKENDS: tuple[str, ...] = ("onnx_int8", "onnx_int8_static", "torch_int8", "torch_fp32")


class TransformerBackend:
    """Probabilities per label for raw English texts from a saved MiniLM classifier."""

    kind = "base"
    threads = 1  # intra-op threads the backend runs on

    def __init__(self, folder: Path, meta: dict[str, Any]) -> None:
        self.folder = Path(folder)
        self.labels: list[str] = list(meta["labels"])
        self.label_languages: dict[str, list[str]] = dict(meta["label_languages"])
        self.max_len = int(meta["max_len"])
        self.tokenizer = load_tokenizer(self.folder / TOKENIZER_FILE, self.max_len)

    def predict_proba(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Probability per text and label, shape (n, len(labels))."""
        norm = normalize_texts(texts)
        out = np.zeros((len(norm), len(self.labels)), dtype=np.float64)
        order = np.argsort([len(t) for t in norm], kind="stable")
        for i in range(0, len(norm), batch_size):
            idx = order[i : i + batch_size]
            ids, mask = encode(self.tokenizer, [norm[j] for j in idx])
            out[idx] = self._run(ids, mask)
        return out

    def _run(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class OnnxBackend(TransformerBackend):
    """ONNX Runtime on the int8 export (weights per channel; activations dynamic or static)."""

    def __init__(self, folder: Path, meta: dict[str, Any], threads: int = 1) -> None:
        import onnxruntime as ort

        super().__init__(folder, meta)
        self.kind = str(meta["backend"])
        self.threads = threads
        options = ort.SessionOptions()
        # Saved with one thread (steadier under shared load); the server sets its own count.
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(self.folder / ONNX_FILE), options, providers=["CPUExecutionProvider"]
        )

    def _run(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        result = self.session.run(None, {"input_ids": ids, "attention_mask": mask})
        return np.asarray(result[0])


class TorchBackend(TransformerBackend):
    """torch on the saved fp32 weights, optionally with dynamic int8 linear layers."""

    def __init__(
        self,
        folder: Path,
        meta: dict[str, Any],
        threads: int = 1,
        int8: bool = False,
        model: Any = None,
    ) -> None:
        import torch

        from models.toxicity.network import ProbabilityModel, classifier_from_config

        super().__init__(folder, meta)
        self.kind = "torch_int8" if int8 else "torch_fp32"
        self.threads = threads
        if model is None:
            config = json.loads((self.folder / CONFIG_FILE).read_text())
            model = classifier_from_config(config, len(self.labels))
            state = torch.load(self.folder / WEIGHTS_FILE, map_location="cpu", weights_only=True)
            model.load_state_dict(state)
        wrapped = ProbabilityModel(model).eval()
        self.model = quantize_torch(wrapped) if int8 else wrapped

    def _run(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        import torch

        torch.set_num_threads(self.threads)
        with torch.inference_mode():
            probs: torch.Tensor = self.model(torch.from_numpy(ids), torch.from_numpy(mask))
        return probs.numpy()


def quantize_torch(model: Any) -> Any:
    """torch dynamic int8 on every linear layer (weights int8, activations quantised per batch)."""
    import warnings

    import torch

    with warnings.catch_warnings():
        # Deprecated in favour of torchao, which is not installed here; still supported.
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


def read_meta(folder: Path) -> dict[str, Any]:
    """The saved transformer's labels, languages, max_len and backend."""
    path = Path(folder) / META_FILE
    if not path.is_file():
        raise ValueError(f"{folder} holds no saved transformer ({META_FILE} missing)")
    return dict(json.loads(path.read_text()))


def load_backend(folder: Path, threads: int | None = None) -> TransformerBackend:
    """The backend a saved transformer was exported for."""
    meta = read_meta(folder)
    n = threads or int(meta.get("serving_threads", 1))
    if meta["backend"] in ("onnx_int8", "onnx_int8_static"):
        return OnnxBackend(folder, meta, n)
    if meta["backend"] in ("torch_int8", "torch_fp32"):
        return TorchBackend(folder, meta, n, int8=meta["backend"] == "torch_int8")
    raise ValueError(f"unknown transformer backend {meta['backend']!r}; known: {BACKENDS}")
