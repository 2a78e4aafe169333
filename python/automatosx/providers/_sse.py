"""Server-sent events read straight from an SDK stream's HTTP response.

The Claude and OpenAI adapters let their SDK build, authenticate and send the streaming
request and raise its HTTP errors, then read the body here instead of through the SDK's
stream object: the SDKs decode each event through four nested async generators and build a
model object per event (about 10 us each, a third of a short in-process stream); the adapters
only need a few fields of each event's JSON, as ``execute`` reads them from the raw body.

The decoding follows the WHATWG event-stream rules the SDKs' own decoders follow: lines end in
``\\r\\n``, ``\\n`` or ``\\r``; ``data:`` lines of one event are joined with ``\\n``; a blank line
dispatches the event; ``:`` starts a comment; ``id`` and ``retry`` are ignored. One departure:
an event left without its blank line when the body ends is dispatched (see the end of
:func:`sse_events`).

A malformed event in an otherwise good stream (its data not JSON, or JSON without the
provider's envelope) is skipped by the adapters and reported with :func:`log_skipped_event`;
the count reaches the router in ``StreamEnd.skipped_events``. Bytes that are not UTF-8 still
fail the stream (the decoder cannot resynchronise on them).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx2

from automatosx.errors import redact

__all__ = ["SKIPPED_EVENT_PREVIEW", "log_skipped_event", "sse_events"]

log = logging.getLogger("automatosx")

SKIPPED_EVENT_PREVIEW = 80
"""How many characters of a skipped event's data the warning shows (keys redacted first)."""


def log_skipped_event(provider: str, data: str, api_key: str | None) -> None:
    """Log one skipped malformed event at WARNING: the provider and the first
    :data:`SKIPPED_EVENT_PREVIEW` characters of its data, with API keys redacted."""
    preview = redact(data, api_key)[:SKIPPED_EVENT_PREVIEW]
    log.warning("%s: skipped a malformed stream event: %r", provider, preview)


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
    # The body ended: its last line (if it had no line ending) is a line too, and an event left
    # without its blank line is dispatched, as google-genai's decoder does (the Stainless ones
    # drop it). Safe: the adapters parse each event and demand their stream's terminating
    # event, so a body cut inside an event still fails; one cut only before its blank line
    # (a recorded fixture, a proxy) keeps its last event.
    line = pending.rstrip(b"\r\n").decode()
    if line:
        field, _, value = line.partition(":")
        if value[:1] == " ":
            value = value[1:]
        if field == "data":
            data.append(value)
        elif field == "event":
            event = value
    if data:
        yield event, "\n".join(data)
