"""all-MiniLM-L6-v2 fine-tuned for multi-label toxicity of English text on two CPU cores.

Full fine-tuning runs at about 5-30 examples/s on two cores, so the lower layers stay frozen:
their output is computed once per example and cached, and only the top layers and a linear
head train on it. Training runs a fixed number of steps over a fixed sample, seeded, with a
fixed thread count, so the same config on the same data gives the same model whatever the
machine's load. Serving runs the whole network.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from tokenizers import Tokenizer

from features.text.normalize import normalize_texts
from models.toxicity.config import TransformerConfig
from models.toxicity.linear import supported_languages
from models.toxicity.network import MiniLMClassifier, pretrained_classifier
from models.toxicity.tokens import TOKENIZER_FILE, base_model_path, encode, load_tokenizer


@dataclass
class TransformerFit:
    """A fine-tuned classifier and what was learned with it."""

    model: MiniLMClassifier
    labels: list[str]
    label_languages: dict[str, list[str]]
    max_len: int
    history: dict[str, float] = field(default_factory=dict)


def fit_transformer(
    texts: Sequence[str],
    y: pd.DataFrame,
    langs: Sequence[str],
    config: TransformerConfig,
    min_positives: int,
    log: Callable[[str], None] = lambda _: None,
) -> TransformerFit:
    """Fine-tune the top layers and a head on raw English texts for the planned steps.

    `history["complete"]` is 0 when `config.time_limit_minutes` stopped it early.
    """
    started = time.perf_counter()
    limit = config.time_limit_minutes
    deadline = started + limit * 60 if limit is not None else float("inf")
    label_languages = supported_languages(y, langs, min_positives)
    labels = [lb for lb in y.columns if lb in label_languages]
    if "toxicity" not in labels:
        raise ValueError(
            f"too few toxic and non-toxic English examples (need {min_positives} each)"
        )
    with deterministic_torch(config.threads):
        model = pretrained_classifier(len(labels))
        tokenizer = load_tokenizer(base_model_path() / TOKENIZER_FILE, config.max_len)
        start = len(model.layers) - config.unfreeze_top_layers
        cached, mask = _cache_lower(model, tokenizer, normalize_texts(texts), start)
        caching = time.perf_counter() - started
        log(f"cached layer-{start} states of {len(texts):,} texts in {caching:.0f} s")
        target = torch.tensor(y[labels].to_numpy(dtype=np.float32))
        torch.manual_seed(config.seed)  # dropout: the same masks in every run
        history = _train_top(model, cached, mask, target, start, config, deadline, log)
    history["caching_seconds"] = caching
    history["seconds"] = time.perf_counter() - started
    history["complete"] = float(history["steps"] == history["planned_steps"])
    model.eval()
    return TransformerFit(model, labels, label_languages, config.max_len, history)


@contextlib.contextmanager
def deterministic_torch(threads: int) -> Iterator[None]:
    """A fixed thread count and deterministic kernels, restored afterwards.

    The thread count fixes how reductions are split, so sums come out bit for bit the same
    on a busy machine as on an idle one.
    """
    before = torch.get_num_threads()
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was_deterministic)
        torch.set_num_threads(before)


def _cache_lower(
    model: MiniLMClassifier, tokenizer: Tokenizer, norm: list[str], upto: int, batch: int = 64
) -> tuple[torch.Tensor, torch.Tensor]:
    """The frozen layers' output for every text (float16, padded to max_len), and its mask."""
    ids_np, mask_np = encode(tokenizer, norm)
    ids, mask = torch.from_numpy(ids_np), torch.from_numpy(mask_np)
    states = torch.zeros((len(norm), ids.shape[1], model.head.in_features), dtype=torch.float16)
    lengths = mask.sum(1)
    order = torch.argsort(lengths)
    model.eval()
    with torch.inference_mode():
        for i in range(0, len(norm), batch):
            idx = order[i : i + batch]
            width = int(lengths[idx].max())
            out = model.lower(ids[idx, :width], mask[idx, :width], upto)
            states[idx, :width] = out.to(torch.float16)
    return states, mask


def _train_top(
    model: MiniLMClassifier,
    cached: torch.Tensor,
    mask: torch.Tensor,
    target: torch.Tensor,
    start: int,
    config: TransformerConfig,
    deadline: float,
    log: Callable[[str], None],
) -> dict[str, float]:
    """AdamW on the unfrozen layers and head; masked BCE so unlabelled labels do not count."""
    for p in model.parameters():
        p.requires_grad_(False)
    top = [p for layer in model.layers[start:] for p in layer.parameters()]
    head = list(model.head.parameters())
    for p in [*top, *head]:
        p.requires_grad_(True)
    groups = [{"params": head, "lr": config.lr_head}]
    if top:
        groups.append({"params": top, "lr": config.lr_encoder})
    optimizer = torch.optim.AdamW(groups, weight_decay=0.01)
    steps = max(1, int(np.ceil(config.epochs * len(cached) / config.batch_size)))
    warmup = max(1, steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / (steps - warmup + 1)))
    )
    known = ~torch.isnan(target)
    labels = torch.nan_to_num(target)
    model.train()
    generator = torch.Generator().manual_seed(config.seed)
    order = torch.randperm(len(cached), generator=generator)
    done, losses = 0, []
    for step in range(steps):
        if time.perf_counter() > deadline:
            log(f"time_limit_minutes reached after {step} of {steps} steps: incomplete")
            break
        if (step * config.batch_size) % len(cached) < config.batch_size and step:
            order = torch.randperm(len(cached), generator=generator)
        lo = (step * config.batch_size) % len(cached)
        idx = order[lo : lo + config.batch_size]
        width = int(mask[idx].sum(1).max())
        logits = model.upper(cached[idx, :width].float(), mask[idx, :width], start)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            logits, labels[idx], weight=known[idx].float(), reduction="sum"
        ) / known[idx].sum().clamp(min=1)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(float(loss.detach()))
        done = step + 1
        if done % 50 == 0:
            log(f"step {done}/{steps} loss {np.mean(losses[-50:]):.4f}")
    return {
        "steps": float(done),
        "planned_steps": float(steps),
        "examples_seen": float(done * config.batch_size),
        "train_loss": float(np.mean(losses[-50:])) if losses else float("nan"),
    }
