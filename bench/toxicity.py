"""Toxicity benchmark: quality per held-out split and speed, for steward's models and
alt-profanity-check, in one run.

Quality is toxicity ROC-AUC on the test splits (never trained on): Davidson (random), the
forum set (grouped by comment), COLD dev and the 101-row Jigsaw sample. alt-profanity-check was
trained on Davidson and Jigsaw, so those two columns flatter it. Speed is posts/s scored in
batches and the p50/p99 latency of one post at a time.

alt-profanity-check pins its own scikit-learn, so it runs in its own virtual environment
(.venv-apc in the checkout, see README) in a subprocess; without it its rows stay empty.

It first prints the leave-one-source-out tables of bench.toxicity_loso for the model before
issue 19, the linear recipe and the served MiniLM recipe (`--loso-recipes`; identity bias and
the adaptation curve included; `--skip-loso` leaves them out), then span F1 on both span
corpora (bench.toxicity_spans; `--skip-spans`), and the served MiniLM model's identity table
(bench.toxicity_identity's) once it is trained.

Run: `python -m bench.toxicity` (55 minutes on 2 cores in its one full run, 2026-12-06, with
another job beside it for part of it; the served recipe's folds alone take 17 on a quiet
machine), or give `--linear-uri/--minilm-uri models:/...` to
benchmark registered models.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table
from sklearn.metrics import roc_auc_score

ROOT = Path(__file__).resolve().parents[1]
# alt-profanity-check pins its own scikit-learn: it lives in its own venv, never in steward's.
PROFANITY_VENV = ROOT / ".venv-apc"
SPLITS = ("davidson", "stormfront", "cold", "jigsaw")
TARGETS = {"linear": 5_000.0, "transformer": 200.0}  # posts/s batched; transformer p99 <= 30 ms

PROFANITY_SCRIPT = r"""
import json, sys, time
import numpy as np
from profanity_check import predict_prob
texts = json.load(open(sys.argv[1]))
speed_texts = json.load(open(sys.argv[2]))
probs = predict_prob(texts).tolist()
predict_prob(speed_texts[:8])
best = 0.0
for _ in range(2):
    t = time.perf_counter()
    for i in range(0, len(speed_texts), 256):
        predict_prob(speed_texts[i:i + 256])
    best = max(best, len(speed_texts) / (time.perf_counter() - t))
lat = []
for text in speed_texts[:200]:
    t = time.perf_counter()
    predict_prob([text])
    lat.append((time.perf_counter() - t) * 1000)
