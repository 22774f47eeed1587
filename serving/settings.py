"""The server's one settings class: environment (STEWARD_SERVE_*) or a .env file, built lazily."""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# posts:moderate: store review decisions as training labels and preview recalibrated thresholds
# (a moderator's job, not a scoring bot's); applying thresholds changes every client: admin.
Scope = Literal["posts:score", "members:read", "posts:moderate", "admin"]
SCOPES: tuple[Scope, ...] = ("posts:score", "members:read", "posts:moderate", "admin")
Component = Literal["toxicity", "churn"]


class ApiKey(BaseModel):
    """One client key: only its SHA-256 is kept, with the scopes it grants."""

    name: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    scopes: list[Scope]


class ServeSettings(BaseSettings):
    """Host, port, workers, models, limits, batching and keys of `steward serve`."""

    model_config = SettingsConfigDict(
        env_prefix="STEWARD_SERVE_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    # One worker: on 2 cores more workers add ~45 ms per request on reused connections.
    workers: int = Field(default=1, ge=1)
    no_auth: bool = False
    api_keys: list[ApiKey] = []
    components: list[Component] = ["toxicity", "churn"]
    toxicity_uri: str = "models:/steward-toxicity@champion"
    churn_uri: str = "models:/steward-churn@champion"
    at_risk_path: Path | None = None  # default: STEWARD_HOME/scores/at_risk.parquet
    max_body_bytes: int = Field(default=1_000_000, ge=1_024)
    max_posts: int = Field(default=256, ge=1)
    max_text_chars: int = Field(default=10_000, ge=1)
    max_events: int = Field(default=5_000, ge=1)  # a member's 90+ days, well under max_body_bytes
    max_page: int = Field(default=1_000, ge=1)
    # Requests being worked on at once before new ones get 503 + Retry-After. Every bench.serving
    # scenario peaks at 32 in flight; twice that keeps a burst's queue to about 64 requests'
    # work (under 0.5 s of linear scoring) instead of growing until clients time out.
    max_in_flight: int = Field(default=64, ge=1)
    batch_max_size: int = Field(default=64, ge=1)
    # 0: a batch is what queued while the model was busy; measured best on 2 cores for both
    # models (bench/serving.py). A few ms can help where the model is slow and cores many.
    batch_max_wait_ms: float = Field(default=0.0, ge=0)
    # Threads of the transformer's ONNX session (None: what the model was saved with). Two on
    # 2 cores: a batch of 8 real posts took 19 ms instead of 30 ms with one (the event loop
    # mostly waits while the model runs), which is what p99 at concurrency 8 is made of.
    model_threads: int | None = Field(default=2, ge=1)
    log_text: bool = False  # request text is never logged unless this is set
    # The action for a post in a language steward does not score (not English or Chinese):
    # review (a person reads it), allow, or block. It is never scored as English.
    unsupported_language_action: Literal["allow", "review", "block"] = "review"
    # The browser pages (/ui). Sessions are HMAC-signed cookies; without a secret each process
    # draws its own, so sign-ins end on restart: set one when running several workers.
    session_secret: SecretStr | None = None
    session_hours: float = Field(default=8.0, gt=0, le=24 * 7)
    lake_path: Path | None = None  # where review decisions go; default STEWARD_HOME/lake
    moderation_dir: Path | None = None  # the review queue; default STEWARD_HOME/moderation

    @model_validator(mode="after")
    def _no_auth_only_on_loopback(self) -> ServeSettings:
        if self.no_auth and not is_loopback(self.host):
            raise ValueError(
                f"no_auth is allowed only on a loopback host (127.0.0.1, ::1, localhost); "
                f"host is {self.host!r}: configure API keys instead"
            )
        if not self.no_auth and not self.api_keys:
            raise ValueError(
                "no API keys configured: set STEWARD_SERVE_API_KEYS (see `steward serve "
                "--new-key`), or use --no-auth on 127.0.0.1"
            )
        return self


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def hash_key(key: str) -> str:
    """The SHA-256 hex digest stored in settings in place of a key."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_key(name: str, scopes: list[Scope]) -> tuple[str, ApiKey]:
    """A fresh random key and the settings entry that accepts it."""
    key = "stw_" + secrets.token_urlsafe(24)
    return key, ApiKey(name=name, sha256=hash_key(key), scopes=scopes)
