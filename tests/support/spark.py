"""Spark parity: where two feature tables differ, and the checks that a Spark build gave DuckDB's."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

TOLERANCE = 1e-9


def differences(expected: pa.Table, found: pa.Table) -> list[str]:
    """Where two feature tables disagree: schema, row keys, then each column (doubles to 1e-9)."""
    if expected.schema != found.schema:
        return [f"schema: {expected.schema} != {found.schema}"]
    if expected.num_rows != found.num_rows:
        return [f"rows: {expected.num_rows} != {found.num_rows}"]
    out = []
    for name in expected.schema.names:
        a, b = expected[name].to_pylist(), found[name].to_pylist()
        if pa.types.is_floating(expected.schema.field(name).type):
            bad = [
                i
                for i, (x, y) in enumerate(zip(a, b, strict=True))
                if (x is None) != (y is None)
                or (x is not None and not math.isclose(x, y, rel_tol=TOLERANCE, abs_tol=TOLERANCE))
            ]
        else:
            bad = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
        if bad:
            out.append(f"{name}: {len(bad)} rows, first {a[bad[0]]!r} != {b[bad[0]]!r}")
    return out


def assert_same_build(duckdb_table: pa.Table, spark_table: pa.Table, meta: dict[str, Any]) -> None:
    """Identical tables and the same _features.json apart from when each was written."""
    assert differences(duckdb_table, spark_table) == []
    for found in meta.values():
        found.pop("created_at")
    assert meta["duckdb"] == meta["spark"]


@contextlib.contextmanager
def every_shuffle_partition(spark: Any) -> Iterator[None]:
    """Adaptive execution off: small data still goes through all shuffle partitions, so the
    executors write a date in several files, as they do at scale."""
    spark.conf.set("spark.sql.adaptive.enabled", "false")
    try:
        yield
    finally:
        spark.conf.unset("spark.sql.adaptive.enabled")
