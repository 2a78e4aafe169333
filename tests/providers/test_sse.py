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


async def test_an_event_without_its_blank_line_at_the_end_is_not_dispatched() -> None:
    assert await decode([b"data: complete\n\ndata: cut off\n"]) == [("", "complete")]
    assert await decode([b"data: complete\n\ndata: cut off"]) == [("", "complete")]


async def test_an_event_name_without_data_does_not_leak_into_the_next_event() -> None:
    assert await decode([b"event: ping\n\ndata: x\n\n"]) == [("", "x")]


async def test_a_field_without_a_colon_and_empty_data() -> None:
    # "data" alone is a data line with an empty value; an empty event is still an event.
    assert await decode([b"data\n\nevent: e\ndata:\n\n"]) == [("", ""), ("e", "")]


async def test_invalid_utf8_is_a_value_error() -> None:
    with pytest.raises(UnicodeDecodeError):
        await decode([b"data: \xff\n\n"])
