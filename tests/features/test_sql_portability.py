"""The feature SQL stays portable to Apache Spark SQL (DESIGN.md: the path to scale)."""

from __future__ import annotations

import re
from datetime import date

import pytest
import sqlglot
from sqlglot.errors import ParseError

from features.members.definition import FeatureConfig
from features.members.sql import feature_sql

# DuckDB-only syntax that MEASURED.md found breaks (or silently changes meaning) on Spark.
NOT_PORTABLE = {
    "QUALIFY": r"\bQUALIFY\b",
    ":: casts": r"::",
    "date_diff/datediff": r"\bdate_?diff\s*\(",
    "integer division //": r"//",
    "ASOF JOIN": r"\bASOF\b",
}


@pytest.fixture(scope="module")
def sql() -> str:
    # With members' ages: the birth day's JSON read and cast are in the text too.
    config = FeatureConfig(horizon_days=21, lookback_days=14, member_age=True)
    text = feature_sql(config, date(2026, 6, 1))
    assert "get_json_object(attributes" in text
    return text


def test_every_statement_parses_as_spark_sql(sql: str) -> None:
    statements = [s for s in sqlglot.parse(sql, read="spark") if s is not None]
    assert len(statements) >= 3
    # A statement sqlglot cannot read as Spark raises instead of parsing.
    with pytest.raises(ParseError):
        sqlglot.parse(
            "SELECT a FROM t QUALIFY ROW_NUMBER() OVER (ORDER BY a) = 1 ORDER BY", read="spark"
        )


@pytest.mark.parametrize("name", sorted(NOT_PORTABLE))
def test_no_duckdb_only_syntax(sql: str, name: str) -> None:
    code = "\n".join(
        line.split("--", 1)[0] for line in sql.splitlines()
    )  # comments may say anything
    assert not re.search(NOT_PORTABLE[name], code, flags=re.IGNORECASE), name
