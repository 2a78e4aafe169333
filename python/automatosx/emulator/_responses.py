"""ASGI responses that pace their body, end it with an error event, drop the connection, or
stall (keep it open, sending nothing, until the client leaves)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

if TYPE_CHECKING:
    from httpx2 import RemoteProtocolError as _TransportDrop
else:
    try:
        from httpx2 import RemoteProtocolError as _TransportDrop
    except ImportError:  # httpx2 comes with every supported SDK; without it: a plain reset

        class _TransportDrop(Exception):
            """An empty first base in place of `httpx2.RemoteProtocolError` (naming
            `ConnectionResetError` here would list that base twice: a TypeError)."""


__all__ = ["DroppedConnection", "Part", "ScriptedResponse", "until_disconnect"]


class DroppedConnection(_TransportDrop, ConnectionResetError):
    """Raised by the app to cut a response short.

    Served by uvicorn, the client sees the connection close mid-body (an incomplete read).
    In-process through `httpx2.ASGITransport` the exception itself reaches the client; it is
    an `httpx2.RemoteProtocolError` (what httpx2 raises for a peer that closed mid-body), so
    the SDKs map it exactly as they map the real thing.
    """


async def until_disconnect(receive: Receive) -> None:
    """Wait until the client goes away (uvicorn reports `http.disconnect` when it closes)."""
    while (await receive())["type"] != "http.disconnect":
        pass


@dataclass(frozen=True)
class Part:
    data: bytes
    delay: float = 0.0  # seconds to wait before sending it


class ScriptedResponse(Response):
    """Send `parts` one body message each, then finish, raise `DroppedConnection` (`drop`),
    or send nothing more until the client disconnects (`hang`)."""

    def __init__(
        self,
        status_code: int,
        headers: Mapping[str, str],
        parts: Sequence[Part],
        *,
        drop: bool = False,
        hang: bool = False,
        content_length: int | None = None,
    ) -> None:
        self.status_code = status_code
        self.background = None
        self.body = b""
        self.parts = list(parts)
        self.drop = drop
        self.hang = hang
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        if content_length is not None:
            raw.append((b"content-length", str(content_length).encode()))
        self.raw_headers = raw

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        for part in self.parts:
            if part.delay > 0:
                await asyncio.sleep(part.delay)
            await send({"type": "http.response.body", "body": part.data, "more_body": True})
        if self.hang:
            await until_disconnect(receive)
            return
        if self.drop:
            raise DroppedConnection("emulator dropped the connection (scripted)")
        await send({"type": "http.response.body", "body": b"", "more_body": False})
