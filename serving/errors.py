"""Every HTTP error as JSON in Google's API error shape, which Perspective clients already parse."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

# Google's canonical status names, so a Perspective client reports our errors as it did theirs.
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "ABORTED",
    413: "PAYLOAD_TOO_LARGE",
    422: "INVALID_ARGUMENT",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


class ApiError(Exception):
    """An error a client can act on: status, message, and the limit or reason behind it."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


ECHO_CHARS = 64  # how much of a client's value an error message repeats


def echo(value: str, limit: int = ECHO_CHARS) -> str:
    """A client's value for an error message: quoted, and cut to `limit` characters, saying so."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value):,} characters)"


def limit_error(status: int, limit: str, value: int, what: str) -> ApiError:
    """413/422 for a request over a configured limit, naming the limit."""
    return ApiError(status, f"{what}; the limit is {value:,} ({limit})", limit=limit, max=value)


def error_body(status: int, message: str, **extra: Any) -> dict[str, Any]:
    """{"error": {"code", "message", "status", ...}}."""
    name = STATUS_NAMES.get(status) or HTTPStatus(status).name
    return {"error": {"code": status, "message": message, "status": name, **extra}}


# With a realm: httplib2 (under Google's API clients, Perspective's own Python client among
# them) cannot parse a bare `Bearer` challenge and raises MalformedHeader instead of HttpError.
AUTH_CHALLENGE = 'Bearer realm="steward"'


def error_response(status: int, message: str, **extra: Any) -> JSONResponse:
    """The JSON response for an error."""
    headers = {"WWW-Authenticate": AUTH_CHALLENGE} if status == 401 else None
    return JSONResponse(error_body(status, message, **extra), status_code=status, headers=headers)


def _describe(errors: list[Any], content_type: str | None = None) -> str:
    """Pydantic errors as one readable line, without echoing the input (it may be a post)."""
    body_problem = _body_problem(errors, content_type)
    if body_problem:
        return body_problem
    parts = []
    for err in errors[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    more = f" (+{len(errors) - 5} more)" if len(errors) > 5 else ""
    return "invalid request: " + "; ".join(parts) + more


SEND_JSON = (
    "send a JSON object with 'Content-Type: application/json' (the request schemas are under /docs)"
)


def is_json_type(content_type: str | None) -> bool:
    """Whether a Content-Type is JSON (application/json or application/*+json)."""
    media = (content_type or "").split(";")[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def _body_problem(errors: list[Any], content_type: str | None) -> str | None:
    """What is wrong with the body as a whole (not JSON, or not sent as JSON), if that is it."""
    for err in errors:
        if err.get("type") == "json_invalid":
            why = (err.get("ctx") or {}).get("error", "JSON decode error")
            at = err.get("loc", ())[-1] if err.get("loc") else None
            where = f" at character {at}" if isinstance(at, int) else ""
            return f"invalid request: the body is not valid JSON ({why}{where}); {SEND_JSON}"
    whole_body = [e for e in errors if tuple(e.get("loc", ())) == ("body",)]
    if content_type and not is_json_type(content_type) and whole_body:
        # FastAPI hands a non-JSON Content-Type's body over as bytes, which no schema accepts.
        media = content_type.split(";")[0].strip()
        return f"invalid request: Content-Type is {media!r}, not JSON; {SEND_JSON}"
    if any(e.get("type") == "missing" for e in whole_body):
        return f"invalid request: the body is empty; {SEND_JSON}"
    return None


def _unreadable_body(cause: BaseException | None) -> str | None:
    """Why a body FastAPI could not parse was unreadable, for the causes a client can fix."""
    # FastAPI answers both with a bare 400 "error parsing the body"; the client needs to know.
    if isinstance(cause, UnicodeDecodeError):
        return (
            f"invalid request: body is not valid UTF-8 (byte 0x{cause.object[cause.start]:02x} "
            f"at offset {cause.start}); send JSON encoded as UTF-8"
        )
    if isinstance(cause, RecursionError):
        return "invalid request: body JSON is nested too deeply to parse; flatten it"
    return None


def install_error_handlers(app: FastAPI) -> None:
    """JSON errors for ApiError, validation errors, unknown routes and anything unexpected."""

    async def api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(exc.status, exc.message, **exc.extra)

    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        content_type = request.headers.get("content-type")
        return error_response(422, _describe(list(exc.errors()), content_type))

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        unreadable = _unreadable_body(exc.__cause__)
        if exc.status_code == 400 and unreadable:
            return error_response(422, unreadable)
        message = str(exc.detail)
        if exc.status_code == 404 and message == "Not Found":
            path = request.url.path
            shown = path if len(path) <= 200 else f"{path[:200]}... ({len(path):,} characters)"
            message = f"no route {request.method} {shown}; see /docs for the routes"
        return error_response(exc.status_code, message)

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        return error_response(500, f"internal error ({type(exc).__name__}); see the server log")

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
