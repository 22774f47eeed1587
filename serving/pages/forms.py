"""HTML form bodies (urlencoded and multipart) read with the standard library.

Starlette's `request.form()` needs python-multipart, which the server does not otherwise
depend on; the pages' forms are small (the body limit still applies), so the stdlib's
parsers are enough.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from urllib.parse import parse_qs

from fastapi import Request


class FormError(ValueError):
    """A form body that cannot be read."""


@dataclass
class Form:
    """Text fields (first value wins) and uploaded files (name -> (filename, bytes))."""

    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)

    def get(self, name: str, default: str = "") -> str:
        """A field's value, or the default."""
        return self.fields.get(name, default)


async def read_form(request: Request) -> Form:
    """The body of a form POST; FormError for another content type or a broken body."""
    kind = request.headers.get("content-type", "")
    body = await request.body()
    if kind.startswith("application/x-www-form-urlencoded"):
        try:
            parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            raise FormError("the form is not UTF-8") from None
        return Form({k: v[0] for k, v in parsed.items()})
    if kind.startswith("multipart/form-data"):
        return _multipart(kind, body)
    raise FormError(f"expected a form (urlencoded or multipart), got {kind or 'no content type'!r}")


def _multipart(kind: str, body: bytes) -> Form:
    """multipart/form-data through the email parser (the same MIME framing)."""
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {kind}\r\nMIME-Version: 1.0\r\n\r\n".encode() + body
    )
    if not message.is_multipart():
        raise FormError("the multipart form has no parts")
    form = Form()
    for part in message.iter_parts():
        assert isinstance(part, Message)
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            form.files[name] = (filename, data)
        else:
            form.fields.setdefault(name, data.decode("utf-8", errors="replace"))
    return form
