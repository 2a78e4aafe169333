"""Each chunk of a stream names the deployment, model and attempt (1-based over the request)
that produced it, so a UI can say "switched to Gemini" at the restart, not at the end: a
mid-reply failure retried on the same deployment, then again, then a fallback, through the
real SDKs over real HTTP to the emulator."""

from __future__ import annotations

from typing import TYPE_CHECKING

from automatosx.emulator import Rule
from automatosx.schemas import StreamChunk

if TYPE_CHECKING:
    from tests.e2e.conftest import Harness


async def test_chunks_after_each_restart_name_the_new_deployment_model_and_attempt(
    e2e: Harness,
) -> None:
    # Claude fails mid-reply twice (an error event after 2 chunks, then a cut connection after
    # 1): with maxRetries=1 the first restart is a retry of Claude, the second a fallback.
    e2e.scenario.add(Rule(provider="claude", request=1, stream_error_after=2, status=500))
    e2e.scenario.add(Rule(provider="claude", request=2, drop_after=1))
    req = e2e.request("Stream me something long enough")
    async with e2e.router("claude", ["gemini"], providers={"claude": {"max_retries": 1}}) as r:
        stream = r.stream(req)
        async with stream:
            chunks = [chunk async for chunk in stream]

    sources = [(c.deployment, c.model, c.attempt, c.restart) for c in chunks if c.chunk]
    claude, gemini = e2e.models["claude"], e2e.models["gemini"]
    assert sources == [
        ("claude", claude, 1, False),
        ("claude", claude, 1, False),
        ("claude", claude, 2, True),
        *[("gemini", gemini, 3, i == 0) for i in range(len(sources) - 3)],
    ]
    done = chunks[-1]
    assert done.done
    assert (done.deployment, done.model, done.attempt) == ("gemini", gemini, 3)
    assert stream.response is not None
    assert stream.response.provider == "gemini"
    row = await e2e.stored(req["requestId"])
    assert [(a.attempt, a.provider) for a in row.attempts] == [
        (1, "claude"),
        (2, "claude"),
        (3, "gemini"),
    ]


async def test_a_stream_without_failures_names_its_one_attempt(e2e: Harness) -> None:
    async with e2e.router("openai", []) as r:
        chunks = [c async for c in r.stream(e2e.request("Hello"))]
    assert {(c.deployment, c.model, c.attempt) for c in chunks} == {
        ("openai", e2e.models["openai"], 1)
    }


def test_the_new_fields_round_trip_and_stay_out_of_seed_documents() -> None:
    seed = {"requestId": "6f1c2c1e-5d7b-4a8e-9a57-1f1e2d3c4b5a", "index": 0, "chunk": "Hi"}
    chunk = StreamChunk.model_validate(seed)
    assert (chunk.deployment, chunk.model, chunk.attempt) == (None, None, None)
    assert set(chunk.model_dump(by_alias=True)) == {
        "requestId",
        "index",
        "chunk",
        "done",
        "timestamp",
    }
    named = StreamChunk.model_validate({**seed, "deployment": "a", "model": "m", "attempt": 2})
    dumped = named.model_dump(by_alias=True)
    assert (dumped["deployment"], dumped["model"], dumped["attempt"]) == ("a", "m", 2)


async def test_a_hedged_stream_names_the_attempt_that_won_the_race(e2e: Harness) -> None:
    e2e.scenario.add(Rule(provider="claude", request=1, latency=3))  # the hedge wins
    e2e.scenario.add(Rule(provider="gemini", request=2, latency=3))  # the first wins
    hedging = {"hedging": {"afterMs": 50, "maxExtraPercent": 100}}
    async with e2e.router("claude", ["gemini"], **hedging) as r:
        won_by_hedge = [c async for c in r.stream(e2e.request("One"))]
        won_by_first = [c async for c in r.stream(e2e.request("Two"))]
    assert {(c.deployment, c.attempt) for c in won_by_hedge} == {("gemini", 2)}
    assert {(c.deployment, c.attempt) for c in won_by_first} == {("claude", 1)}
