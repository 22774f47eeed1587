"""Request body size limit, enforced before the body is parsed (413 naming the limit)."""

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
        """Send the 413 JSON error."""
        message = f"{what}; the limit is {self.max_bytes:,} (max_body_bytes)"
        body = json.dumps(
            error_body(413, message, limit="max_body_bytes", max=self.max_bytes)
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
