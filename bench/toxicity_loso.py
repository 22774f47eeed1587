"""Leave-one-source-out (LOSO) evaluation of the linear toxicity model, beside the model
before issue 19 and alt-profanity-check, with identity bias and community adaptation.

For each language and each of its corpora, a model is trained on the other corpora of that
language (plus the written examples the recipe uses) and scores every row of the left-out
corpus: the figure a community that looks like none of the training data would see.

- Quality: ROC-AUC and PR-AUC per left-out source.
- Actions: block precision (at the assumed prevalence) and review recall per left-out
  source, at the thresholds each recipe ships with: the old one chooses them on the
  validation split of its training corpora; the new one from the pooled LOSO scores of the
  *other* sources (nested, so a source never sets the thresholds it is judged by).
- Identity bias: the full model of each recipe on features.text.identity_terms' evaluation
  statements (groups and templates training never saw are marked unseen).
- Adaptation: N of the left-out source's labelled posts are written to a lake as moderation
  decisions, read back through `features.text.corpora.load_lake_moderation`, and the fold model
  is retrained with them; the ROC-AUC gain is measured on the rest of that source.

The "finetuned" recipe adds, on English folds, MiniLM fine-tuned by steward's own
`fit_transformer` on the fold's training rows (a balanced sample), averaged equally with the
linear model (the English route experiments/toxicity_minilm.yaml served before session 9).
"civil" is what it serves now: MiniLM also trains on civil_spans (Civil Comments posts and
the same posts without their toxic spans; the linear model never sees them) and weighs 0.75 in
the average. "ensemble" is "finetuned" with the encoder frozen (only the head trains).

Only the toxicity label is fitted in the folds (the other labels do not change its scores).
Run: `python -m bench.toxicity_loso` (also part of `python -m bench.toxicity`).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table
from sklearn.metrics import average_precision_score, roc_auc_score

from features.text.corpora import DERIVED_FROM, LOSO_SOURCES, load_corpus, split_corpus
from models.toxicity.config import LinearConfig, TransformerConfig
from models.toxicity.linear import LinearToxicity
from models.toxicity.thresholds import Thresholds, choose_thresholds, source_weights
from models.toxicity.training import balanced_sample, linear_model, training_weights

ROOT = Path(__file__).resolve().parents[1]
APC_VENV = ROOT / ".venv-apc"
BLOCK_PRECISION, REVIEW_RECALL = 0.90, 0.80
OLD_SOURCES = ("davidson", "stormfront", "cold")


@dataclass(frozen=True)
class Recipe:
    """What a model is trained on and how: corpora allowed, written examples, settings."""

    name: str
    sources: tuple[str, ...]  # corpora this recipe may train on (minus the left-out one)
    extras: tuple[str, ...]  # written examples: seed, identity
    linear: LinearConfig = field(default_factory=LinearConfig)
    thresholds: str = "loso"  # "validation" (old: 0.95/0.90 on the valid split) or "loso"
    # English folds: also a MiniLM fitted as steward trains it, averaged with the linear model
    transformer: TransformerConfig | None = None
    transformer_only: tuple[str, ...] = ()  # corpora only that MiniLM trains on (never left out)


def recipes() -> dict[str, Recipe]:
    """The model before issue 19 and the candidates, by name."""
    all_sources = tuple(s for lang in LOSO_SOURCES.values() for s in lang)
    finetuned = Recipe(
        "linear + fine-tuned MiniLM",
        all_sources,
        ("seed", "identity"),
        LinearConfig(C=1.0, min_df=3, neutral_identity_terms=True),
        transformer=FINETUNED_MINILM,
    )
    return {
        "before": Recipe(
            "before (issue 18 linear)", OLD_SOURCES, ("seed",), LinearConfig(), "validation"
        ),
        "new": Recipe(
            "new linear",
            all_sources,
            ("seed", "identity"),
            LinearConfig(C=1.0, min_df=3, neutral_identity_terms=True),
        ),
        "ensemble": Recipe(
            "linear + frozen MiniLM",
            all_sources,
            ("seed", "identity"),
            LinearConfig(C=1.0, min_df=3, neutral_identity_terms=True),
            transformer=FROZEN_MINILM,
        ),
        "finetuned": finetuned,
        "civil": replace(
            finetuned,
            name="linear + fine-tuned MiniLM, civil_spans",
            transformer=CIVIL_MINILM,
            transformer_only=("civil_spans",),
        ),
        "rationales": replace(
            finetuned,
            name="linear + fine-tuned MiniLM, civil_spans and HateXplain rationales",
            transformer=CIVIL_MINILM,
            transformer_only=("civil_spans", "hatexplain_rationales"),
        ),
        "stacked": replace(
            finetuned,
            name="linear + fine-tuned MiniLM, civil_spans and stacked identity statements",
            transformer=CIVIL_MINILM,
            transformer_only=("civil_spans", "identity_stacked"),
        ),
        "wide": replace(
            finetuned,
            name="linear + fine-tuned MiniLM, civil_spans, 32,000 texts seen once",
            transformer=WIDE_MINILM,
            transformer_only=("civil_spans",),
        ),
    }


# MiniLM with its encoder frozen, head only (measured, not shipped: see the README).
FROZEN_MINILM = TransformerConfig(
    unfreeze_top_layers=0, max_train_examples=16000, epochs=5.0, lr_head=0.01, max_len=64
)


# The English transformer before session 9 (top two layers and the head), averaged equally.
FINETUNED_MINILM = TransformerConfig(
    unfreeze_top_layers=2, max_train_examples=16000, epochs=2.0, lr_head=1e-3, max_len=64
)

# experiments/toxicity_minilm.yaml's: the same, also trained on civil_spans, weighted 0.75.
CIVIL_MINILM = FINETUNED_MINILM.model_copy(update={"ensemble_weight": 0.75})

# The same number of training steps over twice as many distinct texts (session 11).
WIDE_MINILM = CIVIL_MINILM.model_copy(update={"max_train_examples": 32000, "epochs": 1.0})


def fit_fold_transformer(train: pd.DataFrame, config: TransformerConfig, folder: Path) -> Any:
    """The fold's MiniLM, trained by steward's own code and loaded as its fp32 backend."""
    from models.toxicity.backends import TorchBackend, read_meta
    from models.toxicity.export import write_transformer
    from models.toxicity.transformer import fit_transformer

    known = train[train["toxicity"].notna()]
    sample = balanced_sample(known, config.max_train_examples, config.seed)
    fit = fit_transformer(
        sample["text"].tolist(), sample[["toxicity"]], sample["lang"].tolist(), config, 20
    )
    write_transformer(folder, fit, "torch_fp32")
    return TorchBackend(folder, read_meta(folder), threads=config.threads, model=fit.model)


def load_all(sources: tuple[str, ...], extras: tuple[str, ...], seed: int = 13) -> pd.DataFrame:
    """Every corpus and written set in one frame, with the hash split (train/valid/test)."""
    parts = [load_corpus(name) for name in (*sources, *extras)]
    frame = pd.concat(parts, ignore_index=True)
    return split_corpus(frame, 0.2, 0.1, seed)


def fit_linear(
    train: pd.DataFrame, cfg: LinearConfig, weight: np.ndarray | None = None
) -> LinearToxicity:
    """The toxicity-only linear model on `train` (labelled rows)."""
    known = train["toxicity"].notna().to_numpy()
    train = train[known]
    model = linear_model(cfg, ("toxicity",))
    if weight is None:
        w = training_weights(train, 1.0, cfg.balance_sources)
    else:
        balanced = training_weights(train, 1.0, cfg.balance_sources)
        w = np.asarray(weight)[known] * (1.0 if balanced is None else balanced)
    return model.fit(train["text"].tolist(), train[["toxicity"]], train["lang"].tolist(), w)


def validation_thresholds(valid: pd.DataFrame, p: np.ndarray, prevalence: float) -> Thresholds:
    """The old rule: 95% block precision, 90% review recall on the valid split, sources equal."""
    known = valid["toxicity"].notna().to_numpy()
    y = valid["toxicity"].to_numpy()[known]
    w = source_weights(valid["source"].to_numpy()[known].tolist(), y, prevalence)
    return choose_thresholds(y, p[known], w, 0.95, 0.90)


def holding_thresholds(
    scored: dict[str, tuple[np.ndarray, np.ndarray]],
    prevalence: float,
    block_precision: float = BLOCK_PRECISION,
    review_recall: float = REVIEW_RECALL,
) -> Thresholds:
    """Review and block thresholds that meet the targets on every source given (y, p).

    Review: the lowest of the per-source review cuts (recall at least the target on each).
    Block: the highest per-source block cut, at the assumed prevalence; None if a source
    never reaches the precision.
    """
    reviews, blocks = [], []
    for y, p in scored.values():
        w = source_weights(["s"] * len(y), y, prevalence)
        t = choose_thresholds(y, p, w, block_precision, review_recall)
        reviews.append(t.review)
        blocks.append(t.block)
    block = None if any(b is None for b in blocks) else max(b for b in blocks if b is not None)
    return Thresholds(min(reviews), block)


def action_metrics(
    y: np.ndarray, p: np.ndarray, t: Thresholds, prevalence: float
) -> dict[str, float]:
    """Review recall, block recall and block precision at the prevalence assumed."""
    pos, neg = y == 1, y == 0
    review_recall = float((p[pos] >= t.review).mean())
    if t.block is None:
        return {
            "review_recall": review_recall,
            "block_precision": float("nan"),
            "block_recall": 0.0,
        }
    tpr = float((p[pos] >= t.block).mean())
    fpr = float((p[neg] >= t.block).mean())
    flagged = prevalence * tpr + (1 - prevalence) * fpr
    precision = prevalence * tpr / flagged if flagged > 0 else float("nan")
    return {"review_recall": review_recall, "block_precision": precision, "block_recall": tpr}


def score_quality(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """ROC-AUC and PR-AUC."""
    return {"roc_auc": float(roc_auc_score(y, p)), "pr_auc": float(average_precision_score(y, p))}


@dataclass
class FoldResult:
    """A recipe's out-of-source scores on one left-out source, and what it shipped with."""

    y: np.ndarray
    p: np.ndarray
    validation: Thresholds
    seconds: float
    # The ensemble's two probabilities apart (English folds of a recipe with a transformer).
    parts: dict[str, np.ndarray] = field(default_factory=dict)


