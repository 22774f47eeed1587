"""API keys with scopes: 401 without a valid key, 403 when the key lacks the route's scope."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import Request

from serving.errors import ApiError
from serving.settings import ApiKey, Scope, ServeSettings, hash_key


@dataclass(frozen=True)
class Caller:
    """Who made a request (the key's name) and what it may do."""

    name: str
    scopes: frozenset[str]


ANONYMOUS = Caller(
    "anonymous (--no-auth)", frozenset({"posts:score", "members:read", "posts:moderate", "admin"})
)


class KeyRing:
    """The configured keys, looked up by the SHA-256 of what a client sends."""

    def __init__(self, settings: ServeSettings) -> None:
        self.open = settings.no_auth
        self.keys: list[ApiKey] = list(settings.api_keys)

    def caller(self, presented: str | None) -> Caller:
        """The caller behind a presented key; ApiError(401) when it is missing or unknown."""
        if self.open:
            return ANONYMOUS
        if not presented:
            raise ApiError(
                401,
                "missing API key: send 'Authorization: Bearer KEY', 'X-API-Key: KEY' or ?key=KEY",
            )
        digest = hash_key(presented)
        # Keys are long random tokens, so an unsalted SHA-256 is enough; compare in constant time.
        for key in self.keys:
            if hmac.compare_digest(key.sha256, digest):
                return Caller(key.name, frozenset(key.scopes))
        raise ApiError(401, "unknown API key: check the key, or ask for one with the right scope")

    def named(self, name: str) -> ApiKey | None:
        """The configured key with this name (sessions re-check it on every request)."""
        return next((k for k in self.keys if k.name == name), None)


def presented_key(request: Request) -> str | None:
    """The key from the Authorization or X-API-Key header, or ?key= as Perspective clients send."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("x-api-key") or request.query_params.get("key")


def require(scope: Scope) -> Callable[[Request], Awaitable[Caller]]:
    """A dependency admitting callers whose key grants `scope`."""

    async def check(request: Request) -> Caller:
        ring: KeyRing = request.app.state.keys
        caller = ring.caller(presented_key(request))
        if scope not in caller.scopes:
            granted = ", ".join(sorted(caller.scopes)) or "none"
            raise ApiError(
                403,
                f"key {caller.name!r} lacks scope {scope!r} (it has: {granted})",
                scope=scope,
            )
        return caller

    return check
