"""Serving benchmark: `steward serve` on loopback under a bounded load, per toxicity model.

For each model (linear; MiniLM when trained) the server runs in its own process (1 uvicorn
worker, API key on, toxicity only) and a light keep-alive HTTP/1.1 client in this process
sends single-post requests at concurrency 1, 8 and 32, then 256-post requests (batched
throughput). Every scenario is a fixed number of requests; any non-200 answer is an error.

Models live in their own STEWARD_HOME under --home (default /tmp/steward-bench-serving),
trained there once when absent. With `--data real` (the default when ../shared/data holds the
public corpora) they are what steward ships: experiments/toxicity_linear.yaml and
experiments/toxicity_minilm.yaml on the corpora (MiniLM about 6 minutes on a quiet machine),
scored on English posts of the held-out test splits. With `--data simulator`: the simulator's
posts, a reduced MiniLM (3,000 English examples, one epoch, static ONNX int8).

Run: python -m bench.serving [--data real|simulator] [--skip-minilm] [--out FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
KEY = "stw_bench-serving-key-0123456789"
CONCURRENCY = (1, 8, 32)


@dataclass
class Result:
    """One scenario: what was sent and how fast it came back."""

    model: str
    scenario: str
    concurrency: int
    requests: int
    posts_per_request: int
    errors: int
    seconds: float
    requests_per_s: float
    posts_per_s: float
    p50_ms: float
    p99_ms: float


def _data_config() -> Any:
    """The simulator's posts (the public corpora are optional on this machine)."""
    from models.toxicity.config import DataConfig

    return DataConfig(
        sources=["simulator", "seed"], eval_only=[], max_rows_per_source=6_000, min_positives=10
    )


def prepare(home: Path, model: str, data: str) -> None:
    """Train and register the model in its own home unless a champion is already there."""
    from models.registry import champion_version
    from models.toxicity.config import ToxicityConfig, TransformerConfig, load_config
    from models.tracking import configure_tracking
    from pipelines.toxicity.train import train_from_config

    os.environ["STEWARD_HOME"] = str(home)
    configure_tracking()
    if champion_version("steward-toxicity") is not None:
        return

    def log(message: str) -> None:
        print(f"  {message}", flush=True)

    if data == "real":
        print(f"training the shipped {model} model on the corpora in {home} (once) ...", flush=True)
        train_from_config(load_config(ROOT / "experiments" / f"toxicity_{model}.yaml"), log=log)
        return
    transformer = TransformerConfig(
        max_train_examples=3_000,
        max_valid_examples=600,
        epochs=1.0,
        threads=1,
        serving_threads=1,
        backend="onnx_int8_static",
        english_route="transformer",
    )
    config = ToxicityConfig(
        name=f"bench-serving-{model}",
        model=model,  # type: ignore[arg-type]
        data=_data_config(),
        transformer=transformer,
    )
    print(f"training the {model} model in {home} (once) ...", flush=True)
    train_from_config(config, log=log)


def english_posts(n: int, data: str) -> list[str]:
    """English posts (the transformer's language), toxic and clean: the corpora's held-out
    test splits, or the simulator's posts."""
    from features.text.corpora import load_simulated

    if data == "real":
        from models.toxicity.config import load_config
        from pipelines.toxicity.train import load_training_frame

        config = load_config(ROOT / "experiments" / "toxicity_linear.yaml")
        frame = load_training_frame(config.data)
        frame = frame[frame["split"] == "test"]
    else:
        frame = load_simulated(members=1_500, days=60, seed=23)
    texts = frame[frame["lang"] == "en"]["text"].drop_duplicates().tolist()
    rng = np.random.default_rng(0)
    return [texts[i] for i in rng.choice(len(texts), size=min(n, len(texts)), replace=False)]


