"""Browser sessions for the pages: a signed cookie made from an API key, and CSRF tokens.

A browser cannot send a Bearer header when it follows a link, so the sign-in form takes the
API key once and answers with a cookie `name.expiry.nonce.mac`: the key's name and an
HMAC over them keyed by the server's secret and the key's stored SHA-256. The key itself
never reaches the cookie, a URL or a page. Every request re-reads the key's scopes from the
settings, so removing a key (or changing its scopes) takes effect on its sessions at once.
The cookie is HttpOnly (no script reads it) and SameSite=Strict (no other site's page sends
it); forms also carry a CSRF token derived from the cookie, checked on every POST.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from serving.auth import ANONYMOUS, Caller, KeyRing
from serving.settings import ServeSettings

COOKIE = "steward_session"
SIGNIN_COOKIE = "steward_signin"  # the sign-in form's own CSRF token (no session yet)
PATH = "/ui"


@dataclass(frozen=True)
class Session:
    """A signed-in browser: who it is, its cookie and the CSRF token its forms must carry."""

    caller: Caller
    cookie: str
    csrf: str
    expires: float


class Sessions:
    """Issues and checks session cookies; sign-outs are remembered until the cookie expires."""

    def __init__(self, settings: ServeSettings, keys: KeyRing) -> None:
        configured = settings.session_secret
        self.secret = (
            configured.get_secret_value().encode() if configured else secrets.token_bytes(32)
        )
        self.seconds = settings.session_hours * 3600
        self.keys = keys
        self.revoked: dict[str, float] = {}  # nonce -> expiry

    def sign_in(self, presented: str | None) -> str:
        """A cookie value for a valid key; ApiError(401) from the key ring otherwise."""
        caller = self.keys.caller(presented)
        expires = int(time.time() + self.seconds)
        body = f"{_b64(caller.name)}.{expires}.{secrets.token_urlsafe(12)}"
        return f"{body}.{self._mac(caller.name, body)}"

    def read(self, cookie: str | None) -> Session | None:
        """The session behind a cookie, or None when it is absent, forged, expired or revoked."""
        parts = (cookie or "").split(".")
        if len(parts) != 4 or not parts[1].isdigit():
            return None
        try:
            name = _unb64(parts[0])
        except ValueError:
            return None
        body = ".".join(parts[:3])
        expires = float(parts[1])
        if not hmac.compare_digest(parts[3], self._mac(name, body)) or expires < time.time():
            return None
        if parts[2] in self.revoked:
            return None
        caller = self._caller(name)
        if caller is None:
            return None
        return Session(caller, cookie or "", self.csrf_for(cookie or ""), expires)

    def sign_out(self, session: Session) -> None:
        """Refuse this cookie from now on (forgetting sign-outs whose cookies have expired)."""
        now = time.time()
        self.revoked = {n: t for n, t in self.revoked.items() if t >= now}
        self.revoked[session.cookie.split(".")[2]] = session.expires

    def csrf_for(self, value: str) -> str:
        """The CSRF token bound to a cookie value (a session's, or the sign-in form's)."""
        return hmac.new(self.secret, b"csrf:" + value.encode(), hashlib.sha256).hexdigest()

    def _caller(self, name: str) -> Caller | None:
        """The caller a cookie names, with the scopes its key has now."""
        if self.keys.open:
            return ANONYMOUS if name == ANONYMOUS.name else None
        key = self.keys.named(name)
        return None if key is None else Caller(key.name, frozenset(key.scopes))

    def _mac(self, name: str, body: str) -> str:
        """HMAC of the cookie body, keyed by the secret and the named key's stored hash."""
        key = self.keys.named(name)
        stored = key.sha256 if key is not None else ""
        mac_key = self.secret + stored.encode()
        return hmac.new(mac_key, body.encode(), hashlib.sha256).hexdigest()


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _unb64(text: str) -> str:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("not base64") from exc
