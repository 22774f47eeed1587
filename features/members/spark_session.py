"""A SparkSession for steward, and a one-line reason when pyspark or Java is missing.

Nothing here imports pyspark until a session is asked for, so `steward --help` and the default
engines never need it.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


class SparkUnavailable(RuntimeError):
    """pyspark or Java is missing: a Spark build or scoring cannot run here."""


def spark_problem() -> str | None:
    """Why Spark cannot run here, in one line, or None when pyspark and Java are both present."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed: pip install 'steward[spark]' (pyspark, pandas<3)"
    java_home = os.environ.get("JAVA_HOME")
    java = Path(java_home) / "bin" / "java" if java_home else shutil.which("java")
    if java is None or not Path(java).exists():
        return (
            "Java is not installed (Spark needs Java 17 or later): install a JDK or set JAVA_HOME"
        )
    return None


def require_spark() -> None:
    """Raise SparkUnavailable (one line) unless pyspark and Java are present."""
    problem = spark_problem()
    if problem is not None:
        raise SparkUnavailable(problem)


def spark_session(master: str | None = None, app_name: str = "steward") -> SparkSession:
    """A SparkSession on master, else SPARK_MASTER, else spark-submit's, else local[cores]."""
    require_spark()
    from pyspark.sql import SparkSession

    chosen = master or os.environ.get("SPARK_MASTER")
    if chosen is None and "PYSPARK_GATEWAY_PORT" not in os.environ:
        # Not started by spark-submit (whose --master or spark-defaults.conf chose already).
        chosen = f"local[{os.cpu_count() or 1}]"
    # Python workers (spark_udf) must run this interpreter, where steward and its model live.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    builder = (
        SparkSession.builder.appName(app_name)
        # A DATE of a timestamp is its UTC day, as on DuckDB (DESIGN.md: days are UTC days).
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.showConsoleProgress", "false")
    )
    if chosen is not None:
        builder = builder.master(chosen)
    if chosen is not None and chosen.startswith("local"):
        # The driver's own address: a laptop's hostname may not resolve, or point elsewhere.
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        given = re.match(r"local\[(\d+)", chosen)  # local, local[*], local[4], local[4,2]
        cores = int(given.group(1)) if given else os.cpu_count() or 1
        # 200 shuffle partitions (the cluster default) is mostly task overhead on a few cores.
        builder = builder.config("spark.sql.shuffle.partitions", str(2 * cores))
        builder = builder.config("spark.ui.enabled", "false")
        builder = builder.config("spark.driver.memory", os.environ.get("SPARK_DRIVER_MEMORY", "4g"))
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel(os.environ.get("STEWARD_SPARK_LOG_LEVEL", "ERROR"))
    return session
