"""The feature benchmark's pandas reference computes what steward computes (else its timing
would compare different work)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.pandas_reference import build_reference, load_tables
from features.members import build as mf
from features.members import definition as mf_definition
from features.members import store as mf_store
from tests.support.lakes import two_ingest_lake


def test_the_pandas_reference_writes_steward_s_table(tmp_path: Path) -> None:
    lake = two_ingest_lake(tmp_path / "lake")
    report = mf.build_member_features(lake, tmp_path / "features", every_days=14)
    tables = load_tables(lake.files("events"), lake.files("members"), lake.files("subscriptions"))
    reference = build_reference(tables, report.as_of)
    ours = mf_store.read_features(tmp_path / "features").to_pandas()
    keys = ["member_id", "as_of"]
    assert len(reference) == len(ours) == report.rows
    merged = ours.merge(reference, on=keys, suffixes=("", "_pandas"), validate="one_to_one")
    assert len(merged) == len(ours)
    for column in [*mf_definition.FEATURE_COLUMNS, *mf_definition.LABEL_COLUMNS]:
        mine = pd.to_numeric(merged[column]).astype("float64")
        theirs = pd.to_numeric(merged[f"{column}_pandas"]).astype("float64")
        same = (mine.isna() & theirs.isna()) | ((mine - theirs).abs() < 1e-9)
        assert same.all(), (column, merged.loc[~same, [*keys, column, f"{column}_pandas"]].head())
    assert merged["churned_subscription"].notna().any()  # the subscription label is exercised
