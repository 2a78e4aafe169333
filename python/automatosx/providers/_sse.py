"""Server-sent events read straight from an SDK stream's HTTP response.

The Claude and OpenAI adapters let their SDK build, authenticate and send the streaming
request and raise its HTTP errors, then read the body here instead of through the SDK's
stream object: the SDKs decode each event through four nested async generators and build a
model object per event (about 10 us each, a third of a short in-process stream); the adapters
only need a few fields of each event's JSON, as ``execute`` reads them from the raw body.

The decoding follows the WHATWG event-stream rules the SDKs' own decoders follow: lines end in
``\\r\\n``, ``\\n`` or ``\\r``; ``data:`` lines of one event are joined with ``\\n``; a blank line
dispatches the event; ``:`` starts a comment; ``id`` and ``retry`` are ignored; an event left
without its blank line when the body ends is not dispatched.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx2

__all__ = ["sse_events"]


async def sse_events(response: httpx2.Response) -> AsyncIterator[tuple[str, str]]:
    """``(event, data)`` of each event of ``response``'s body (``event`` is ``""`` when the
    event names none). Events without a ``data`` line are skipped. Reads to the end of the body
    (unless the caller stops), so an HTTP/1.1 connection can go back to the pool."""
    pending = b""
    event = ""
    data: list[str] = []
    async for chunk in response.aiter_bytes():
        lines = (pending + chunk).splitlines(keepends=True) if pending else chunk.splitlines(True)
        # The last line is incomplete, or ends in a "\r" whose "\n" may be in the next chunk.
        pending = lines.pop() if lines and not lines[-1].endswith(b"\n") else b""
        for raw in lines:
            line = raw.rstrip(b"\r\n").decode()
            if not line:
                if data:
                    yield event, "\n".join(data)
                    data = []
                event = ""
                continue
            field, _, value = line.partition(":")
            if value[:1] == " ":
                value = value[1:]
            if field == "data":
                data.append(value)
            elif field == "event":
                event = value
            # A comment (empty field name), ``id``, ``retry`` and unknown fields: ignored.
    if pending.rstrip(b"\r\n") == b"" and pending and data:
        yield event, "\n".join(data)  # the body's last "\r": the blank line that ends an event
