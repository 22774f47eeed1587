"""Runnable steps shared by the CLI and the demo: each wires lake, adapters and builders."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pyarrow.parquet as pq
from rich.table import Table

from features.adapters.canonical import CanonicalFolderSource
from features.lake.data_end import DataEnd, data_end_of
from features.lake.store import QUARANTINE, Lake
from features.members.build import FeatureBuildReport, build_member_features
from features.members.definition import Engine, FeatureConfig
from features.schemas import TABLES
from features.storage.catalog import Catalog
from features.synthetic.simulator import simulate, write_community
from pipelines.ingest import IngestReport, ingest_source
from pipelines.output import rows_table


def features_dir() -> Path:
    """Where member features are written: STEWARD_HOME/features/member_features."""
    return Catalog.default().member_features


def simulate_and_ingest(
    members: int, days: int, seed: int, ingest: bool = True
) -> tuple[Path, IngestReport | None]:
    """Simulate a synthetic community into STEWARD_HOME/raw and ingest it into the lake."""
    folder = Catalog.default().raw / f"synthetic-{members}x{days}-seed{seed}"
    if not (folder / "events.parquet").exists():
        write_community(simulate(members=members, days=days, seed=seed), folder)
    if not ingest:
        return folder, None
    return folder, ingest_source(Lake.default(), CanonicalFolderSource(folder, name="simulator"))


def build_features_step(
    as_of: list[date] | None,
    every_days: int | None,
    horizon: int,
    lookback: int,
    data_end: date | None = None,
    engine: Engine = "arrays",
) -> FeatureBuildReport:
    """Build member features over the default lake into the default features folder.

    data_end None: the earliest of the tables' last days (default_data_end).
    """
    lake = Lake.default()
    if data_end is None:
        data_end = default_data_end(lake).day
    config = FeatureConfig(horizon_days=horizon, lookback_days=lookback, data_end=data_end)
    return build_member_features(
        lake, features_dir(), as_of=as_of, every_days=every_days, config=config, engine=engine,
    )  # fmt: skip


def default_data_end(lake: Lake) -> DataEnd:
    """The last day on which every table of the lake is complete, and each table's last day."""
    return data_end_of({table: lake.files(table) for table in ("events", "subscriptions")})


def dates_between(start: date, end: date, every_days: int) -> list[date]:
    """Observation dates every_days apart back from end, none before start."""
    if start > end:
        raise ValueError(f"--from {start} is after --to {end}: give an earlier --from")
    days: list[date] = []
    day = end
    while day >= start:
        days.append(day)
        day -= timedelta(days=every_days)
    return sorted(days)


def lake_counts(lake: Lake) -> dict[str, int]:
    """Published rows per canonical table."""
    return {
        table: sum(pq.read_metadata(p).num_rows for p in lake.files(table))
        for table in [*TABLES, QUARANTINE]
    }


def lake_summary(lake: Lake | None = None) -> Table:
    """Rows per table and quarantine reasons, as a table."""
    lake = lake or Lake.default()
    counts = lake_counts(lake)
    reasons: Counter[str] = Counter()
    if counts[QUARANTINE]:
        for reason in lake.read(QUARANTINE).column("reason").to_pylist():
            reasons[reason] += 1
    rows: list[list[object]] = [[t, n, ""] for t, n in counts.items() if t != QUARANTINE]
    rows += [[QUARANTINE, n, r] for r, n in reasons.most_common()]
    title = f"lake {lake.root} (snapshot {lake.snapshot_id()})"
    return rows_table(title, ["table", "rows", "reason"], rows)
