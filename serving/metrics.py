"""Prometheus metrics in a registry of the app's own (never the global one, so apps don't clash)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
SCORE_BUCKETS = tuple(round(0.05 * i, 2) for i in range(1, 21))
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class Metrics:
    """Requests, latency, scores per label, batch sizes and the models being served."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "steward_http_requests", "HTTP requests", ["method", "route", "status"], registry=r
        )
        self.latency = Histogram(
            "steward_http_request_seconds",
            "HTTP request latency",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.scores = Histogram(
            "steward_score",
            "Scores given, per model and label",
            ["model", "label"],
            buckets=SCORE_BUCKETS,
            registry=r,
        )
        self.actions = Counter(
            "steward_post_actions", "Actions given to posts", ["action"], registry=r
        )
        self.batch_size = Histogram(
            "steward_batch_posts", "Posts per model batch", buckets=BATCH_BUCKETS, registry=r
        )
        self.batch_seconds = Histogram(
            "steward_batch_seconds", "Model time per batch", buckets=LATENCY_BUCKETS, registry=r
        )
        self.model_info = Gauge(
            "steward_model_info",
            "1 for the model version being served",
            ["component", "name", "version"],
            registry=r,
        )
        self.reloads = Counter(
            "steward_model_reloads", "Model reloads by outcome", ["outcome"], registry=r
        )

    def observe_batch(self, posts: int, seconds: float) -> None:
        """One scored batch."""
        self.batch_size.observe(posts)
        self.batch_seconds.observe(seconds)

    def observe_scores(self, model: str, values: Iterable[tuple[str, float | None]]) -> None:
        """Scores given (None: label not scored for that post's language)."""
        for label, value in values:
            if value is not None:
                self.scores.labels(model, label).observe(value)

    def set_models(self, served: dict[str, Any]) -> None:
        """Mark exactly the served versions with 1."""
        self.model_info.clear()
        for component, found in served.items():
            if isinstance(found, dict) and "version" in found and "name" in found:
                self.model_info.labels(component, found["name"], str(found["version"])).set(1)

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts and times every request by route template (not raw path: ids would explode)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            method = scope["method"]
            self.metrics.requests.labels(method, path, str(status)).inc()
            self.metrics.latency.labels(method, path).observe(time.perf_counter() - started)
