"""Streams that fail before their first chunk fall back and the fallback's whole text is
streamed. After the first chunk a failure restarts the stream by default (the new attempt's
first chunk says ``restart=True``, index 0); with ``restartStreams=false`` the mapped
ProviderError ends the stream and the partial text is what the database keeps."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from automatosx.emulator import Rule
from automatosx.errors import ProviderConnectionError, ProviderError
from automatosx.router import Stream

if TYPE_CHECKING:
    from tests.e2e.conftest import Harness

NAMES = ("claude", "gemini", "openai")


async def drain(stream: Stream, into: list[str]) -> None:
    """Iterate ``stream`` to its end (or error), keeping each chunk's text in ``into``."""
    async with stream:
        async for chunk in stream:
            into.append(chunk.chunk)


def fallback_for(primary: str) -> str:
    return "openai" if primary == "gemini" else "gemini"


@pytest.mark.parametrize("primary", NAMES)
async def test_503_before_the_first_chunk_falls_back_and_streams_the_whole_reply(
    e2e: Harness, primary: str
) -> None:
    fallback = fallback_for(primary)
    e2e.scenario.add(Rule(provider=primary, status=503))
    req = e2e.request("Stream me something")

    async with e2e.router(primary, [fallback]) as router:
        stream = router.stream(req)
        async with stream:
            chunks = [chunk async for chunk in stream]
        expected = await router.execute(e2e.request("Stream me something"))

    assert chunks[-1].done
    assert chunks[-1].chunk == ""
    assert not any(c.done for c in chunks[:-1])
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert {c.request_id for c in chunks} == {req["requestId"]}
    text = "".join(c.chunk for c in chunks)
    assert text == expected.content  # the fallback's full reply, nothing of the primary's
    assert stream.response is not None
    assert stream.response.provider == fallback
    assert stream.response.content == text

    row = await e2e.stored(req["requestId"])
    assert row.request.state == "completed"
    assert row.request.stream is True
    assert e2e.has_run(row.request.history, "failed", "requesting", "streaming")
    assert [(a.provider, a.outcome, a.error_code, a.status_code) for a in row.attempts] == [
        (primary, "failure", "SERVER_ERROR", 503),
        (fallback, "success", None, None),
    ]
    assert row.chunks is not None
    assert [(i, t) for i, t, _ in row.chunks] == [(c.index, c.chunk) for c in chunks[:-1]]
    assert row.response is not None
    assert row.response.content == text
    assert row.response.provider == fallback
    stored, streamed = row.response.tokens, stream.response.tokens
    assert (stored.input_tokens, stored.output_tokens, stored.total_tokens) == (
        streamed.input_tokens,
        streamed.output_tokens,
        streamed.total_tokens,
    )


@pytest.mark.parametrize("primary", NAMES)
@pytest.mark.parametrize(
    ("fault", "code"),
    [
        pytest.param({"stream_error_after": 0}, None, id="error-event-before-any-chunk"),
        pytest.param({"drop_after": 0}, "CONNECTION_ERROR", id="dropped-before-any-chunk"),
    ],
)
async def test_a_stream_cut_after_200_but_before_its_first_chunk_still_falls_back(
    e2e: Harness, primary: str, fault: dict[str, int], code: str | None
) -> None:
    fallback = fallback_for(primary)
    e2e.scenario.add(Rule(provider=primary, **fault))
    req = e2e.request("Stream me something")

    async with e2e.router(primary, [fallback]) as router:
        stream = router.stream(req)
        async with stream:
            text = await stream.text()

    assert stream.response is not None
    assert stream.response.provider == fallback
    assert text == stream.response.content
    assert (e2e.count(primary), e2e.count(fallback)) == (1, 1)
    row = await e2e.stored(req["requestId"])
    assert row.request.state == "completed"
    (failed, served) = row.attempts
    assert (failed.provider, failed.outcome) == (primary, "failure")
    assert failed.error_code is not None
    if code is not None:
        assert failed.error_code == code
    assert (served.provider, served.outcome) == (fallback, "success")
    assert row.chunks is not None
    assert "".join(t for _, t, _ in row.chunks) == text


