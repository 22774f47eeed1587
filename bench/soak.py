"""Soak: `steward serve` on loopback for a bounded time at a fixed rate; errors, p99, memory.

The server runs in its own process (1 uvicorn worker, API key on, toxicity and churn) over its
own STEWARD_HOME under --home (default /tmp/steward-bench-soak), prepared there once: the linear
toxicity model as bench/serving.py trains it, and a LightGBM churn champion with its at-risk
table from a simulated community (3,000 members x 150 days): about a minute in all. `--data simulator`
(the default: the corpora's preparation takes minutes and a soak is about the server, not the
model) scores the simulator's English posts; `--data real` the corpora's held-out test splits.

The load (bench/soak_load.py) is open-loop: request i is due at start + i / rate whatever the
answers, and its latency runs from that due time, so a stall shows as latency instead of hiding
as requests not sent (coordinated omission). At most --connections requests are in flight
(keep-alive, one at a time per connection); one that finds them all busy waits, and how late it
went out is reported as lag. The mix (MIX) is mostly single posts, with 32-post batches,
Perspective's comments:analyze, member lookups, at-risk pages, on-demand member scores, and a
few requests that must fail cleanly (401, 404, 422): those count as expected, not as errors.
The default 100 req/s is about half of what the server sustains with this mix on 2 cores: it
spent 4-6 ms of CPU per request (40-65% of a core at 100 req/s; single posts alone take
about 1.5 ms), and at 200 req/s it fell seconds behind. A soak measures leaks, not capacity.

Per window: requests, unexpected errors (wrong status, transport errors, timeouts), p50/p99/max
latency, lag, server CPU, and the server's RSS, open files and threads sampled every second.
Exits non-zero on any unexpected error, or when memory, files or threads grew after the first
window (the warm-up) by more than the thresholds below.

Run: python -m bench.soak [--duration 300] [--rate 100] [--window 30] [--data simulator|real]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.serving import _corpora_present, _free_port, _wait_ready, english_posts
from bench.serving import prepare as prepare_toxicity
from bench.soak_load import HOST, TIMEOUT, TRANSPORT, Outcome, Sample, drive

ROOT = Path(__file__).resolve().parents[1]
KEY = "stw_bench-soak-key-0123456789"
WRONG_KEY = "stw_bench-soak-not-a-key-000000"
SIM_MEMBERS, SIM_DAYS, SIM_SEED = 3_000, 150, 7
# Flat memory: growth after the warm-up window under 10 MB or 2% of the RSS, whichever is
# larger. A leak of 400 bytes per request (a few small objects) is 11 MB over the 4.5 minutes
# after warm-up at 100 req/s. The steady server grew under 1 MB in the 10-20 s after warm-up of
# short runs; the margin is for the allocator's drift (arenas, caches filling), not a leak.
MAX_GROWTH_MB, MAX_GROWTH_SHARE = 10.0, 0.02
# Kept up with the schedule: 99% of requests went out within 100 ms of their due time.
MAX_LAG_P99_MS = 100.0
# Files and threads are judged by each window's minimum: pooled ones (anyio's worker threads,
# which idle out after 10 s; reconnected sockets) come and go, leaked ones raise the floor.
MAX_FDS_GROWTH, MAX_THREADS_GROWTH = 8, 8


@dataclass(frozen=True)
class Route:
    """One kind of request in the mix: its share and the status a correct server answers."""

    name: str
    weight: int
    expect: int


MIX = (
    Route("post", 60, 200),
    Route("posts_32", 6, 200),
    Route("analyze", 8, 200),
    Route("member_churn", 10, 200),
    Route("at_risk_50", 4, 200),
    Route("member_score", 6, 200),
    Route("wrong_key", 2, 401),
    Route("unknown_member", 2, 404),
    Route("text_too_long", 2, 422),
)


@dataclass
class Window:
    """The figures of one window of due times."""

    start_s: float
    end_s: float
    requests: int
    expected_errors: int
    unexpected_errors: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    max_lag_ms: float
    server_cpu_pct: float
    rss_mb: float
    fds_min: int
    fds_max: int
    threads_min: int
    threads_max: int
    load: float
    unexpected: dict[str, int] = field(default_factory=dict)


def prepare_churn(home: Path) -> None:
    """A churn champion and its at-risk table in home, from a simulated community (once)."""
    from features.lake.store import Lake
    from features.members.build import build_member_features
    from features.scores.at_risk import at_risk_path
    from models.churn.config import ChurnConfig, LgbmParams
    from models.registry import champion_version
    from models.tracking import quiet_mlflow
    from pipelines.churn.score import score_members
    from pipelines.churn.train import train_churn
    from pipelines.steps import features_dir, simulate_and_ingest

    os.environ["STEWARD_HOME"] = str(home)
    quiet_mlflow()
    if champion_version("steward-churn") is None:
        print(f"training a churn model in {home} (once) ...", flush=True)
        simulate_and_ingest(SIM_MEMBERS, SIM_DAYS, SIM_SEED)
        build_member_features(Lake.default(), features_dir(), every_days=14)
        # One thread: two OpenMP threads collapse when the other core is busy (same model).
        train_churn(ChurnConfig(name="bench-soak-lgbm", model=LgbmParams(num_threads=1)))
    if not at_risk_path().is_file():
        score_members()


def scored_members(n: int) -> tuple[list[str], list[dict[str, float | None]]]:
    """n ids from the at-risk table at most, and each member's feature row at that date."""
    import pyarrow.parquet as pq

    from features.members.definition import FEATURE_COLUMNS
    from features.members.store import read_features
    from features.scores.at_risk import at_risk_path
    from pipelines.steps import features_dir

    table = pq.read_table(at_risk_path(), columns=["member_id", "as_of"]).to_pandas()
    frame = read_features(features_dir(), [table["as_of"].iloc[0]]).to_pandas()
    rng = np.random.default_rng(0)
    ids = table["member_id"].astype(str).tolist()
    ids = [ids[i] for i in rng.choice(len(ids), size=min(n, len(ids)), replace=False)]
    frame["member_id"] = frame["member_id"].astype(str)
    rows = frame.set_index("member_id").reindex(ids)[FEATURE_COLUMNS].astype(float)
    features = [
        {c: None if np.isnan(v) else float(v) for c, v in r.items()} for _, r in rows.iterrows()
    ]
    return ids, features


