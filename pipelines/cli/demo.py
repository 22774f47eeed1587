"""`steward demo`: the main job end to end on built-in synthetic data."""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

import duckdb

from features.lake.store import Lake
from pipelines.churn.demo import demo_churn
from pipelines.output import console, ingest_table, rows_table
from pipelines.steps import build_features_step, lake_summary, simulate_and_ingest
from pipelines.toxicity.train import check_demo_model, demo_toxicity

DEMO_SEED = 7
EXAMPLE_FEATURES = (
    "n_post_30d",
    "active_days_30d",
    "days_since_last_activity",
    "tickets_open_unresolved",
    "points_balance",
    "churned_activity",
)


def run_demo(members: int, days: int, serve: bool = False, toxicity_model: str = "minilm") -> None:
    """Simulate, ingest, build features every 14 days, train, score and print what came out;
    then tell how to start the server (or, with `serve`, start it)."""
    # The demo is read by people: MLflow's advice to developers and progress bars are noise here.
    warnings.filterwarnings("ignore", category=UserWarning, module=r"mlflow\..*")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    model = check_demo_model(toxicity_model)  # before minutes of work, not after
    out = console()
    out.rule("steward demo (synthetic data from the built-in simulator)")
    started = time.perf_counter()
    folder, report = simulate_and_ingest(members, days, DEMO_SEED)
    out.print(f"simulated {members:,} members x {days} days into {folder}")
    if report is not None:
        out.print(ingest_table(report))
    out.print(lake_summary())
    built = build_features_step(None, 14, horizon=30, lookback=30)
    out.print(
        f"member features: {built.rows:,} rows for {len(built.as_of)} observation dates "
        f"in {built.seconds:.1f} s -> {built.out}"
    )
    out.print(observation_summary(Lake.default(), built.out))
    out.print(example_rows(built.out))
    out.rule("churn: LightGBM and a logistic baseline, tracked in MLflow")
    demo_churn(out, built.out)
    demo_toxicity(out, model)
    out.print(
        f"done in {time.perf_counter() - started:.1f} s; data under {Lake.default().root.parent}"
    )
    out.rule("serve the models")
    # soft_wrap keeps each curl line whole, so it can be copied and pasted.
    out.print(serving_hint(), markup=False, highlight=False, soft_wrap=True)
    if serve:
        from pipelines.cli.serve import serve_cmd

        serve_cmd(no_auth=True)


def serving_hint() -> str:
    """How to start `steward serve` and curl it, with the demo's riskiest member as example and
    the Perspective attributes the champion toxicity model (what `steward serve` loads) scores."""
    from features.scores.at_risk import at_risk
    from models.champions import load_toxicity_scorer
    from serving.hints import curl_examples
    from serving.routes.perspective import served_attributes

    top = at_risk(top=1)
    member = str(top["member_id"].iloc[0]) if len(top) else "MEMBER_ID"
    attributes = served_attributes(load_toxicity_scorer().labels)
    return curl_examples(member_id=member, attributes=attributes)


def observation_summary(lake: Lake, features: Path) -> object:
    """Members, events, active members and churn rate per observation date."""
    con = duckdb.connect()
    events = [str(p) for p in lake.files("events")]
    rows = con.execute(
        """
        WITH f AS (SELECT * FROM read_parquet(?, hive_partitioning = true)),
        obs AS (SELECT DISTINCT CAST(as_of AS DATE) AS as_of FROM f),
        ev AS (
            SELECT o.as_of, COUNT(*) AS n_events, COUNT(DISTINCT e.member_id) AS n_members
            FROM read_parquet(?) e JOIN obs o ON CAST(e.ts AS DATE) <= o.as_of
            GROUP BY o.as_of
        )
        SELECT CAST(f.as_of AS VARCHAR), MAX(ev.n_members), MAX(ev.n_events), COUNT(*),
               AVG(CAST(f.churned_activity AS DOUBLE))
        FROM f JOIN ev ON CAST(f.as_of AS DATE) = ev.as_of
        GROUP BY f.as_of ORDER BY f.as_of
        """,
        [str(features / "**" / "*.parquet"), events],
    ).fetchall()
    shown = [[d, m, e, a, r] for d, m, e, a, r in rows]
    columns = ["as_of", "members seen", "events to date", "active members", "churn rate (30d)"]
    return rows_table("per observation date", columns, shown)


def example_rows(features: Path, limit: int = 4) -> object:
    """A few members' features at the latest labelled date, one column per member."""
    con = duckdb.connect()
    cols = ", ".join(EXAMPLE_FEATURES)
    frame = con.execute(
        f"""
        SELECT member_id, CAST(as_of AS VARCHAR) AS as_of, {cols}
        FROM read_parquet(?, hive_partitioning = true)
        WHERE churned_activity IS NOT NULL
        ORDER BY as_of DESC, member_id LIMIT {int(limit)}
        """,
        [str(features / "**" / "*.parquet")],
    ).df()
    title = f"example features at {frame['as_of'].iloc[0]}" if len(frame) else "example features"
    rows = [[name, *frame[name].tolist()] for name in EXAMPLE_FEATURES]
    return rows_table(title, ["feature", *frame["member_id"].tolist()], rows)
