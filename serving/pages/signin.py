"""Sign-in with an API key (the key becomes a signed session cookie) and sign-out."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from serving.errors import ApiError
from serving.pages.forms import FormError, read_form
from serving.pages.render import (
    SECURITY_HEADERS,
    PageError,
    check_csrf,
    check_origin,
    current_session,
    render,
    sessions,
)
from serving.pages.session import COOKIE, PATH, SIGNIN_COOKIE

router = APIRouter(include_in_schema=False)
HOME = "/ui/at-risk"


def safe_next(target: str | None) -> str:
    """Where to go after sign-in: a /ui page of this server only (no open redirect)."""
    if target and target.startswith("/ui/") and not target.startswith("//") and "\\" not in target:
        return target
    return HOME


def _cookie(response: Response, request: Request, name: str, value: str, seconds: int) -> None:
    """An HttpOnly, SameSite=Strict cookie for /ui (Secure when served over HTTPS)."""
    response.set_cookie(
        name,
        value,
        max_age=seconds,
        path=PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


@router.get("/ui")
async def index(request: Request) -> Response:
    """The pages' home: the at-risk table (sign-in first when needed)."""
    return RedirectResponse(HOME, status_code=303, headers=SECURITY_HEADERS)


def _form(request: Request, target: str, status: int = 200, error: str | None = None) -> Response:
    """The sign-in form with a fresh pre-session CSRF token in its own cookie."""
    token = secrets.token_urlsafe(24)
    response = render(
        request,
        "sign_in.html",
        current_session(request),
        status,
        next=target,
        csrf=sessions(request).csrf_for(token),
        open=request.app.state.keys.open,
        error=error,
    )
    _cookie(response, request, SIGNIN_COOKIE, token, 1800)
    return response


@router.get("/ui/sign-in")
async def sign_in_form(request: Request, next: Annotated[str | None, Query()] = None) -> Response:
    """The sign-in form."""
    return _form(request, safe_next(next))


@router.post("/ui/sign-in")
async def sign_in(request: Request) -> Response:
    """Check the key and the form's token; set the session cookie; on to the page asked for."""
    check_origin(request)
    try:
        form = await read_form(request)
    except FormError as exc:
        raise PageError(400, str(exc)) from None
    target = safe_next(form.get("next"))
    expected = sessions(request).csrf_for(request.cookies.get(SIGNIN_COOKIE, ""))
    if not request.cookies.get(SIGNIN_COOKIE) or not hmac.compare_digest(
        form.get("csrf").encode(), expected.encode()
    ):
        return _form(request, target, 403, "The form expired. Enter the key again.")
    try:
        cookie = sessions(request).sign_in(form.get("key").strip() or None)
    except ApiError as exc:
        # The message never repeats what was typed.
        return _form(request, target, exc.status, "That key is not valid on this server.")
    response = RedirectResponse(target, status_code=303, headers=SECURITY_HEADERS)
    _cookie(response, request, COOKIE, cookie, int(sessions(request).seconds))
    response.delete_cookie(SIGNIN_COOKIE, path=PATH)
    return response


@router.post("/ui/sign-out")
async def sign_out(request: Request) -> Response:
    """End the session: the cookie is refused from now on and removed from the browser."""
    session = current_session(request)
    if session is not None:
        form = await read_form(request)
        check_csrf(request, session, form.get("csrf"))
        sessions(request).sign_out(session)
    response = RedirectResponse("/ui/sign-in", status_code=303, headers=SECURITY_HEADERS)
    response.delete_cookie(COOKIE, path=PATH)
    return response
