"""Serving the fine-tuned MiniLM: ONNX Runtime int8, torch dynamic int8 or torch fp32.

Each backend takes raw text, normalises it with `features.text.normalize`, tokenises with the saved
tokenizer, batches texts of similar token length so batches carry little padding, and returns
probabilities.
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
# Padded tokens per batch at most this many times the real ones. Eight random posts padded to
# the longest cost 1.9x as much as scoring them one by one (bench.serving's posts, ONNX int8,
# one thread); batches of similar lengths cost no more than singles and batch 256 posts 1.3x
# faster than fixed batches of 32 sorted by length.
PADDING_SLACK = 1.1
SMALL_BATCH = 8  # calls with at most this many texts run OnnxBackend on one thread
ENCODE_ROWS = 4096  # texts tokenised at once (ids and masks of 4096 x 64 int64: 4 MB)


def length_batches(
    lengths: np.ndarray, max_size: int, slack: float = PADDING_SLACK
) -> list[np.ndarray]:
    """Row indices grouped by token length, shortest first, each batch padded little.

    A batch grows (up to `max_size`) while its rows padded to its longest cost at most
    `slack` times their real tokens; every row is in exactly one batch.
    """
    lengths = np.asarray(lengths)
    order = np.argsort(lengths, kind="stable")
    batches, start = [], 0
    while start < len(order):
        stop, real = start + 1, int(lengths[order[start]])
        while stop < len(order) and stop - start < max_size:
            longest = int(lengths[order[stop]])
            if longest * (stop - start + 1) > slack * (real + longest):
                break
            real, stop = real + longest, stop + 1
        batches.append(order[start:stop])
        start = stop
    return batches


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
        few = len(norm) <= SMALL_BATCH
        for start in range(0, len(norm), ENCODE_ROWS):
            part = slice(start, start + ENCODE_ROWS)
            ids, mask = encode(self.tokenizer, norm[part])
            probs = out[part]
            for idx in length_batches(mask.sum(axis=1), batch_size):
                # Padding is on the right: a batch keeps the columns its longest text needs.
                width = int(mask[idx[-1]].sum())
                probs[idx] = self._run(
                    np.ascontiguousarray(ids[idx, :width]),
                    np.ascontiguousarray(mask[idx, :width]),
                    few,
                )
        return out

    def _run(self, ids: np.ndarray, mask: np.ndarray, few: bool = False) -> np.ndarray:
        """Probabilities of one padded batch; `few`: the call scores at most SMALL_BATCH texts."""
        raise NotImplementedError


class OnnxBackend(TransformerBackend):
    """ONNX Runtime on the int8 export (weights per channel; activations dynamic or static)."""

    def __init__(self, folder: Path, meta: dict[str, Any], threads: int = 1) -> None:
        super().__init__(folder, meta)
        self.kind = str(meta["backend"])
        self.threads = threads
        # Saved with one thread (steadier under shared load); the server sets its own count.
        self.session = self._session(threads)
        # Calls of a few texts run on one thread: splitting a few short posts across threads that
        # share 2 cores with the server's event loop lengthened their tail (bench.serving, 3
        # runs each: p99 at concurrency 8 was 45.6-52.2 ms on 2 threads, 41.9-43.8 on 1),
        # while 256-post requests score 1.4x faster on 2 threads.
        self.small_session = self._session(1) if threads > 1 else self.session

    def _session(self, threads: int) -> Any:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        return ort.InferenceSession(
            str(self.folder / ONNX_FILE), options, providers=["CPUExecutionProvider"]
        )

    def _run(self, ids: np.ndarray, mask: np.ndarray, few: bool = False) -> np.ndarray:
        session = self.small_session if few else self.session
        result = session.run(None, {"input_ids": ids, "attention_mask": mask})
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

    def _run(self, ids: np.ndarray, mask: np.ndarray, few: bool = False) -> np.ndarray:
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
