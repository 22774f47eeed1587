"""How long MiniLM fine-tuning of the shipped config takes, and what share is caching.

Trains the transformer of experiments/toxicity_minilm.yaml (or --config) on its English
training sample, optionally a fraction of it (--fraction: caching and steps both scale with
the sample, so the shares hold), and prints caching and training seconds, steps, and the
load average before and after. The linear model, export and thresholds are not timed here.

Run: `python -m bench.minilm_training [--fraction 0.25]`
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    """CLI entry point."""
    from models.toxicity.config import load_config
    from models.toxicity.training import balanced_sample
    from models.toxicity.transformer import fit_transformer
    from pipelines.toxicity.train import load_training_frame

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--config", type=Path, default=ROOT / "experiments" / "toxicity_minilm.yaml"
    )
    parser.add_argument("--fraction", type=float, default=1.0)
    args = parser.parse_args()
    config = load_config(args.config)
    tc = config.transformer
    frame = load_training_frame(config.data)
    english = frame[(frame["lang"] == "en") & (frame["split"] == "train")]
    n = int(tc.max_train_examples * args.fraction)
    train = balanced_sample(english, n, tc.seed)
    print(f"load average before: {os.getloadavg()}; {len(train):,} English training texts")
    started = time.perf_counter()
    fit = fit_transformer(
        train["text"].tolist(),
        train[config.labels],
        train["lang"].tolist(),
        tc,
        config.data.min_positives,
        print,
    )
    total = time.perf_counter() - started
    h = fit.history
    print(
        f"fit_transformer: {total:.0f} s; caching {h['caching_seconds']:.0f} s "
        f"({h['caching_seconds'] / total:.0%}); {h['steps']:.0f} of {h['planned_steps']:.0f} "
        f"steps, {(total - h['caching_seconds']) / max(h['steps'], 1):.2f} s/step"
    )
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
