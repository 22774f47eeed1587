"""Run a function in a fresh process and report its wall time, CPU time, peak RSS and load."""

from __future__ import annotations

import multiprocessing as mp
import os
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class Measured:
    """Wall time, CPU time, peak resident memory, machine load and what the function returned."""

    seconds: float
    peak_rss_mb: float
    result: Any
    # CPU-seconds of the process, every thread (DuckDB's, Arrow's) included: on a shared
    # machine wall time depends on the neighbours, CPU time much less.
    cpu_seconds: float = 0.0
    load: float = 0.0  # the 1-minute load average when the function returned


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _child(fn: Callable[..., Any], args: tuple[Any, ...], queue: Any) -> None:
    started, cpu = time.perf_counter(), _cpu_seconds()
    result = fn(*args)
    seconds, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
    peak = peak_rss_mb()
    queue.put((seconds, peak, result, cpu, os.getloadavg()[0]))


def peak_rss_mb(pid: int | str = "self") -> float:
    """A process's own peak RSS (this one's by default): VmHWM, since ru_maxrss carries the
    parent's over fork+exec."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def in_fresh_process(fn: Callable[..., Any], *args: Any) -> Measured:
    """Call fn(*args) in a spawned process, so its peak memory is its own."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(fn, args, queue))
    proc.start()
    seconds, peak, result, cpu, load = queue.get()
    proc.join()
    if proc.exitcode != 0:
        raise RuntimeError(f"{fn.__name__} failed in its process (exit {proc.exitcode})")
    return Measured(seconds, peak, result, cpu, load)
