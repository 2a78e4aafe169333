"""The event-stream decoder the Claude and OpenAI streams read their bodies with: every line
ending, every split of the body into network chunks, and what the WHATWG rules skip."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

import httpx2
import pytest

from automatosx.providers._sse import sse_events

Event = tuple[str, str]


async def decode(chunks: Iterable[bytes]) -> list[Event]:
    async def body() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    response = httpx2.Response(200, content=body())
    return [event async for event in sse_events(response)]


BODY = (
    "event: message_start\n"
    'data: {"a": 1}\n'
    "\n"
    ": a comment, then an unnamed event with two data lines\n"
    "data: first\n"
    "data:second\n"
    "id: 7\n"
    "retry: 100\n"
    "\n"
    "event: ping\n"
    "\n"
    "event: content_block_delta\n"
    'data: {"text": "h\u00e9llo \u2603"}\n'
    "\n"
)
EXPECTED = [
    ("message_start", '{"a": 1}'),
    ("", "first\nsecond"),
    ("content_block_delta", '{"text": "h\u00e9llo \u2603"}'),
]


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "cr"])
async def test_every_line_ending_gives_the_same_events(newline: str) -> None:
    body = BODY.replace("\n", newline).encode()
    assert await decode([body]) == EXPECTED


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "cr"])
async def test_any_split_into_chunks_gives_the_same_events(newline: str) -> None:
    body = BODY.replace("\n", newline).encode()
    for cut in range(1, len(body)):
        assert await decode([body[:cut], body[cut:]]) == EXPECTED, cut
    assert await decode([body[i : i + 1] for i in range(len(body))]) == EXPECTED


async def test_an_event_without_its_blank_line_at_the_end_is_still_dispatched() -> None:
    # The adapters parse every event and demand their stream's terminating event, so a body
    # cut inside an event still fails; one cut only before the blank line keeps its last event.
    for body in (b"data: complete\n\ndata: last\n", b"data: complete\n\ndata: last"):
        assert await decode([body]) == [("", "complete"), ("", "last")]
    assert await decode([b"event: message_stop\ndata: {}"]) == [("message_stop", "{}")]
    assert await decode([b"data: a\r"]) == [("", "a")]


async def test_a_body_ending_in_a_blank_line_dispatches_its_last_event_once() -> None:
    for ending in (b"\n\n", b"\r\r", b"\r\n\r\n", b"\n"):
        assert await decode([b"data: x" + ending]) == [("", "x")], ending


async def test_an_event_name_without_data_does_not_leak_into_the_next_event() -> None:
    assert await decode([b"event: ping\n\ndata: x\n\n"]) == [("", "x")]


async def test_a_field_without_a_colon_and_empty_data() -> None:
    # "data" alone is a data line with an empty value; an empty event is still an event.
    assert await decode([b"data\n\nevent: e\ndata:\n\n"]) == [("", ""), ("e", "")]


async def test_invalid_utf8_is_a_value_error() -> None:
    with pytest.raises(UnicodeDecodeError):
        await decode([b"data: \xff\n\n"])