def request_bytes(host: str, port: int, texts: list[str], spans: str) -> bytes:
    """One pre-encoded POST /v1/posts:score (keep-alive)."""
    posts = [{"id": str(i), "text": t} for i, t in enumerate(texts)]
    body = json.dumps({"posts": posts, "spans": spans}).encode()
    head = (
        f"POST /v1/posts:score HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Authorization: Bearer {KEY}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _connect(host: str, port: int, n: int) -> list[tuple[Any, Any]]:
    """n keep-alive connections, opened before the clock starts."""
    return [await asyncio.open_connection(host, port) for _ in range(n)]


async def _worker(
    connection: tuple[Any, Any], queue: list[bytes], latencies: list[float], errors: list[int]
) -> None:
    """Send requests from the shared queue over one connection until the queue is empty."""
    reader, writer = connection
    try:
        while queue:
            payload = queue.pop()
            started = time.perf_counter()
            writer.write(payload)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if status != 200:
                errors.append(status)
    finally:
        writer.close()


async def _load(
    host: str, port: int, payloads: list[bytes], concurrency: int
) -> tuple[list[float], list[int], float]:
    """Send every payload over `concurrency` connections; latencies, errors, wall seconds."""
    connections = await _connect(host, port, concurrency)
    queue = list(reversed(payloads))
    latencies: list[float] = []
    errors: list[int] = []
    started = time.perf_counter()
    await asyncio.gather(*(_worker(c, queue, latencies, errors) for c in connections))
    return latencies, errors, time.perf_counter() - started


def run_scenario(
    host: str,
    port: int,
    model: str,
    scenario: str,
    payloads: list[bytes],
    concurrency: int,
    posts: int,
) -> Result:
    """Warm up, then time the payloads at this concurrency."""
    asyncio.run(_load(host, port, payloads[: max(concurrency * 2, 10)], concurrency))
    latencies, errors, seconds = asyncio.run(_load(host, port, payloads, concurrency))
    ms = np.array(latencies) * 1000
    return Result(
        model=model,
        scenario=scenario,
        concurrency=concurrency,
        requests=len(payloads),
        posts_per_request=posts,
        errors=len(errors),
        seconds=round(seconds, 3),
        requests_per_s=round(len(payloads) / seconds, 1),
        posts_per_s=round(len(payloads) * posts / seconds, 1),
        p50_ms=round(float(np.percentile(ms, 50)), 2),
        p99_ms=round(float(np.percentile(ms, 99)), 2),
    )


def _free_port() -> int:
    """A loopback port nobody listens on now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(home: Path, port: int, wait_ms: float) -> subprocess.Popen[bytes]:
    """`steward serve` for this home with one bench key, toxicity only."""
    from serving.settings import hash_key

    key = {"name": "bench", "sha256": hash_key(KEY), "scopes": ["posts:score"]}
    env = {
        **os.environ,
        "STEWARD_HOME": str(home),
        "STEWARD_SERVE_PORT": str(port),
        "STEWARD_SERVE_COMPONENTS": '["toxicity"]',
        "STEWARD_SERVE_API_KEYS": json.dumps([key]),
        "STEWARD_SERVE_BATCH_MAX_WAIT_MS": str(wait_ms),
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    steward = Path(sys.executable).parent / "steward"
    proc = subprocess.Popen(
        [str(steward), "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _wait_ready(f"http://127.0.0.1:{port}/readyz", proc)
    return proc


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 180) -> None:
    """Poll /readyz until it answers 200."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} not ready after {timeout} s")


def bench_model(home: Path, model: str, texts: list[str], args: argparse.Namespace) -> list[Result]:
    """Every scenario against one model's server."""
    host, port = "127.0.0.1", _free_port()
    proc = start_server(home, port, args.wait_ms)
    results = []
    try:
        singles = args.singles if model == "linear" else args.singles // 2
        one = [request_bytes(host, port, [texts[i % len(texts)]], "none") for i in range(singles)]
        for c in CONCURRENCY:
            results.append(run_scenario(host, port, model, "single post", one, c, 1))
        flagged = [
            request_bytes(host, port, [texts[i % len(texts)]], "flagged") for i in range(singles)
        ]
        results.append(
            run_scenario(host, port, model, "single post, spans of flagged", flagged, 8, 1)
        )
        size = 256
        batches = [
            request_bytes(
                host, port, [texts[(i * size + j) % len(texts)] for j in range(size)], "none"
            )
            for i in range(args.batches)
        ]
        for c in (1, 4):
            results.append(
                run_scenario(host, port, model, "256 posts per request", batches, c, size)
            )
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    return results


def print_table(results: list[Result], notes: dict[str, Any]) -> None:
    """The figures as a table."""
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"steward serve on loopback, models trained on {notes['data']} data "
        f"(load average {notes['load_average']})"
    )
    for name in (
        "model",
        "scenario",
        "conc.",
        "requests",
        "errors",
        "req/s",
        "posts/s",
        "p50 ms",
        "p99 ms",
    ):
        table.add_column(name, justify="left" if name in ("model", "scenario") else "right")
    for r in results:
        table.add_row(
            r.model,
            r.scenario,
            str(r.concurrency),
            f"{r.requests:,}",
            str(r.errors),
            f"{r.requests_per_s:,.0f}",
            f"{r.posts_per_s:,.0f}",
            f"{r.p50_ms:.2f}",
            f"{r.p99_ms:.2f}",
        )
    Console().print(table)


def _corpora_present() -> bool:
    """Whether ../shared/data holds the public corpora the shipped configs train on."""
    from features.text.corpora import real_data_available

    return real_data_available(("davidson", "stormfront", "cold"))


def main() -> None:
    """Prepare the models, benchmark each, print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=Path("/tmp/steward-bench-serving"))
    parser.add_argument("--skip-minilm", action="store_true")
    parser.add_argument(
        "--data",
        choices=["real", "simulator"],
        default=None,
        help="train on the public corpora (default when present) or on the simulator's posts",
    )
    parser.add_argument(
        "--singles", type=int, default=2_000, help="single-post requests per scenario"
    )
    parser.add_argument("--batches", type=int, default=24, help="256-post requests per scenario")
    parser.add_argument(
        "--wait-ms",
        type=float,
        default=2.0,
        help="micro-batch wait (STEWARD_SERVE_BATCH_MAX_WAIT_MS)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / ".steward" / "bench" / "serving.json")
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    models = ["linear"] if args.skip_minilm else ["linear", "minilm"]
    data = args.data or ("real" if _corpora_present() else "simulator")
    for model in models:
        prepare(args.home / data / model, model, data)
    texts = english_posts(3_000, data)
    notes: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
        "data": data,
    }
    results: list[Result] = []
    for model in models:
        results += bench_model(args.home / data / model, model, texts, args)
    notes["load_average"] = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    notes["load_average_at_end"] = os.getloadavg()
    print_table(results, notes)
    errors = sum(r.errors for r in results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"notes": notes, "results": [asdict(r) for r in results]}, indent=2)
    )
    print(f"wrote {args.out}; {errors} errors")
    if errors:
        sys.exit(f"{errors} requests failed: the benchmark requires zero errors")


if __name__ == "__main__":
    main()
