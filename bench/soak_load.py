"""The soak's open-loop client: keep-alive connections, a fixed schedule, server samples.

Request i is due at start + i / rate whatever the answers; its latency runs from that due time
and its lag is how late it went out (all connections busy, or the client's loop late), so a
stalled server shows as latency instead of as requests not sent (coordinated omission).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

HOST = "127.0.0.1"
TRANSPORT, TIMEOUT = 0, -1  # status codes for answers that never came
WARMUP_PER_ROUTE = 5  # requests of each route before the clock: first-call imports and caches


@dataclass(frozen=True)
class Outcome:
    """One request: when it was due and sent, what came back, how long from due to answer."""

    due: float
    route: int
    status: int
    latency: float
    lag: float


@dataclass
class Sample:
    """The server process (and children) at one second."""

    t: float
    rss_mb: float
    fds: int
    threads: int
    cpu_s: float
    load: float  # the machine's 1-minute load average: neighbours explain some p99 moves


class Pool:
    """Keep-alive connections; one whose answer was cut off is closed and replaced, not reused."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
            asyncio.Queue()
        )
        self.reconnects = 0

    async def open(self, n: int) -> None:
        """n connections, opened before the clock starts."""
        for _ in range(n):
            self.idle.put_nowait(await asyncio.open_connection(HOST, self.port))

    async def replace(self, writer: asyncio.StreamWriter) -> None:
        """Close a connection in an unknown state and put a fresh one in its place."""
        writer.close()
        self.reconnects += 1
        # Where the server is gone there are fewer connections, and the timeouts say so.
        with contextlib.suppress(OSError):
            self.idle.put_nowait(await asyncio.open_connection(HOST, self.port))


async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, payload: bytes
) -> tuple[int, bool]:
    """Send one request and read its answer; (status, whether the server closes the connection)."""
    writer.write(payload)
    head = await reader.readuntil(b"\r\n\r\n")
    status, length, close = int(head[9:12]), 0, False
    for line in head.lower().split(b"\r\n"):
        if line.startswith(b"content-length:"):
            length = int(line.split(b":")[1])
        elif line.startswith(b"connection:") and b"close" in line:
            close = True
        elif line.startswith(b"transfer-encoding:"):
            raise ValueError("chunked answers are not read by this client")
    await reader.readexactly(length)
    return status, close


async def one(pool: Pool, route: int, payload: bytes, due: float, timeout: float) -> Outcome:
    """One request due at `due` (loop time); times out `timeout` s after it was due."""
    loop = asyncio.get_running_loop()
    conn, sent, status, close = None, due, TIMEOUT, True
    try:
        async with asyncio.timeout_at(due + timeout):
            conn = await pool.idle.get()
            sent = loop.time()
            status, close = await exchange(*conn, payload)
    except TimeoutError:
        pass
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
        status = TRANSPORT
    ended = loop.time()
    if conn is not None and close:
        await pool.replace(conn[1])
    elif conn is not None:
        pool.idle.put_nowait(conn)
    return Outcome(due, route, status, ended - due, sent - due)


async def warm_up(pool: Pool, payloads: list[list[bytes]]) -> None:
    """A few requests of every route, one at a time, before the clock starts."""
    reader, writer = await pool.idle.get()
    for route in payloads:
        for payload in route[:WARMUP_PER_ROUTE]:
            await exchange(reader, writer, payload)
    pool.idle.put_nowait((reader, writer))


def sample(proc: Any, t: float) -> Sample:
    """RSS, open files, threads and CPU seconds of the server and its children."""
    import psutil

    procs = [proc, *proc.children(recursive=True)]
    rss = fds = threads = 0
    cpu = 0.0
    for p in procs:
        try:
            with p.oneshot():
                rss += p.memory_info().rss
                fds += p.num_fds()
                threads += p.num_threads()
                times = p.cpu_times()
                cpu += times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return Sample(t, rss / 2**20, fds, threads, cpu, os.getloadavg()[0])


async def watch(pid: int, start: float, stop: asyncio.Event, samples: list[Sample]) -> None:
    """Sample the server every second (on the second after start) until stop is set."""
    import psutil

    loop = asyncio.get_running_loop()
    proc = psutil.Process(pid)
    tick = 0
    while not stop.is_set():
        samples.append(sample(proc, loop.time() - start))
        tick += 1
        await asyncio.sleep(max(0.0, start + tick - loop.time()))
    # One more after the last answer, so the end figure covers the whole run.
    samples.append(sample(proc, loop.time() - start))


@dataclass
class Run:
    """What a soak gave: every request's outcome, the server's samples, reconnections made."""

    outcomes: list[Outcome]
    samples: list[Sample]
    reconnects: int


async def drive(
    pid: int,
    port: int,
    payloads: list[list[bytes]],
    routes: np.ndarray,
    rate: float,
    connections: int,
    timeout: float,
) -> Run:
    """Warm up, then send request i (route routes[i]) at i / rate s, watching the server."""
    pool = Pool(port)
    await pool.open(connections)
    await warm_up(pool, payloads)
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05
    stop, samples = asyncio.Event(), list[Sample]()
    watcher = asyncio.create_task(watch(pid, start, stop, samples))
    tasks = []
    for i, route in enumerate(routes.tolist()):
        due = start + i / rate
        if due > loop.time():
            await asyncio.sleep(due - loop.time())
        payload = payloads[route][i % len(payloads[route])]
        tasks.append(asyncio.create_task(one(pool, route, payload, due, timeout)))
    outcomes = await asyncio.gather(*tasks)
    stop.set()
    await watcher
    for _, writer in [pool.idle.get_nowait() for _ in range(pool.idle.qsize())]:
        writer.close()
    return Run([since(o, start) for o in outcomes], samples, pool.reconnects)


def since(o: Outcome, start: float) -> Outcome:
    """The outcome with its due time counted from the start of the schedule."""
    return Outcome(o.due - start, o.route, o.status, o.latency, o.lag)
