"""Churn benchmark: training time on 1M member rows, scoring throughput with reasons, peak RSS.

The 1M rows are drawn with replacement (seeded) from the feature rows of a simulated community
(default 20,000 members x 180 days): training rows from its training dates, scoring rows from
its latest date, so the model and its reasons see realistic values. Each step runs in a fresh
process, so its peak RSS is its own. Run: `python -m bench.churn` (add --rows 200000 for a
quick look). Target: score 1M members with reasons in under 60 s.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.measure import Measured, in_fresh_process

TARGET_SCORE_SECONDS = 60.0


def build_simulated_features(members: int, days: int, seed: int, work: Path) -> Path:
    """Simulate, ingest and build features every 14 days; returns the features folder."""
    from features.adapters.canonical import CanonicalFolderSource
    from features.lake.store import Lake
    from features.members.build import build_member_features
    from features.synthetic.simulator import simulate, write_community
    from pipelines.ingest import ingest_source

    features = work / "features"
    if (features / "_features.json").exists():
        return features
    write_community(simulate(members=members, days=days, seed=seed), work / "raw")
    lake = Lake(work / "home" / "lake")
    ingest_source(lake, CanonicalFolderSource(work / "raw", name="simulator"))
    build_member_features(lake, features, every_days=14)
    return features


def resample_rows(features: Path, rows: int, work: Path) -> dict[str, Path]:
    """1M-row training and scoring sets drawn from the simulated rows (seeded)."""
    import pandas as pd

    from features.members.store import read_features, write_features
    from models.churn.dataset import load_churn_data, read_metadata

    data = load_churn_data(features, "churned_activity")
    train = data.train.sample(rows, replace=True, random_state=0, ignore_index=True)
    train_path, valid_path = work / "train.parquet", work / "valid.parquet"
    train.to_parquet(train_path)
    data.valid.to_parquet(valid_path)
    latest = max(pd.to_datetime(read_metadata(features)["as_of"])).date()
    pool = read_features(features, [latest]).to_pandas()
    scoring = pool.sample(rows, replace=True, random_state=1, ignore_index=True)
    scoring["member_id"] = [f"b{i:07d}" for i in range(rows)]  # distinct members
    import pyarrow as pa

    from features.members.definition import FeatureConfig, output_schema

    table = pa.Table.from_pandas(scoring, schema=output_schema(), preserve_index=False)
    config = FeatureConfig(data_end=latest + timedelta(days=30))
    write_features(table, work / "scoring", config, [latest], "bench")
    return {"train": train_path, "valid": valid_path, "scoring": work / "scoring"}


def train_step(kind: str, train_path: Path, valid_path: Path) -> dict[str, Any]:
    """Fit one model on the 1M training rows (calibrated on the real validation date)."""
    import pandas as pd

    from models.churn.config import ChurnConfig, LgbmParams, LogregParams
    from models.churn.dataset import ChurnData
    from models.churn.train import fit_churn_model

    train, valid = pd.read_parquet(train_path), pd.read_parquet(valid_path)
    columns = [
        c for c in train.columns if c not in ("member_id", "as_of") and not c.startswith("churned_")
    ]
    data = ChurnData(
        train,
        valid,
        "churned_activity",
        columns,
        sorted(set(train["as_of"])),
        valid["as_of"].iloc[0],
    )
    model = LgbmParams() if kind == "lgbm" else LogregParams()
    fitted = fit_churn_model(ChurnConfig(model=model), data)
    return {"fit_seconds": fitted.fit_seconds, "roc_auc": fitted.metrics["roc_auc"]}


def register_champion(features: Path, home: Path) -> str:
    """Train the default LightGBM on the simulated features and register it as champion."""
    os.environ["STEWARD_HOME"] = str(home)
    from models.churn.config import ChurnConfig
    from pipelines.churn.train import train_churn

    return train_churn(ChurnConfig(name="bench-lgbm", features=features), force=True).version


def score_step(home: Path, scoring: Path) -> dict[str, Any]:
    """`steward score members` end to end on the 1M scoring rows: read, score, write."""
    import time

    os.environ["STEWARD_HOME"] = str(home)
    from pipelines.churn.score import score_members

    started = time.perf_counter()
    report = score_members(features=scoring)
    seconds = time.perf_counter() - started
    return {"rows": report.rows, "seconds": seconds, "high": report.tiers["high"]}


def parts_step(home: Path, scoring: Path) -> dict[str, float]:
    """The parts of scoring on the same rows: predict, contributions, reasons in words."""
    import time

    os.environ["STEWARD_HOME"] = str(home)
    from models.champions import load_churn_champion
    from models.churn.dataset import feature_matrix, load_scoring_rows
    from models.churn.reasons import explain

    scorer, _ = load_churn_champion()
    frame, _ = load_scoring_rows(scoring)
    x = feature_matrix(frame, scorer.feature_columns)
    t0 = time.perf_counter()
    scorer.estimator.raw_score(x)
    t1 = time.perf_counter()
    contrib, _ = scorer.estimator.contributions(x[:200_000])
    t2 = time.perf_counter()
    index = {c: i for i, c in enumerate(scorer.feature_columns)}
    cols = scorer.feature_columns
    explain(lambda c: x[:200_000, index[c]], contrib, cols, scorer.interventions, scorer.top_k)
    t3 = time.perf_counter()
    lightgbm = getattr(scorer.estimator, "lightgbm_contributions", None)
    t4 = time.perf_counter()
    if lightgbm is not None:
        lightgbm(x[:20_000])
    t5 = time.perf_counter()
    return {
        "predict_per_s": len(x) / (t1 - t0),
        "contrib_per_s": 200_000 / (t2 - t1),
        "words_per_s": 200_000 / (t3 - t2),
        "pred_contrib_per_s": 20_000 / (t5 - t4) if lightgbm is not None else float("nan"),
    }


def main() -> None:
    """Run the benchmark and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--work", type=Path, default=None, help="keep inputs here between runs")
    args = parser.parse_args()
    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        # Every step runs in its own process: this one stays small, so the children's peak RSS
        # (which on Linux starts from the parent's size at fork) is their own.
        with console.status("simulating and building features"):
            features = in_fresh_process(
                build_simulated_features, args.members, args.days, 7, work
            ).result
            paths = in_fresh_process(resample_rows, features, args.rows, work).result
        results: dict[str, Measured] = {}
        for kind in ("lgbm", "logreg"):
            with console.status(f"training {kind} on {args.rows:,} rows"):
                results[f"train {kind}"] = in_fresh_process(
                    train_step, kind, paths["train"], paths["valid"]
                )
        home = work / "home"
        with console.status("registering a champion"):
            in_fresh_process(register_champion, features, home)
        with console.status(f"scoring {args.rows:,} members with reasons"):
            results["score"] = in_fresh_process(score_step, home, paths["scoring"])
            results["parts"] = in_fresh_process(parts_step, home, paths["scoring"])
    console.print(report_table(results, args.rows))