def transformer_extras(
    data: pd.DataFrame, recipe: Recipe, lang: str, left_out: str
) -> pd.DataFrame:
    """The recipe's MiniLM-only rows for one fold; rows written from the left-out corpus's posts
    (DERIVED_FROM) leave with it."""
    extra = data["source"].isin(recipe.transformer_only) & (data["lang"] == lang)
    return data[extra & (data["source"].map(DERIVED_FROM) != left_out)]


def run_folds(
    recipe: Recipe, data: pd.DataFrame, log: Callable[[str], None], prevalence: float
) -> dict[str, FoldResult]:
    """Train without each source in turn (within its language) and score it."""
    out = {}
    for lang, sources in LOSO_SOURCES.items():
        for left_out in sources:
            started = time.perf_counter()
            usable = data["source"].isin([*recipe.sources, *recipe.extras]) & (data["lang"] == lang)
            others = data[usable & (data["source"] != left_out)]
            if not others["source"].isin(recipe.sources).any():
                log(f"  {recipe.name}: no corpus of {lang} left without {left_out}: not scored")
                continue
            model = fit_linear(others[others["split"] == "train"], recipe.linear)
            valid = others[(others["split"] == "valid") & others["toxicity"].notna()]
            valid = valid[~valid["source"].isin(["seed", "identity"])]
            held = data[(data["source"] == left_out) & data["toxicity"].notna()]
            p_valid = model.predict_proba(valid["text"].tolist())[:, 0]
            p = model.predict_proba(held["text"].tolist())[:, 0]
            parts = {}
            if recipe.transformer is not None and lang == "en":
                with tempfile.TemporaryDirectory(prefix="steward-loso-") as tmp:
                    pool = pd.concat([others, transformer_extras(data, recipe, lang, left_out)])
                    tr = fit_fold_transformer(
                        pool[pool["split"] == "train"], recipe.transformer, Path(tmp)
                    )
                    p_tr = tr.predict_proba(held["text"].tolist())[:, 0]
                    parts = {"linear": p, "transformer": p_tr}
                    # The ensemble route: MiniLM's share w of the average, as the scorer does.
                    w = recipe.transformer.ensemble_weight
                    p_tr_valid = tr.predict_proba(valid["text"].tolist())[:, 0]
                    p_valid = (1 - w) * p_valid + w * p_tr_valid
                    p = (1 - w) * p + w * p_tr
            t = validation_thresholds(valid, p_valid, prevalence)
            y = held["toxicity"].to_numpy().astype(int)
            out[left_out] = FoldResult(y, p, t, time.perf_counter() - started, parts)
            n_train = int((others["split"] == "train").sum())
            log(
                f"  {recipe.name}: {left_out} left out, {n_train:,} rows trained, {out[left_out].seconds:.0f} s"
            )
    return out