@pytest.mark.parametrize("primary", NAMES)
@pytest.mark.parametrize(
    ("fault", "sent", "exc", "code"),
    [
        pytest.param({"stream_error_after": 2}, 2, ProviderError, None, id="error-event-after-2"),
        pytest.param(
            {"drop_after": 1},
            1,
            ProviderConnectionError,
            "CONNECTION_ERROR",
            id="dropped-after-1",
        ),
    ],
)
async def test_a_stream_cut_after_its_first_chunk_restarts_and_completes_by_default(
    e2e: Harness,
    primary: str,
    fault: dict[str, int],
    sent: int,
    exc: type[ProviderError],
    code: str | None,
) -> None:
    fallback = fallback_for(primary)
    e2e.scenario.add(Rule(provider=primary, request=1, **fault))
    req = e2e.request("Stream me something")

    async with e2e.router(primary, [fallback], providers={primary: {"max_retries": 2}}) as router:
        stream = router.stream(req)
        async with stream:
            chunks = [c async for c in stream]

    assert [c.restart for c in chunks[: sent + 1]] == [False] * sent + [True]
    assert chunks[sent].index == 0
    assert not any(c.restart for c in chunks[sent + 1 :])
    text = "".join(c.chunk for c in chunks[sent:])
    assert stream.response is not None
    assert (stream.response.provider, stream.response.content) == (primary, text)
    assert (e2e.count(primary), e2e.count(fallback)) == (2, 0)  # restarted on the same one

    row = await e2e.stored(req["requestId"])
    assert row.request.state == "completed"
    assert [(a.provider, a.outcome) for a in row.attempts] == [
        (primary, "failure"),
        (primary, "success"),
    ]
    if code is not None:
        assert row.attempts[0].error_code == code
    assert row.chunks is not None
    assert [t for _, t, _ in row.chunks] == [c.chunk for c in chunks[:-1]]  # both attempts'
    assert row.response is not None
    assert row.response.content == text


@pytest.mark.parametrize("primary", NAMES)
@pytest.mark.parametrize(
    ("fault", "sent", "exc", "code"),
    [
        pytest.param({"stream_error_after": 2}, 2, ProviderError, None, id="error-event-after-2"),
        pytest.param(
            {"drop_after": 1},
            1,
            ProviderConnectionError,
            "CONNECTION_ERROR",
            id="dropped-after-1",
        ),
    ],
)
async def test_without_restarts_a_cut_after_the_first_chunk_raises_and_keeps_the_partial_text(
    e2e: Harness,
    primary: str,
    fault: dict[str, int],
    sent: int,
    exc: type[ProviderError],
    code: str | None,
) -> None:
    fallback = fallback_for(primary)
    e2e.scenario.add(Rule(provider=primary, **fault))
    req = e2e.request("Stream me something")
    received: list[str] = []

    async with e2e.router(
        primary, [fallback], providers={primary: {"max_retries": 2}}, restartStreams=False
    ) as router:
        stream = router.stream(req)
        with pytest.raises(exc) as caught:
            await drain(stream, received)

    err = caught.value
    assert err.provider == primary
    assert err.code is not None
    if code is not None:
        assert err.code == code
    assert len(received) == sent
    assert stream.response is None
    assert e2e.count(primary) == 1  # not retried
    assert e2e.count(fallback) == 0  # no fallback after the first chunk

    row = await e2e.stored(req["requestId"])
    assert row.request.state == "failed"
    assert row.request.error_code == err.code
    assert row.response is None
    assert row.chunks is not None
    assert [(i, t) for i, t, _ in row.chunks] == list(enumerate(received))
    assert [(a.provider, a.outcome, a.error_code) for a in row.attempts] == [
        (primary, "failure", err.code)
    ]
