"""`steward train toxicity` and `steward score posts`: thin wrappers over pipelines.toxicity.train.

The lead mounts these functions on the `steward` Typer app; errors are ValueErrors, which
`pipelines.cli.main.main` prints as one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from models.toxicity import CHAMPION_URI


def train_toxicity_cmd(
    config: Annotated[
        Path,
        typer.Option("--config", help="Experiment YAML, e.g. experiments/toxicity_linear.yaml."),
    ],
    force: Annotated[
        bool, typer.Option("--force", help="Make this version champion even if it scores lower.")
    ] = False,
) -> None:
    """Train a toxicity model from a config, track it in MLflow and register it."""
    from pipelines.output import console, rows_table
    from pipelines.toxicity.train import train_toxicity

    out = console()
    with out.status("training toxicity model ..."):
        result = train_toxicity(config, force, log=lambda m: out.print(f"  {m}"))
    m = result.metrics
    test = m[(m["model"] == "served") & (m["split"] == "test") & (m["label"] == "toxicity")]
    rows = [
        [g, int(n), auc, f1]
        for g, n, auc, f1 in zip(
            test["group"], test["n"], test["roc_auc"], test["f1_review"], strict=True
        )
    ]
    out.print(
        rows_table(
            f"toxicity {result.version}: held-out test",
            ["group", "posts", "ROC-AUC", "F1 at review"],
            rows,
        )
    )
    if result.promotion is not None:
        p = result.promotion
        out.print(f"registered {p.name} v{p.version}: {p.reason}")
    out.print(f"run {result.run_id}; model {result.model_uri}")


def score_posts_cmd(
    text: Annotated[
        list[str] | None, typer.Option("--text", help="A post to score, repeatable.")
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", help="CSV/Parquet/JSONL with a text column (optional lang)."),
    ] = None,
    model: Annotated[str, typer.Option("--model", help="MLflow model URI.")] = CHAMPION_URI,
    spans: Annotated[
        str, typer.Option("--spans", help="Spans for: all, flagged or none.")
    ] = "flagged",
    out: Annotated[
        Path | None, typer.Option("--out", help="Write all scores to this CSV instead of a table.")
    ] = None,
) -> None:
    """Score posts: probability per label, action, language and the spans behind it."""
    import json

    import pandas as pd

    from features.text.corpora import read_table
    from models.champions import load_toxicity_scorer
    from pipelines.output import console, rows_table

    if bool(text) == bool(file):
        raise ValueError("give either --text TEXT (repeatable) or --file FILE")
    if spans not in ("all", "flagged", "none"):
        raise ValueError(f"--spans {spans!r}: use all, flagged or none")
    frame = read_table(file, ["text"]) if file is not None else pd.DataFrame({"text": text})
    scored = load_toxicity_scorer(model).score_frame(frame, spans)  # type: ignore[arg-type]
    if out is not None:
        scored.assign(
            spans=scored["spans"].map(lambda s: json.dumps(s, ensure_ascii=False))
        ).to_csv(out, index=False)
        console().print(f"{len(scored):,} posts scored into {out}")
        return
    labels = [
        c for c in scored.columns if c not in ("lang", "action", "label", "spans", "model_version")
    ]
    rows = [
        [
            str(post)[:60],
            r["lang"],
            *[r[lb] for lb in labels],
            r["action"],
            ", ".join(s["text"] for s in r["spans"]) or "-",
        ]
        for post, (_, r) in zip(frame["text"], scored.iterrows(), strict=True)
    ]
    version = scored["model_version"].iloc[0] if len(scored) else "-"
    console().print(
        rows_table(f"scores (model {version})", ["post", "lang", *labels, "action", "spans"], rows)
    )