def http(method: str, path: str, body: Any = None, key: str | None = KEY) -> bytes:
    """One pre-encoded keep-alive HTTP/1.1 request."""
    data = b"" if body is None else json.dumps(body).encode()
    head = f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\n"
    if key is not None:
        head += f"Authorization: Bearer {key}\r\n"
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
    return (head + "\r\n").encode() + data


def build_payloads(
    texts: list[str], ids: list[str], features: list[dict[str, float | None]]
) -> list[list[bytes]]:
    """For each route of MIX, a pool of distinct realistic requests (index-aligned with MIX)."""
    from serving.settings import ServeSettings

    too_long = "x" * (int(ServeSettings.model_fields["max_text_chars"].default) + 1)
    n = len(texts)

    def posts(start: int, k: int) -> dict[str, Any]:
        return {
            "posts": [{"id": f"p{start + j}", "text": texts[(start + j) % n]} for j in range(k)]
        }

    def analyze(t: str) -> dict[str, Any]:
        attributes: dict[str, Any] = {"TOXICITY": {}, "INSULT": {}}
        return {"comment": {"text": t}, "languages": ["en"], "requestedAttributes": attributes}

    pools = {
        "post": [http("POST", "/v1/posts:score", posts(i, 1)) for i in range(n)],
        "posts_32": [http("POST", "/v1/posts:score", posts(i * 32, 32)) for i in range(100)],
        # As Perspective clients send it: the key in ?key=.
        "analyze": [
            http("POST", f"/v1alpha1/comments:analyze?key={KEY}", analyze(t), None) for t in texts
        ],
        "member_churn": [http("GET", f"/v1/members/{m}/churn") for m in ids],
        "at_risk_50": [
            http("GET", f"/v1/members/at-risk?limit=50&offset={o}") for o in (0, 50, 100)
        ],
        "member_score": [
            http("POST", "/v1/members:score", {"member_id": m, "features": f})
            for m, f in zip(ids, features, strict=False)
        ],
        "wrong_key": [http("POST", "/v1/posts:score", posts(0, 1), WRONG_KEY)],
        "unknown_member": [http("GET", f"/v1/members/no-such-member-{i}/churn") for i in range(50)],
        "text_too_long": [
            http("POST", "/v1/posts:score", {"posts": [{"id": "x", "text": too_long}]})
        ],
    }
    return [pools[r.name] for r in MIX]