print(json.dumps({"probs": probs, "texts_per_s": best, "p50_ms": float(np.percentile(lat, 50)), "p99_ms": float(np.percentile(lat, 99))}))
"""


def ensure_profanity_venv(console: Console) -> Path | None:
    """The python of the alt-profanity-check venv (.venv-apc); None, saying so, when absent."""
    python = PROFANITY_VENV / "bin" / "python"
    if python.exists():
        return python
    console.print(
        f"[yellow]alt-profanity-check absent: its rows stay empty. Create its venv with "
        f"`python -m venv {PROFANITY_VENV} && {PROFANITY_VENV}/bin/pip install alt-profanity-check`[/]"
    )
    return None


def run_profanity(python: Path, texts: list[str], speed_texts: list[str]) -> dict[str, Any]:
    """Scores and speed of alt-profanity-check, measured in its own process."""
    with tempfile.TemporaryDirectory() as tmp:
        a, b = Path(tmp) / "texts.json", Path(tmp) / "speed.json"
        a.write_text(json.dumps(texts))
        b.write_text(json.dumps(speed_texts))
        done = subprocess.run(
            [str(python), "-c", PROFANITY_SCRIPT, str(a), str(b)],
            capture_output=True,
            text=True,
            check=True,
        )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def train_scorer(config_path: Path, workdir: Path, console: Console) -> Any:
    """Fit a scorer and its thresholds as `steward train toxicity` does, without MLflow."""
    from models.toxicity.config import load_config
    from models.toxicity.training import fit_scorer, set_thresholds
    from pipelines.toxicity.train import load_training_frame

    config = load_config(config_path)
    frame = load_training_frame(config.data)
    started = time.perf_counter()
    scorer = fit_scorer(
        frame, config, f"bench-{config.model}", workdir, lambda m: console.print(f"  {m}")
    ).scorer
    valid = frame[frame["split"] == "valid"]
    probs, _ = scorer.predict_proba(valid["text"].tolist(), valid["lang"].tolist())
    set_thresholds(scorer, valid, probs, config.thresholds)
    console.print(f"trained {config.name} in {time.perf_counter() - started:.0f} s")
    return scorer


def load_model(uri: str) -> Any:
    """The scorer of a logged or registered model, or of a folder a previous run saved."""
    from models.champions import load_toxicity_scorer
    from models.toxicity.scoring import ToxicityScorer

    if Path(uri).is_dir():
        return ToxicityScorer.load(Path(uri))
    return load_toxicity_scorer(uri)


def keep(scorer: Any, folder: Path, console: Console) -> None:
    """Save a freshly trained scorer so speed can be re-measured without retraining."""
    scorer.save(folder)
    console.print(f"  saved to {folder} (rerun with --{folder.name}-uri {folder})")


def auc_by_split(test: pd.DataFrame, p: np.ndarray) -> dict[str, float]:
    """Toxicity ROC-AUC per source of the test frame (NaN scores are left out)."""
    out = {}
    for source in SPLITS:
        rows = (test["source"] == source).to_numpy() & ~np.isnan(p)
        y = test["toxicity"].to_numpy()[rows]
        out[source] = (
            float(roc_auc_score(y, p[rows]))
            if rows.any() and 0 < y.sum() < len(y)
            else float("nan")
        )
    return out


def speed(predict: Any, texts: list[str]) -> dict[str, float]:
    """Batched posts/s and single-post p50/p99 (ms)."""
    from models.toxicity.export import measure_speed

    s = measure_speed(predict, texts, batch=256, singles=200)
    return {"texts_per_s": s.texts_per_s, "p50_ms": s.p50_ms, "p99_ms": s.p99_ms}


def main() -> None:
    """Benchmark the linear model, the MiniLM model and alt-profanity-check."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--linear-config", type=Path, default=ROOT / "experiments" / "toxicity_linear.yaml"
    )
    parser.add_argument(
        "--minilm-config", type=Path, default=ROOT / "experiments" / "toxicity_minilm.yaml"
    )
    parser.add_argument(
        "--linear-uri",
        help="benchmark this logged/registered model (or a folder saved by a previous run)",
    )
    parser.add_argument(
        "--minilm-uri",
        help="benchmark this logged/registered model (or a folder saved by a previous run)",
    )
    parser.add_argument("--skip-minilm", action="store_true")
    parser.add_argument(
        "--skip-loso", action="store_true", help="skip the leave-one-source-out tables"
    )
    parser.add_argument(
        "--loso-recipes",
        default="before,new,stacked",
        help="bench.toxicity_loso recipes ('stacked' is experiments/toxicity_minilm.yaml's)",
    )
    parser.add_argument("--skip-spans", action="store_true", help="skip span F1")
    parser.add_argument(
        "--adapt",
        default="hatexplain,cold",
        help="left-out sources of the adaptation curve (bench.toxicity_loso --adapt)",
    )
    parser.add_argument("--skip-profanity", action="store_true")
    parser.add_argument("--speed-texts", type=int, default=2_000)
    parser.add_argument("--out", type=Path, default=ROOT / ".steward" / "bench" / "toxicity.json")
    args = parser.parse_args()
    console = Console()
    if not args.skip_loso:
        # Generalisation first: the tables models and thresholds are chosen by.
        from bench.toxicity_loso import main as loso

        adapt = ["--adapt", args.adapt] if args.adapt else []
        loso(["--recipes", args.loso_recipes, *adapt])
    if not args.skip_spans:
        from bench.toxicity_spans import run as spans

        spans(console)

    from features.text.corpora import real_data_available
    from models.toxicity.config import load_config
    from pipelines.toxicity.train import load_training_frame

    if not real_data_available(("davidson", "stormfront", "cold", "jigsaw")):
        sys.exit("bench.toxicity needs the public corpora in ../shared/data (see its README)")
    frame = load_training_frame(load_config(args.linear_config).data)
    test = frame[frame["split"] == "test"].reset_index(drop=True)
    texts = test["text"].tolist()
    rng = np.random.default_rng(0)
    speed_texts = [
        texts[i]
        for i in rng.choice(len(texts), size=min(args.speed_texts, len(texts)), replace=False)
    ]
    english = test[test["lang"] == "en"]["text"].tolist()
    speed_english = [
        english[i]
        for i in rng.choice(len(english), size=min(args.speed_texts, len(english)), replace=False)
    ]

    quality: dict[str, dict[str, float]] = {}
    speeds: dict[str, dict[str, float]] = {}
    notes: dict[str, Any] = {"cpus": os.cpu_count(), "load_average_at_start": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        linear = (
            load_model(args.linear_uri)
            if args.linear_uri
            else train_scorer(args.linear_config, Path(tmp) / "linear", console)
        )
        if not args.linear_uri:
            keep(linear, args.out.parent / "toxicity-models" / "linear", console)
        quality["steward linear"] = auc_by_split(test, linear.predict_proba(texts)[0][:, 0])
        speeds["steward linear"] = speed(lambda b: linear.score(b, spans="none"), speed_texts)
        speeds["steward linear + spans of flagged posts"] = speed(
            lambda b: linear.score(b, spans="flagged"), speed_texts
        )
        if not args.skip_minilm:
            minilm = (
                load_model(args.minilm_uri)
                if args.minilm_uri
                else train_scorer(args.minilm_config, Path(tmp) / "minilm", console)
            )
            if not args.minilm_uri:
                keep(minilm, args.out.parent / "toxicity-models" / "minilm", console)
            probs, langs = minilm.predict_proba(texts)
            quality[
                f"steward minilm (served: {minilm.english_route} for English, linear for Chinese)"
            ] = auc_by_split(test, probs[:, 0])
            transformer = minilm.transformer
            tr = np.full(len(texts), np.nan)
            is_en = np.array([lg != "zh" for lg in langs])
            tr[is_en] = transformer.predict_proba(
                [t for t, e in zip(texts, is_en, strict=True) if e]
            )[:, 0]
            quality[f"transformer alone ({transformer.kind})"] = auc_by_split(test, tr)
            speeds[f"transformer alone ({transformer.kind}, English)"] = speed(
                transformer.predict_proba, speed_english
            )
            speeds[f"steward minilm served ({minilm.english_route})"] = speed(
                lambda b: minilm.score(b, spans="none"), speed_texts
            )
            single = np.vstack([transformer.predict_proba([t]) for t in speed_english[:200]])
            notes["transformer_single_vs_batch_max_abs_diff"] = float(
                np.abs(single - transformer.predict_proba(speed_english[:200])).max()
            )
            notes["transformer_backend"] = transformer.kind
            # The served model's identity table (the LOSO run judges the linear recipes').
            from bench.toxicity_identity import served_report

            notes["served_identity"] = served_report(minilm, "minilm")
        python = None if args.skip_profanity else ensure_profanity_venv(console)
        if python is not None:
            result = run_profanity(python, texts, speed_texts)
            quality["alt-profanity-check"] = auc_by_split(
                test, np.asarray(result.pop("probs"), dtype=float)
            )
            speeds["alt-profanity-check"] = result

    _print(console, quality, speeds, notes, test)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"quality": quality, "speed": speeds, "notes": notes}, indent=2))
    console.print(f"results written to {args.out}")