MIX_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)


def mix_quality(
    folds: dict[str, dict[str, FoldResult]],
) -> dict[str, dict[float, dict[str, float]]]:
    """ROC-AUC per left-out source of (1 - w) * linear + w * MiniLM, for each recipe that has both."""
    out: dict[str, dict[float, dict[str, float]]] = {}
    for name, per in folds.items():
        both = {s: f for s, f in per.items() if f.parts}
        if both:
            out[name] = {
                w: {
                    s: score_quality(f.y, (1 - w) * f.parts["linear"] + w * f.parts["transformer"])[
                        "roc_auc"
                    ]
                    for s, f in both.items()
                }
                for w in MIX_WEIGHTS
            }
    return out


def save_scores(folds: dict[str, dict[str, FoldResult]], path: Path) -> None:
    """Every left-out row's label and scores, per recipe and source (for later analysis)."""
    frames = []
    for name, per in folds.items():
        for source, f in per.items():
            cols = {"recipe": name, "source": source, "y": f.y, "p": f.p}
            frames.append(pd.DataFrame({**cols, **{f"p_{k}": v for k, v in f.parts.items()}}))
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.concat(frames, ignore_index=True).to_parquet(path, index=False)


def nested_loso_thresholds(
    folds: dict[str, FoldResult], prevalence: float
) -> dict[str, Thresholds]:
    """For each left-out source, thresholds chosen on the other sources' LOSO scores."""
    out = {}
    for sources in LOSO_SOURCES.values():
        for s in sources:
            rest = {o: (folds[o].y, folds[o].p) for o in sources if o != s and o in folds}
            if s in folds and rest:
                out[s] = holding_thresholds(rest, prevalence)
    return out