def plan(count: int, seed: int = 0) -> np.ndarray:
    """Route indices for `count` requests: MIX's shares exactly per 100, in a seeded order."""
    block = np.repeat(np.arange(len(MIX)), [r.weight for r in MIX])
    rng = np.random.default_rng(seed)
    blocks = -(-count // len(block))
    return np.concatenate([rng.permutation(block) for _ in range(blocks)])[:count]


def summarise_window(
    outcomes: list[Outcome], start: float, end: float, server: list[Sample]
) -> Window:
    """One window's figures: its requests by due time; the server's samples from its start
    (server[0]) to its end (server[-1])."""
    before, last, inside = server[0], server[-1], server[1:] or server
    mine = [o for o in outcomes if start <= o.due < end]
    wrong = [o for o in mine if o.status != MIX[o.route].expect]
    unexpected: dict[str, int] = {}
    for o in wrong:
        what = {TRANSPORT: "transport", TIMEOUT: "timeout"}.get(o.status, str(o.status))
        key = f"{MIX[o.route].name}:{what}"
        unexpected[key] = unexpected.get(key, 0) + 1
    ms = np.array([o.latency for o in mine] or [0.0]) * 1000
    return Window(
        start_s=round(start, 1),
        end_s=round(end, 1),
        requests=len(mine),
        expected_errors=sum(1 for o in mine if MIX[o.route].expect == o.status != 200),
        unexpected_errors=len(wrong),
        p50_ms=round(float(np.percentile(ms, 50)), 2),
        p99_ms=round(float(np.percentile(ms, 99)), 2),
        max_ms=round(float(ms.max()), 2),
        max_lag_ms=round(max((o.lag for o in mine), default=0.0) * 1000, 2),
        server_cpu_pct=round(100 * (last.cpu_s - before.cpu_s) / max(last.t - before.t, 1e-9), 1),
        rss_mb=round(last.rss_mb, 1),
        fds_min=min(x.fds for x in inside),
        fds_max=max(x.fds for x in inside),
        threads_min=min(x.threads for x in inside),
        threads_max=max(x.threads for x in inside),
        load=round(last.load, 2),
        unexpected=unexpected,
    )


def window_samples(samples: list[Sample], edges: list[float]) -> list[list[Sample]]:
    """Per window, the samples from the one at its start to the one at its end; the last
    window ends with the sample taken after the last answer."""
    at = [max(i for i, x in enumerate(samples) if x.t <= b + 0.5) for b in edges[:-1]]
    at.append(len(samples) - 1)
    return [samples[i : j + 1] for i, j in itertools.pairwise(at)]


def route_figures(outcomes: list[Outcome]) -> dict[str, dict[str, float]]:
    """Per route over the whole run: requests, unexpected answers, p50 and p99 latency."""
    figures = {}
    for i, route in enumerate(MIX):
        mine = [o for o in outcomes if o.route == i]
        ms = np.array([o.latency for o in mine] or [0.0]) * 1000
        figures[route.name] = {
            "requests": len(mine),
            "unexpected": sum(1 for o in mine if o.status != route.expect),
            "p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p99_ms": round(float(np.percentile(ms, 99)), 2),
        }
    return figures


def rss_slope(samples: list[Sample], after: float) -> float:
    """MB per minute of a straight line through the RSS samples taken after `after` s."""
    kept = [x for x in samples if x.t >= after]
    if len(kept) < 3:
        return 0.0
    return float(np.polyfit([x.t for x in kept], [x.rss_mb for x in kept], 1)[0]) * 60


def summarise(
    outcomes: list[Outcome], samples: list[Sample], args: argparse.Namespace
) -> tuple[list[Window], dict[str, Any]]:
    """Windows, and the summary comparing the first with the last (the server's own baseline)."""
    edges = np.arange(0.0, args.duration + 1e-9, args.window).tolist()
    if edges[-1] < args.duration:
        edges.append(float(args.duration))
    windows = [
        summarise_window(outcomes, a, b, server)
        for (a, b), server in zip(
            itertools.pairwise(edges), window_samples(samples, edges), strict=True
        )
    ]
    first, last = windows[0], windows[-1]
    growth = last.rss_mb - first.rss_mb
    allowed = max(MAX_GROWTH_MB, MAX_GROWTH_SHARE * first.rss_mb)
    lags = np.array([o.lag for o in outcomes]) * 1000
    summary = {
        "requests": len(outcomes),
        "expected_errors": sum(w.expected_errors for w in windows),
        "unexpected_errors": sum(w.unexpected_errors for w in windows),
        "p99_ms_first": first.p99_ms,
        "p99_ms_last": last.p99_ms,
        "rss_mb_first_window_end": first.rss_mb,
        "rss_mb_end": last.rss_mb,
        "rss_growth_mb": round(growth, 1),
        "rss_growth_allowed_mb": round(allowed, 1),
        "rss_slope_mb_per_min": round(rss_slope(samples, first.end_s), 2),
        "fds_min_first": first.fds_min,
        "fds_min_last": last.fds_min,
        "threads_min_first": first.threads_min,
        "threads_min_last": last.threads_min,
        "lag_p99_ms": round(float(np.percentile(lags, 99)), 2),
        "lag_max_ms": round(float(lags.max()), 2),
        "late_over_10ms": int((lags > 10).sum()),
        "kept_up": float(np.percentile(lags, 99)) < MAX_LAG_P99_MS,
        "memory_flat": growth < allowed,
        "fds_threads_flat": last.fds_min - first.fds_min <= MAX_FDS_GROWTH
        and last.threads_min - first.threads_min <= MAX_THREADS_GROWTH,
        "routes": route_figures(outcomes),
    }
    return windows, summary


def print_report(windows: list[Window], summary: dict[str, Any], notes: dict[str, Any]) -> None:
    """The windows as a markdown table, then the summary and the verdict."""
    print(
        f"\nsoak of steward serve: {notes['rate']} req/s for {notes['duration']} s, "
        f"{notes['connections']} connections, {notes['data']} data, "
        f"load average {notes['load_average_at_start'][0]:.2f} at the start\n"
    )
    columns = (
        "window s | requests | expected errors | unexpected | p50 ms | p99 ms | max ms | "
        "max lag ms | server CPU % | RSS MB | fds | threads | load"
    )
    print(f"| {columns} |")
    print("|" + "---:|" * len(columns.split("|")))
    for w in windows:
        cells = (
            f"{w.start_s:.0f}-{w.end_s:.0f}", f"{w.requests:,}", w.expected_errors,
            w.unexpected_errors, w.p50_ms, w.p99_ms, w.max_ms, w.max_lag_ms, w.server_cpu_pct,
            w.rss_mb, f"{w.fds_min}-{w.fds_max}", f"{w.threads_min}-{w.threads_max}", w.load,
        )  # fmt: skip
        print("| " + " | ".join(str(c) for c in cells) + " |")
    s = summary
    print(
        f"\n{s['requests']:,} requests, {s['unexpected_errors']} unexpected errors "
        f"({s['expected_errors']} expected 401/404/422); p99 {s['p99_ms_first']} ms in the first "
        f"window, {s['p99_ms_last']} ms in the last; behind schedule: p99 {s['lag_p99_ms']} ms, "
        f"max {s['lag_max_ms']} ms, {s['late_over_10ms']} requests sent over 10 ms late"
    )
    print(
        f"RSS {s['rss_mb_first_window_end']} MB at the end of the first window, "
        f"{s['rss_mb_end']} MB at the end ({s['rss_growth_mb']:+} MB, slope "
        f"{s['rss_slope_mb_per_min']:+} MB/min after the first window); fewest fds "
        f"{s['fds_min_first']} in the first window, {s['fds_min_last']} in the last; fewest "
        f"threads {s['threads_min_first']}, {s['threads_min_last']}"
    )
    for w in windows:
        if w.unexpected:
            print(f"  unexpected in {w.start_s:.0f}-{w.end_s:.0f} s: {w.unexpected}")
    memory = "flat" if s["memory_flat"] else "NOT flat"
    print(
        f"verdict: memory {memory} (growth after the first window {s['rss_growth_mb']:+} MB, "
        f"allowed {s['rss_growth_allowed_mb']} MB); files and threads "
        f"{'flat' if s['fds_threads_flat'] else 'GROWING'}; "
        f"{'no' if not s['unexpected_errors'] else s['unexpected_errors']} unexpected errors; "
        + ("kept up with the schedule" if s["kept_up"] else "FELL BEHIND the schedule")
    )


def error_lines(log: Path) -> int:
    """Lines of the server's log that report an error (a 500 also shows as a wrong status)."""
    text = log.read_text(errors="replace").splitlines()
    return sum(1 for line in text if line.startswith("ERROR") or line.startswith("Traceback"))


def start_server(home: Path, port: int) -> subprocess.Popen[bytes]:
    """`steward serve` for this home: 1 worker, both components, one key for posts and members."""
    from serving.settings import hash_key

    key = {"name": "soak", "sha256": hash_key(KEY), "scopes": ["posts:score", "members:read"]}
    env = {
        **os.environ,
        "STEWARD_HOME": str(home),
        "STEWARD_SERVE_PORT": str(port),
        "STEWARD_SERVE_WORKERS": "1",
        "STEWARD_SERVE_COMPONENTS": '["toxicity", "churn"]',
        "STEWARD_SERVE_API_KEYS": json.dumps([key]),
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    steward = Path(sys.executable).parent / "steward"
    # The access log (stdout) is dropped; errors and tracebacks (stderr) are kept for a look.
    with open(home / "soak-server.log", "wb") as log:
        proc = subprocess.Popen(
            [str(steward), "serve"], env=env, stdout=subprocess.DEVNULL, stderr=log
        )
    _wait_ready(f"http://{HOST}:{port}/readyz", proc)
    return proc


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of load")
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second")
    parser.add_argument("--window", type=float, default=30.0, help="seconds per table row")
    parser.add_argument("--connections", type=int, default=32, help="requests in flight at most")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds from due to give up")
    parser.add_argument("--data", choices=["simulator", "real"], default="simulator")
    parser.add_argument("--home", type=Path, default=Path("/tmp/steward-bench-soak"))
    parser.add_argument("--out", type=Path, default=ROOT / ".steward" / "bench" / "soak.json")
    return parser.parse_args()


def main() -> None:
    """Prepare the home, soak the server, print and save the figures, fail on errors or growth."""
    args = parse_args()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    if args.data == "real" and not _corpora_present():
        sys.exit("--data real: the public corpora are not in ../shared/data; use --data simulator")
    home = args.home / args.data
    prepare_toxicity(home, "linear", args.data)
    prepare_churn(home)
    ids, features = scored_members(500)
    payloads = build_payloads(english_posts(2_000, args.data), ids, features)
    notes: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
        "data": args.data,
        **{k: getattr(args, k) for k in ("rate", "duration", "window", "connections", "timeout")},
        "mix": {r.name: r.weight for r in MIX},
    }
    proc = start_server(home, port := _free_port())
    try:
        cpu = time.process_time()
        routes = plan(int(args.duration * args.rate))
        run = asyncio.run(
            drive(proc.pid, port, payloads, routes, args.rate, args.connections, args.timeout)
        )
        notes["client_cpu_s"] = round(time.process_time() - cpu, 1)
        notes["reconnects"] = run.reconnects
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    notes["load_average_at_end"] = os.getloadavg()
    notes["server_log_error_lines"] = error_lines(home / "soak-server.log")
    windows, summary = summarise(run.outcomes, run.samples, args)
    print_report(windows, summary, notes)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    figures = {"notes": notes, "summary": summary, "windows": [asdict(w) for w in windows]}
    args.out.write_text(json.dumps(figures, indent=2))
    print(
        f"wrote {args.out}; server log in {home / 'soak-server.log'} "
        f"({notes['server_log_error_lines']} ERROR or Traceback lines)"
    )
    failures = [
        f"{summary['unexpected_errors']} unexpected errors" if summary["unexpected_errors"] else "",
        "" if summary["memory_flat"] else "memory grew",
        "" if summary["fds_threads_flat"] else "files or threads grew",
    ]
    if any(failures):
        sys.exit("soak failed: " + ", ".join(f for f in failures if f))


if __name__ == "__main__":
    main()
