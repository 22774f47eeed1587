"""`steward serve`: the scoring server under uvicorn, configured by ServeSettings.

The lead mounts it with app.command("serve")(serve_cmd). Options override the
STEWARD_SERVE_* environment and .env; errors are ValueErrors, printed as one line.
"""

from __future__ import annotations

import json
import os
from typing import Annotated

import typer


def _settings_error(exc: Exception) -> ValueError:
    """A pydantic ValidationError as one line a person can act on."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "settings"
        message = str(first.get("msg", exc)).removeprefix("Value error, ")
        return ValueError(f"serve settings: {where}: {message}" if where != "settings" else message)
    return ValueError(str(exc))


def _print_new_key(name: str, scopes: list[str]) -> None:
    """Print a fresh key once, and the settings entry (its hash) that accepts it."""
    from serving.settings import SCOPES, new_key

    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise ValueError(f"--scope {unknown or '(none)'}: give one or more of {', '.join(SCOPES)}")
    key, entry = new_key(name, scopes)  # type: ignore[arg-type]
    typer.echo(f"API key for {name} (shown once; steward keeps only its hash):\n  {key}")
    typer.echo("add this entry to the JSON list in STEWARD_SERVE_API_KEYS (environment or .env):")
    typer.echo(f"  {json.dumps(entry.model_dump())}")


def serve_cmd(
    host: Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000).")] = None,
    workers: Annotated[
        int | None, typer.Option(help="uvicorn workers (default 1: best on 2 cores).")
    ] = None,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="No API keys; only allowed on a loopback host.")
    ] = False,
    new_key: Annotated[
        str | None,
        typer.Option("--new-key", help="Print a new API key for this client name and exit."),
    ] = None,
    scope: Annotated[
        list[str],
        typer.Option(help="With --new-key: posts:score, members:read or admin, repeatable."),
    ] = [],  # noqa: B006
) -> None:
    """Serve toxicity and churn scores over HTTP from the champion models."""
    if new_key is not None:
        _print_new_key(new_key, scope)
        return
    import uvicorn

    from serving.settings import ServeSettings

    overrides = {"host": host, "port": port, "workers": workers, "no_auth": no_auth or None}
    for name, value in overrides.items():
        if value is not None:
            # Through the environment, so every uvicorn worker builds the same settings.
            os.environ[f"STEWARD_SERVE_{name.upper()}"] = (
                str(value).lower() if isinstance(value, bool) else str(value)
            )
    try:
        settings = ServeSettings()
    except Exception as exc:  # pydantic's ValidationError: shown as one line
        raise _settings_error(exc) from None
    typer.echo(f"steward: serving on http://{settings.host}:{settings.port} (docs at /docs)")
    uvicorn.run(
        "serving.app:app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level="info",
    )