def shipped_loso_thresholds(
    folds: dict[str, FoldResult], prevalence: float
) -> dict[str, Thresholds]:
    """Per language, thresholds from every source's LOSO scores (what the config ships)."""
    out = {}
    for lang, sources in LOSO_SOURCES.items():
        scored = {s: (folds[s].y, folds[s].p) for s in sources if s in folds}
        if scored:
            out[lang] = holding_thresholds(scored, prevalence)
    return out


APC_SCRIPT = r"""
import json, sys
from profanity_check import predict_prob
texts = json.load(open(sys.argv[1]))
print(json.dumps(predict_prob(texts).tolist()))
"""


def profanity_scores(
    texts: list[str], python: Path = APC_VENV / "bin" / "python"
) -> np.ndarray | None:
    """alt-profanity-check's probabilities from its own venv (.venv-apc); None when absent."""
    if not python.exists():
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "texts.json"
        path.write_text(json.dumps(texts))
        done = subprocess.run(
            [str(python), "-c", APC_SCRIPT, str(path)], capture_output=True, text=True, check=True
        )
    return np.asarray(json.loads(done.stdout.strip().splitlines()[-1]), dtype=float)


def adaptation(
    recipe: Recipe,
    data: pd.DataFrame,
    sizes: tuple[int, ...],
    weight: float,
    sources: list[str],
    log: Callable[[str], None],
    seed: int = 0,
) -> dict[str, dict[int, float]]:
    """ROC-AUC on the rest of each source after N of its posts became moderation decisions."""
    import pyarrow as pa

    from features.lake.store import Lake
    from features.schemas import TABLES
    from features.text.corpora import load_lake_moderation

    out: dict[str, dict[int, float]] = {}
    for left_out in sources:
        lang = next(lg for lg, s in LOSO_SOURCES.items() if left_out in s)
        held = data[(data["source"] == left_out) & data["toxicity"].notna()].sample(
            frac=1.0, random_state=seed
        )
        pool, rest = held.iloc[: max(sizes)], held.iloc[max(sizes) :]
        usable = data["source"].isin([*recipe.sources, *recipe.extras]) & (data["lang"] == lang)
        base = data[usable & (data["source"] != left_out) & (data["split"] == "train")]
        y_rest = rest["toxicity"].to_numpy().astype(int)
        curve = {
            0: float(
                roc_auc_score(
                    y_rest,
                    fit_linear(base, recipe.linear).predict_proba(rest["text"].tolist())[:, 0],
                )
            )
        }
        for n in sizes:
            with tempfile.TemporaryDirectory() as tmp:
                lake = Lake(Path(tmp) / "lake")
                rows = pool.iloc[:n]
                table = pa.Table.from_pylist(
                    [
                        {"post_id": f"{left_out}-{i}", "text": t, "toxicity": float(v)}
                        for i, (t, v) in enumerate(zip(rows["text"], rows["toxicity"], strict=True))
                    ],
                    schema=TABLES["moderation"].schema,
                )
                with lake.transaction("bench-adaptation", f"{left_out}-{n}") as txn:
                    txn.write("moderation", table)
                decisions = load_lake_moderation(lake)
            decisions["lang"] = lang
            train = pd.concat([base, decisions], ignore_index=True)
            train = train[train["toxicity"].notna()]
            w = np.where(train["source"].isin(["community", "lake"]).to_numpy(), weight, 1.0)
            model = fit_linear(train, recipe.linear, w)
            curve[n] = float(
                roc_auc_score(y_rest, model.predict_proba(rest["text"].tolist())[:, 0])
            )
            log(f"  adaptation {left_out}: N={n} ROC-AUC {curve[n]:.3f} (base {curve[0]:.3f})")
        out[left_out] = curve
    return out


