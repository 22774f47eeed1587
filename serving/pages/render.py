"""Jinja2 rendering (autoescape on for every template), sign-in checks and page errors."""

from __future__ import annotations

import hmac
from functools import cache
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from serving.pages.session import COOKIE, Session, Sessions
from serving.settings import Scope

# No script runs on these pages, nothing loads from elsewhere, and no other site may frame
# them (clickjacking) or receive a Referer with a query that may hold filters. (Not
# `no-referrer`: with it Chromium sends `Origin: null` on our own form POSTs.)
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class PageError(Exception):
    """An error shown as a page (status, title, message); 303 to sign-in when `redirect`."""

    def __init__(self, status: int, message: str, redirect: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.redirect = redirect


@cache
def environment() -> Environment:
    """The templates under serving/templates, escaped by default (built on first use)."""
    return Environment(
        loader=PackageLoader("serving", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(
    request: Request,
    template: str,
    session: Session | None,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A template as an HTML response with the security headers."""
    html = (
        environment()
        .get_template(template)
        .render(session=session, path=request.url.path, **context)
    )
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def error_page(request: Request, error: PageError, session: Session | None) -> Response:
    """A PageError as a page, or the redirect to sign-in it asks for."""
    if error.redirect is not None:
        return RedirectResponse(error.redirect, status_code=303, headers=SECURITY_HEADERS)
    return render(request, "error.html", session, error.status, message=error.message)


def sessions(request: Request) -> Sessions:
    """The app's session issuer."""
    found: Sessions = request.app.state.sessions
    return found


def current_session(request: Request) -> Session | None:
    """The signed-in session of this request, if any."""
    return sessions(request).read(request.cookies.get(COOKIE))


def signed_in(request: Request, scope: Scope) -> Session:
    """The session, if its key grants `scope`: else to sign-in (GET) or a 401/403 page."""
    session = current_session(request)
    if session is None:
        if request.method == "GET":
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise PageError(401, "sign in", redirect=f"/ui/sign-in?next={quote(target)}")
        raise PageError(401, "Your session has ended. Sign in again, then repeat the action.")
    if scope not in session.caller.scopes:
        granted = ", ".join(sorted(session.caller.scopes)) or "none"
        raise PageError(
            403,
            f"The key {session.caller.name!r} lacks the scope {scope!r} this page needs "
            f"(it has: {granted}). Sign in with a key that has it.",
        )
    return session


def check_origin(request: Request) -> None:
    """403 for a POST another site's page sent (browsers send Origin on every form POST)."""
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
        raise PageError(403, "This form was sent from another site; it was refused.")


def check_csrf(request: Request, session: Session, token: str) -> None:
    """403 unless the form's token is the session's (and the Origin is ours)."""
    check_origin(request)
    if not hmac.compare_digest(token.encode(), session.csrf.encode()):
        raise PageError(
            403, "The form's security token is missing or stale. Reload the page and try again."
        )
