"""`steward train toxicity` and `steward score posts`: thin wrappers over pipelines.toxicity.train.

The lead mounts these functions on the `steward` Typer app; errors are ValueErrors, which
`pipelines.cli.main.main` prints as one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from models.toxicity import CHAMPION_URI
from pipelines.output import format_option


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
        typer.Option(
            "--file",
            help="CSV/Parquet/JSONL with a text column, optional lang, and an id column "
            "(see --id-column) that the results keep.",
        ),
    ] = None,
    id_column: Annotated[
        str,
        typer.Option(
            "--id-column",
            help="The --file column that identifies each post; without it, a post's id is its "
            "row number (1 = the first post).",
        ),
    ] = "id",
    model: Annotated[str, typer.Option("--model", help="MLflow model URI.")] = CHAMPION_URI,
    spans: Annotated[
        str, typer.Option("--spans", help="Spans for: all, flagged or none.")
    ] = "flagged",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Write all scores to this CSV (id, text, then the scores) instead."
        ),
    ] = None,
    fmt: Annotated[str, format_option()] = "table",
) -> None:
    """Score posts: probability per label, action, language and the spans behind it."""
    import json
    import sys

    import pandas as pd

    from models.champions import load_toxicity_scorer
    from pipelines.output import check_format, console, rows_table, show

    if bool(text) == bool(file):
        raise ValueError("give either --text TEXT (repeatable) or --file FILE")
    if spans not in ("all", "flagged", "none"):
        raise ValueError(f"--spans {spans!r}: use all, flagged or none")
    if out is not None and fmt != "table":
        raise ValueError("--out FILE writes a CSV file; --format prints: give one of them")
    check_format(fmt)
    frame = posts_to_score(file, text, id_column)
    scored = load_toxicity_scorer(model).score_frame(frame, spans)  # type: ignore[arg-type]
    # The input's id and text first: results join back by id, never by row order.
    results = pd.concat([frame[["id", "text"]], scored], axis=1)
    if out is not None:
        results.assign(
            spans=results["spans"].map(lambda s: json.dumps(s, ensure_ascii=False))
        ).to_csv(out, index=False)
        console().print(f"{len(results):,} posts scored into {out}")
        return
    labels = [
        c for c in scored.columns if c not in ("lang", "action", "label", "spans", "model_version")
    ]
    terminal = sys.stdout.isatty()
    rows = [
        [
            r["id"],
            # Cut for a terminal's width only: piped, the text stays whole.
            str(r["text"])[:60] if terminal and fmt == "table" else r["text"],
            r["lang"],
            *[r[lb] for lb in labels],
            r["action"],
            r["spans"] if fmt != "table" else ", ".join(s["text"] for s in r["spans"]) or "-",
        ]
        for _, r in results.iterrows()
    ]
    version = scored["model_version"].iloc[0] if len(scored) else "-"
    columns = ["id", "post", "lang", *labels, "action", "spans"]
    show(rows_table(f"scores (model {version})", columns, rows), fmt)


def posts_to_score(file: Path | None, text: list[str] | None, id_column: str) -> pd.DataFrame:
    """id and text (and lang when given) of the posts to score; ids kept as written."""
    from features.text.corpora import read_table

    if file is None:
        texts = list(text or [])
        return pd.DataFrame({"id": [str(i) for i in range(1, len(texts) + 1)], "text": texts})
    frame = read_table(file, ["text"], text_columns=[id_column])
    ids = (
        frame[id_column].astype("string").fillna("")
        if id_column in frame.columns
        else pd.Series([str(i) for i in range(1, len(frame) + 1)], index=frame.index)
    )
    picked = frame[["text", *(["lang"] if "lang" in frame.columns else [])]].copy()
    picked.insert(0, "id", ids.astype(object))
    return picked.reset_index(drop=True)