def identity_table(
    recipe: Recipe,
    data: pd.DataFrame,
    thresholds: dict[str, Thresholds],
    log: Callable[[str], None],
) -> pd.DataFrame:
    """The recipe's full model (every source) on the identity evaluation statements."""
    from features.text.identity_terms import identity_eval_frame
    from models.toxicity.bias import identity_bias

    started = time.perf_counter()
    usable = data["source"].isin([*recipe.sources, *recipe.extras])
    model = fit_linear(data[usable & (data["split"] == "train")], recipe.linear)
    if recipe.thresholds == "validation":
        # The old recipe shipped the thresholds its validation split gave, per language.
        thresholds = {}
        for lang in LOSO_SOURCES:
            valid = data[usable & (data["split"] == "valid") & (data["lang"] == lang)]
            valid = valid[valid["toxicity"].notna() & valid["source"].isin(recipe.sources)]
            p_valid = model.predict_proba(valid["text"].tolist())[:, 0]
            thresholds[lang] = validation_thresholds(valid, p_valid, 0.10)
    frame = identity_eval_frame()
    p = model.predict_proba(frame["text"].tolist())[:, 0]
    review = (
        frame["lang"].map({lg: t.review for lg, t in thresholds.items()}).fillna(0.5).to_numpy()
    )
    log(f"  {recipe.name}: full model in {time.perf_counter() - started:.0f} s")
    return identity_bias(frame, p, review)