def _print(
    console: Console,
    quality: dict[str, dict[str, float]],
    speeds: dict[str, dict[str, float]],
    notes: dict[str, Any],
    test: pd.DataFrame,
) -> None:
    """Quality and speed tables."""
    sizes = test["source"].value_counts()
    table = Table(title="toxicity ROC-AUC on held-out test splits (never trained on)")
    table.add_column("model")
    for split in SPLITS:
        table.add_column(f"{split} ({sizes.get(split, 0):,})", justify="right")
    for name, row in quality.items():
        table.add_row(name, *(f"{row[s]:.3f}" for s in SPLITS))
    console.print(table)
    console.print(
        "alt-profanity-check was trained on Davidson and Jigsaw: only its forum and COLD columns are unseen data."
    )
    table = Table(
        title=f"speed on {os.cpu_count()} cores (load average {notes['load_average_at_start'][0]:.1f} at start)"
    )
    for column in ("model", "posts/s batched", "single p50 ms", "single p99 ms"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for name, s in speeds.items():
        table.add_row(name, f"{s['texts_per_s']:,.0f}", f"{s['p50_ms']:.2f}", f"{s['p99_ms']:.2f}")
    console.print(table)
    console.print(
        f"targets: linear >= {TARGETS['linear']:,.0f} posts/s; transformer >= {TARGETS['transformer']:.0f} posts/s and p99 <= 30 ms"
    )
    if "transformer_single_vs_batch_max_abs_diff" in notes:
        console.print(
            f"served transformer ({notes['transformer_backend']}): a post's score moves by up to {notes['transformer_single_vs_batch_max_abs_diff']:.3f} between single and batched scoring"
        )


if __name__ == "__main__":
    main()
