"""A Spark standalone cluster on this machine: a master and a worker, each its own JVM.

The driver reaches them at spark://127.0.0.1:PORT, as it would a cluster's master; the worker
starts executors in processes of their own, which start their own Python workers, and tasks,
shuffles and results go over sockets. Only the host is shared. Used by the cluster test and by
`python -m bench.scale --engines spark-cluster`; pyspark's own jars are the cluster, so nothing
is downloaded.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def standalone_cluster(
    work: Path, cores: int = 2, memory: str = "3g", timeout: float = 90
) -> Iterator[str]:
    """Start a master and one worker with `cores` and `memory`; yields the master URL."""
    import pyspark

    home = Path(pyspark.__file__).parent
    spark_class = str(home / "bin" / "spark-class")
    env = {
        **os.environ,
        "SPARK_HOME": str(home),
        "SPARK_LOCAL_IP": "127.0.0.1",
        # Executors' Python workers run this interpreter, where steward is installed.
        "PYSPARK_PYTHON": sys.executable,
    }
    port, ui = free_port(), free_port()
    url = f"spark://127.0.0.1:{port}"
    work.mkdir(parents=True, exist_ok=True)
    deploy = "org.apache.spark.deploy"
    commands = {
        "master": [
            *(spark_class, f"{deploy}.master.Master", "--host", "127.0.0.1"),
            *("--port", str(port), "--webui-port", str(ui)),
        ],
        "worker": [
            *(spark_class, f"{deploy}.worker.Worker", url, "--host", "127.0.0.1"),
            *("--cores", str(cores), "--memory", memory),
            *("--webui-port", str(free_port()), "--work-dir", str(work / "executors")),
        ],
    }
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for name, command in commands.items():
            log = (work / f"{name}.log").open("wb")
            processes.append(
                subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
            )
        _wait_for_worker(ui, processes, work, timeout)
        yield url
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def _wait_for_worker(
    ui: int, processes: list[subprocess.Popen[bytes]], work: Path, timeout: float
) -> None:
    """Return once the master lists a live worker; raise with the logs' place if none comes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in processes):
            break
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{ui}/json/", timeout=2) as answer:
                if json.load(answer).get("aliveworkers", 0) >= 1:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the standalone cluster did not start; see {work}/master.log, worker.log")