def _fmt(x: float | None) -> str:
    return "-" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.3f}"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the LOSO tables, identity tables and adaptation curve; print and save them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--recipes", default="before,new", help="comma-separated: " + ",".join(recipes())
    )
    parser.add_argument("--prevalence", type=float, default=0.10)
    parser.add_argument(
        "--adapt", default="", help="sources for the adaptation curve (comma-separated; 'all')"
    )
    parser.add_argument("--adapt-sizes", default="100,300,1000")
    parser.add_argument("--community-weight", type=float, default=20.0)
    parser.add_argument("--skip-identity", action="store_true")
    parser.add_argument(
        "--adapt-only",
        action="store_true",
        help="only the adaptation curve (of the last linear recipe)",
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / ".steward" / "bench" / "toxicity_loso.json"
    )
    parser.add_argument(
        "--scores", type=Path, default=None, help="also save every left-out row's scores (Parquet)"
    )
    args = parser.parse_args(argv)
    console = Console()
    log = console.print
    chosen = [recipes()[name] for name in args.recipes.split(",")]
    every = tuple(s for lang in LOSO_SOURCES.values() for s in lang)
    transformer_only = tuple(sorted({s for r in chosen for s in r.transformer_only}))
    data = load_all(every, ("seed", "identity", *transformer_only))
    console.print(
        "rows: " + ", ".join(f"{k} {n:,}" for k, n in data["source"].value_counts().items())
    )
    order = [s for lang in LOSO_SOURCES.values() for s in lang]
    adapting = adaptation_recipe(chosen)
    if args.adapt_only:
        if adapting is None:
            raise SystemExit("--adapt-only needs a linear recipe in --recipes (e.g. new)")
        curve = _adaptation_table(args, adapting, data, order, console)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"adaptation": curve}, indent=1, default=str))
        return {"adaptation": curve}
    folds = {r.name: run_folds(r, data, log, args.prevalence) for r in chosen}
    if args.scores is not None:
        save_scores(folds, args.scores)
        console.print(f"left-out scores written to {args.scores}")
    held = {s: data[(data["source"] == s) & data["toxicity"].notna()] for s in order}
    apc_all = profanity_scores([t for s in order for t in held[s]["text"]])
    apc: dict[str, np.ndarray] = {}
    if apc_all is None:
        console.print(
            f"[yellow]alt-profanity-check absent ({APC_VENV}); its rows stay empty. "
            f"Create it: python -m venv {APC_VENV} && {APC_VENV}/bin/pip install alt-profanity-check[/]"
        )
    else:
        at = 0
        for s in order:
            apc[s] = apc_all[at : at + len(held[s])]
            at += len(held[s])

    result: dict[str, Any] = {
        "prevalence": args.prevalence,
        "quality": {},
        "actions": {},
        "thresholds": {},
    }
    table = Table(
        title="toxicity on left-out sources (trained on the other corpora of the language)"
    )
    table.add_column("model")
    for s in order:
        table.add_column(
            f"{s} ({len(held[s]):,}, {int(held[s]['toxicity'].sum()):,} toxic)\nROC / PR",
            justify="right",
        )
    for name, f in folds.items():
        q = {s: score_quality(f[s].y, f[s].p) for s in order if s in f}
        result["quality"][name] = q
        table.add_row(
            name,
            *(f"{q[s]['roc_auc']:.3f} / {q[s]['pr_auc']:.3f}" if s in q else "-" for s in order),
        )
    if apc:
        q = {s: score_quality(held[s]["toxicity"].to_numpy().astype(int), apc[s]) for s in order}
        result["quality"]["alt-profanity-check"] = q
        table.add_row(
            "alt-profanity-check*",
            *(f"{q[s]['roc_auc']:.3f} / {q[s]['pr_auc']:.3f}" for s in order),
        )
    console.print(table)
    mixes = mix_quality(folds)
    if mixes:
        result["mixes"] = mixes
        console.print(
            "ensemble mixes (share of MiniLM in the average), ROC-AUC per left-out source: "
            + "; ".join(
                f"{name} w={w}: " + " / ".join(f"{s} {a:.3f}" for s, a in per.items())
                for name, by_w in mixes.items()
                for w, per in by_w.items()
            )
        )
    console.print(
        "* alt-profanity-check was trained on Davidson and Wikipedia (Jigsaw) comments, so those "
        "two columns are not unseen for it; it reads English only."
    )

    table = Table(
        title=f"actions on left-out sources (block precision at {args.prevalence:.0%} prevalence; "
        f"targets: block precision >= {BLOCK_PRECISION}, review recall >= {REVIEW_RECALL})"
    )
    table.add_column("model / thresholds")
    for s in order:
        table.add_column(f"{s}\nreview rec / block prec / block rec", justify="right")
    for recipe in chosen:
        f = folds[recipe.name]
        nested = nested_loso_thresholds(f, args.prevalence)
        for how, ts in (
            ("validation split", {s: f[s].validation for s in order if s in f}),
            ("LOSO, nested", nested),
        ):
            m = {
                s: action_metrics(f[s].y, f[s].p, ts[s], args.prevalence) for s in order if s in ts
            }
            result["actions"][f"{recipe.name} | {how}"] = {
                s: {**m[s], **ts[s].to_dict()} for s in m
            }
            table.add_row(
                f"{recipe.name} | {how}",
                *(
                    f"{_fmt(m[s]['review_recall'])} / {_fmt(m[s]['block_precision'])} / {_fmt(m[s]['block_recall'])}"
                    if s in m
                    else "-"
                    for s in order
                ),
            )
        shipped = shipped_loso_thresholds(f, args.prevalence)
        result["thresholds"][recipe.name] = {lg: t.to_dict() for lg, t in shipped.items()}
    console.print(table)
    for name, per in result["thresholds"].items():
        console.print(
            f"thresholds from pooled LOSO scores, {name}: "
            + "; ".join(
                f"{lg} review {_fmt(t['review'])} block {_fmt(t['block'])}" for lg, t in per.items()
            )
        )

    if not args.skip_identity:
        result["identity"] = {}
        for recipe in chosen:
            if recipe.transformer is not None:
                # Its full model is MiniLM's: bench.toxicity_identity judges the trained one.
                log(f"  {recipe.name}: identity table from `python -m bench.toxicity_identity`")
                continue
            shipped = {
                lg: Thresholds(float(t["review"] or 0), t["block"])
                for lg, t in result["thresholds"][recipe.name].items()
            }
            bias = identity_table(recipe, data, shipped, log)
            result["identity"][recipe.name] = bias.to_dict(orient="records")
            print_identity(console, recipe.name, bias)

    if args.adapt and adapting is not None:
        result["adaptation"] = _adaptation_table(args, adapting, data, order, console)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, default=str))
    console.print(f"results written to {args.out}")
    return result


