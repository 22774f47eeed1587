"""The FastAPI app: routers, error handlers, limits, metrics, and models loaded at startup."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from serving.auth import KeyRing
from serving.batching import MicroBatcher
from serving.errors import install_error_handlers
from serving.limits import BodyLimitMiddleware, InFlightLimitMiddleware
from serving.loaded_models import ModelHolder
from serving.metrics import Metrics, MetricsMiddleware
from serving.pages import install_pages
from serving.routes import admin, discovery, health, members, perspective, posts
from serving.settings import ServeSettings
from serving.state import ServerState

log = logging.getLogger("steward.serving")
_KEY_IN_QUERY = re.compile(r"([?&])key=[^&\s]*")
DOCS_ASSETS = "/docs-assets"  # Swagger UI's and ReDoc's JavaScript, CSS and icon


def _initial_load(state: ServerState) -> None:
    """Load every model; failures are kept in the state for /readyz to report."""
    from models.tracking import quiet_mlflow

    quiet_mlflow()
    fresh = state.holder.load(state.settings)
    state.metrics.set_models(fresh.describe())
    for part, why in fresh.errors.items():
        log.error("could not load %s: %s", part, why)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start the batcher and load the models in the background; /readyz flips when done."""
    state: ServerState = app.state.steward
    settings = state.settings
    state.batcher = MicroBatcher(
        lambda: state.holder.current.toxicity,
        settings.batch_max_size,
        settings.batch_max_wait_ms,
        state.metrics.observe_batch,
    )
    state.batcher.start()
    state.holder.loading = True  # not ready from the first request on, until the load ends
    loading = asyncio.create_task(asyncio.to_thread(_initial_load, state))
    try:
        yield
    finally:
        if not loading.done():
            await loading  # a thread cannot be cancelled; let it end before shutting down
        await state.batcher.stop()


def create_app(settings: ServeSettings) -> FastAPI:
    """A new app for these settings (nothing global: tests may run several side by side)."""
    # /docs and /redoc with Swagger UI's and ReDoc's files served from here (the package ships
    # them), not from a CDN: the docs work on a machine without internet.
    app = FastAPIOffline(
        title="steward",
        summary="Toxicity of posts and churn risk of members, from the champion models.",
        version="0.1.0",
        lifespan=lifespan,
        static_url=DOCS_ASSETS,
    )
    metrics = Metrics()
    app.state.steward = ServerState(settings, KeyRing(settings), ModelHolder(), metrics)
    app.state.keys = app.state.steward.keys
    for module in (posts, perspective, discovery, members, health, admin):
        app.include_router(module.router)
    install_pages(app)
    install_error_handlers(app)
    # Outermost last: the size limit runs before anything reads the body, the in-flight limit
    # before any work is queued; metrics see all, refusals included.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(InFlightLimitMiddleware, max_in_flight=settings.max_in_flight)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app


class _RedactKeys(logging.Filter):
    """Hides ?key=... (Perspective clients send their key in the URL) in uvicorn's access log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _KEY_IN_QUERY.sub(r"\1key=REDACTED", a) if isinstance(a, str) else a
                for a in record.args
            )
        return True


def app_from_env() -> FastAPI:
    """uvicorn's factory: settings from the environment and .env, built when uvicorn calls."""
    logging.getLogger("uvicorn.access").addFilter(_RedactKeys())
    logging.basicConfig(level=logging.INFO)
    return create_app(ServeSettings())