def report_table(results: dict[str, Measured], rows: int) -> Table:
    """One row per step: wall time, throughput and peak RSS."""
    table = Table(title=f"bench/churn: {rows:,} member rows (resampled from the simulator)")
    for column in ("step", "wall s", "detail", "peak RSS MB"):
        table.add_column(column)
    for kind in ("lgbm", "logreg"):
        found = results[f"train {kind}"]
        detail = (
            f"fit {found.result['fit_seconds']:.1f} s, valid ROC-AUC {found.result['roc_auc']:.3f}"
        )
        table.add_row(f"train {kind}", f"{found.seconds:.1f}", detail, f"{found.peak_rss_mb:,.0f}")
    score = results["score"]
    r = score.result
    verdict = "meets" if r["seconds"] < TARGET_SCORE_SECONDS else "MISSES"
    detail = (
        f"{r['rows'] / r['seconds']:,.0f} members/s with reasons, read to written "
        f"({verdict} the {TARGET_SCORE_SECONDS:.0f} s target)"
    )
    table.add_row("score members", f"{r['seconds']:.1f}", detail, f"{score.peak_rss_mb:,.0f}")
    p = results["parts"].result
    detail = (
        f"members/s: predict {p['predict_per_s']:,.0f}; contributions by pattern table "
        f"{p['contrib_per_s']:,.0f} (LightGBM pred_contrib {p['pred_contrib_per_s']:,.0f}); "
        f"top-3 reasons in words {p['words_per_s']:,.0f}"
    )
    table.add_row("  its parts", "", detail, "")
    return table


if __name__ == "__main__":
    main()