def adaptation_recipe(chosen: list[Recipe]) -> Recipe | None:
    """The last linear recipe: a community's own decisions retrain the linear model in seconds
    (experiments/toxicity_community.yaml), so the adaptation curve is measured on it."""
    linear = [r for r in chosen if r.transformer is None]
    return linear[-1] if linear else None


def _adaptation_table(
    args: argparse.Namespace, new: Recipe, data: pd.DataFrame, order: list[str], console: Console
) -> dict[str, Any]:
    """Run and print the adaptation curve of a linear recipe."""
    sources = order if args.adapt == "all" else args.adapt.split(",")
    sizes = tuple(int(n) for n in args.adapt_sizes.split(","))
    curve = adaptation(new, data, sizes, args.community_weight, sources, console.print)
    table = Table(
        title="learning a community's norms: ROC-AUC on the rest of the left-out source after N "
        f"of its posts became moderation decisions (weight {args.community_weight:g}; {new.name})"
    )
    table.add_column("source")
    for n in (0, *sizes):
        table.add_column(f"N={n}", justify="right")
    for s, c in curve.items():
        cells = [f"{c[n]:.3f}" + ("" if n == 0 else f" ({c[n] - c[0]:+.3f})") for n in (0, *sizes)]
        table.add_row(s, *cells)
    console.print(table)
    return {"recipe": new.name, "weight": args.community_weight, "curve": curve}


def print_identity(console: Console, name: str, bias: pd.DataFrame) -> None:
    """Per language: worst groups and the summary against the targets."""
    from models.toxicity.bias import bias_summary

    table = Table(title=f"identity terms, {name}: per group (flagged at review; Jigsaw bias AUCs)")
    for col in (
        "lang",
        "group",
        "seen",
        "neutral",
        "positive",
        "counter",
        "hostile",
        "subgroup",
        "BPSN",
        "BNSP",
    ):
        table.add_column(col, justify="left" if col in ("lang", "group") else "right")
    metrics = [f"flagged_{k}" for k in ("neutral", "positive", "counter", "hostile")]
    metrics += ["subgroup_auc", "bpsn_auc", "bnsp_auc"]
    for r in bias.to_dict(orient="records"):
        seen = "yes" if r["seen"] else "no"
        table.add_row(str(r["lang"]), str(r["group"]), seen, *(_fmt(float(r[m])) for m in metrics))
    console.print(table)
    for key, s in bias_summary(bias).items():
        console.print(
            f"  {name} {key}: {s['groups']} groups, worst neutral flagged {s['max_flagged_neutral']:.3f} "
            f"(target <= 0.05), worst BPSN {s['min_bpsn_auc']:.3f} (target >= 0.85), "
            f"worst subgroup {s['min_subgroup_auc']:.3f}, worst BNSP {s['min_bnsp_auc']:.3f}; failing: {s['failing'] or 'none'}"
        )


if __name__ == "__main__":
    main()
