"""Limits enforced before a request is parsed: body size (413) and requests in flight (503)."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.errors import error_body


class BodyTooLarge(Exception):
    """The body ran past the limit while it was being read."""


class BodyLimitMiddleware:
    """Refuse bodies over max_bytes: at once by Content-Length, or while streaming chunked ones."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send, f"request body is {int(declared):,} bytes")
            return
        seen = 0
        over = False
        refused = False

        async def limited() -> Message:
            nonlocal seen, over
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    over = True
                    raise BodyTooLarge
            return message

        async def sending(message: Message) -> None:
            nonlocal refused
            # The app turns the aborted read into an error response of its own: send ours.
            if over:
                if not refused:
                    refused = True
                    await self._refuse(send, f"request body is over {self.max_bytes:,} bytes")
                return
            await send(message)

        try:
            await self.app(scope, limited, sending)
        except BodyTooLarge:
            if not refused:
                await self._refuse(send, f"request body is over {self.max_bytes:,} bytes")

    async def _refuse(self, send: Send, what: str) -> None:
        """Send the 413 JSON error (and close: the rest of the body is not read)."""
        message = f"{what}; the limit is {self.max_bytes:,} (max_body_bytes)"
        await send_error(
            send, 413, message, [(b"connection", b"close")], "max_body_bytes", self.max_bytes
        )


async def send_error(
    send: Send,
    status: int,
    message: str,
    headers: list[tuple[bytes, bytes]],
    limit: str,
    value: int,
) -> None:
    """Send a JSON error naming the limit, from middleware that answers before the app."""
    body = json.dumps(error_body(status, message, limit=limit, max=value)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


# Probes and scrapes must answer while the server sheds load: that is when they matter most.
UNLIMITED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


class InFlightLimitMiddleware:
    """Answer 503 with Retry-After at once when max_in_flight requests are already running.

    Without it an overloaded server queues without bound: clients time out and retry on new
    connections while the server still works on the requests they gave up on (bench.soak at
    3x capacity: thousands of timeouts, open files 41 -> 147, RSS +45 MB). Refusing at the
    door keeps latency bounded for the requests it takes and tells clients to back off.
    """

    def __init__(self, app: ASGIApp, max_in_flight: int, retry_after_s: int = 1) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        self.retry_after_s = retry_after_s
        self.in_flight = 0
        self.refused = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNLIMITED_PATHS:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_in_flight:
            self.refused += 1
            await self._refuse(send)
            return
        # One event loop: the check and the increment cannot interleave with another request.
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1

    async def _refuse(self, send: Send) -> None:
        """Send the 503 JSON error with Retry-After."""
        message = (
            f"server is busy: {self.in_flight:,} requests in flight, the limit is "
            f"{self.max_in_flight:,} (max_in_flight); retry after {self.retry_after_s} s"
        )
        retry = [(b"retry-after", str(self.retry_after_s).encode())]
        await send_error(send, 503, message, retry, "max_in_flight", self.max_in_flight)
