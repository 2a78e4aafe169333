"""The emulator caches prompts like the services (issue 21, item 3), through the real SDKs:
per deployment (API key and origin) and model, the longest cached prefix is read; minimum
lengths (1,024 tokens automatic, Anthropic 1,024 / 2,048 for Haiku, Gemini Pro 4,096);
Anthropic only at cache_control breakpoints and billing its writes; TTLs; no cached tokens on
a short chat."""

from __future__ import annotations

from typing import Any

import httpx2
import openai
import pytest
from google import genai
from google.genai import types as genai_types

from automatosx.emulator import EmulatorServer, PromptCache, Scenario, create_app, estimate_tokens
from automatosx.emulator._prompt_cache import OPENAI_STEP

from .conftest import Emulated, user

# ~2,000 tokens, like the sticky-routing bench's system prompts.
SYSTEM = "You are a careful assistant who answers briefly and exactly. " * 133
SYSTEM_TOKENS = estimate_tokens(len(SYSTEM))
SHORT = "Be brief."


def openai_rounded(tokens: int) -> int:
    return 1024 + (tokens - 1024) // OPENAI_STEP * OPENAI_STEP


def chat(system: str, *turns: str) -> list[dict[str, str]]:
    """A system prompt then alternating user/assistant turns."""
    messages = [{"role": "system", "content": system}]
    for i, text in enumerate(turns):
        messages.append({"role": "user" if i % 2 == 0 else "assistant", "content": text})
    return messages


async def openai_cached(client: openai.AsyncOpenAI, messages: Any, model: str = "gpt-4o") -> int:
    completion = await client.chat.completions.create(model=model, messages=messages)
    assert completion.usage is not None
    assert completion.usage.prompt_tokens_details is not None
    return completion.usage.prompt_tokens_details.cached_tokens or 0


async def test_a_short_chat_never_reports_cached_tokens(emu: Emulated) -> None:
    messages = chat(SHORT, "hi", "hello", "how are you?")
    for _ in range(3):
        assert await openai_cached(emu.gpt, messages) == 0
        message = await emu.claude.messages.create(
            model="claude-sonnet-4-6",
            max_tokens=20,
            system=[{"type": "text", "text": SHORT, "cache_control": {"type": "ephemeral"}}],
            messages=[{"role": "user", "content": "hi"}],
        )
        assert message.usage.cache_read_input_tokens == 0
        assert message.usage.cache_creation_input_tokens == 0
        reply = await emu.gemini.models.generate_content(
            model="gemini-2.5-flash", contents=["hi", "hello", "how are you?"]
        )
        assert reply.usage_metadata is not None
        assert not reply.usage_metadata.cached_content_token_count


async def test_openai_reads_the_longest_cached_prefix_turn_after_turn(emu: Emulated) -> None:
    assert await openai_cached(emu.gpt, chat(SYSTEM, "first question")) == 0
    turn2 = chat(SYSTEM, "first question", "an answer", "second question")
    cached = await openai_cached(emu.gpt, turn2)
    seen = estimate_tokens(len(SYSTEM) + len("first question"))
    assert cached == openai_rounded(seen)
    turn3 = chat(SYSTEM, "first question", "an answer", "second question", "more", "third")
    seen = estimate_tokens(len(SYSTEM) + len("first question an answer second question") - 2)
    assert await openai_cached(emu.gpt, turn3) == openai_rounded(seen)
    # A new conversation with the same system prompt reads only the system prompt.
    assert await openai_cached(emu.gpt, chat(SYSTEM, "other")) == openai_rounded(SYSTEM_TOKENS)


async def test_openai_below_1024_tokens_is_never_cached(in_process: Emulated) -> None:
    system = "x" * (4 * 1000)
    for question in ("a", "b", "c"):
        assert await openai_cached(in_process.gpt, chat(system, question)) == 0


async def test_the_cache_is_per_api_key_and_per_origin(in_process: Emulated) -> None:
    await openai_cached(in_process.gpt, chat(SYSTEM, "q1"))
    other_key = openai.AsyncOpenAI(
        api_key="another-key",
        base_url=in_process.origin + "/v1",
        http_client=in_process.gpt._client,
        max_retries=0,
    )
    assert await openai_cached(other_key, chat(SYSTEM, "q2")) == 0
    assert await openai_cached(other_key, chat(SYSTEM, "q3")) > 0
    assert await openai_cached(in_process.gpt, chat(SYSTEM, "q4")) > 0
    assert await openai_cached(in_process.gpt, chat(SYSTEM, "q5"), model="gpt-4o-mini") == 0
    async with EmulatorServer(in_process.app) as srv:  # the same app at another origin
        elsewhere = openai.AsyncOpenAI(api_key="test-key", base_url=srv.openai_base_url)
        try:
            assert await openai_cached(elsewhere, chat(SYSTEM, "q6")) == 0
        finally:
            await elsewhere.close()
    cache: PromptCache = in_process.app.state.prompt_cache
    stats = cache.stats(api_key="another-key")
    assert (stats.requests, stats.hits) == (2, 1)
    assert stats.read_tokens == openai_rounded(SYSTEM_TOKENS)
    assert cache.stats().requests == 6


async def test_prefixes_expire_after_the_ttl() -> None:
    now = [0.0]
    app = create_app(Scenario(), prompt_cache=PromptCache(ttl_s=300, clock=lambda: now[0]))
    async with EmulatorServer(app) as srv:
        client = openai.AsyncOpenAI(api_key="k", base_url=srv.openai_base_url, max_retries=0)
        try:
            assert await openai_cached(client, chat(SYSTEM, "a")) == 0
            now[0] = 299.0
            assert await openai_cached(client, chat(SYSTEM, "b")) > 0  # a hit refreshes
            now[0] = 598.0
            assert await openai_cached(client, chat(SYSTEM, "c")) > 0
            now[0] = 899.0
            assert await openai_cached(client, chat(SYSTEM, "d")) == 0
        finally:
            await client.close()


def claude_body(model: str, system: str, question: str, *, marked: bool = True) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "text", "text": system}
    if marked:
        block["cache_control"] = {"type": "ephemeral"}
    return {"model": model, "max_tokens": 20, "system": [block], "messages": user(question)}


async def test_claude_caches_only_at_breakpoints_and_bills_the_write(emu: Emulated) -> None:
    create = emu.claude.messages.create
    unmarked = await create(**claude_body("claude-sonnet-4-6", SYSTEM, "a", marked=False))
    again = await create(**claude_body("claude-sonnet-4-6", SYSTEM, "b", marked=False))
    for message in (unmarked, again):
        assert message.usage.cache_read_input_tokens == 0
        assert message.usage.cache_creation_input_tokens == 0
    first = await create(**claude_body("claude-sonnet-4-6", SYSTEM, "c"))
    second = await create(**claude_body("claude-sonnet-4-6", SYSTEM, "d"))
    assert (first.usage.cache_creation_input_tokens, first.usage.cache_read_input_tokens) == (
        SYSTEM_TOKENS,
        0,
    )
    assert (second.usage.cache_creation_input_tokens, second.usage.cache_read_input_tokens) == (
        0,
        SYSTEM_TOKENS,
    )
    total = estimate_tokens(len(SYSTEM) + 1)
    assert second.usage.input_tokens == total - SYSTEM_TOKENS


async def test_claude_minimum_is_2048_tokens_for_haiku(in_process: Emulated) -> None:
    system = "y" * (4 * 1500)  # 1,500 tokens: enough for Sonnet, not for Haiku
    create = in_process.claude.messages.create
    for model, expected in (("claude-haiku-4-5", 0), ("claude-sonnet-4-6", 1500)):
        await create(**claude_body(model, system, "a"))
        second = await create(**claude_body(model, system, "b"))
        assert second.usage.cache_read_input_tokens == expected, model


async def test_claude_reads_an_earlier_breakpoint_and_writes_the_rest(
    in_process: Emulated,
) -> None:
    """The router marks the system prompt and the last message: turn 2 reads turn 1's prefix
    (system and first question) and writes the new part."""

    def body(*turns: str) -> dict[str, Any]:
        messages: list[dict[str, Any]] = [
            {
                "role": "user" if i % 2 == 0 else "assistant",
                "content": [{"type": "text", "text": t}],
            }
            for i, t in enumerate(turns)
        ]
        messages[-1]["content"][0]["cache_control"] = {"type": "ephemeral"}
        return claude_body("claude-sonnet-4-6", SYSTEM, "") | {"messages": messages}

    first = await in_process.claude.messages.create(**body("first question"))
    second = await in_process.claude.messages.create(
        **body("first question", "an answer", "second question")
    )
    turn1 = estimate_tokens(len(SYSTEM) + len("first question"))
    turn2 = estimate_tokens(len(SYSTEM) + len("first questionan answersecond question"))
    assert first.usage.cache_creation_input_tokens == turn1
    assert second.usage.cache_read_input_tokens == turn1
    assert second.usage.cache_creation_input_tokens == turn2 - turn1


async def test_claude_streamed_usage_carries_cache_reads(in_process: Emulated) -> None:
    await in_process.claude.messages.create(**claude_body("claude-sonnet-4-6", SYSTEM, "warm"))
    async with in_process.claude.messages.stream(
        **claude_body("claude-sonnet-4-6", SYSTEM, "now stream")
    ) as stream:
        final = await stream.get_final_message()
    assert final.usage.cache_read_input_tokens == SYSTEM_TOKENS


async def gemini_cached(client: genai.client.AsyncClient, model: str, *turns: str) -> int:
    contents = [
        genai_types.Content(
            role="user" if i % 2 == 0 else "model", parts=[genai_types.Part(text=t)]
        )
        for i, t in enumerate(turns)
    ]
    reply = await client.models.generate_content(
        model=model,
        contents=contents,
        config=genai_types.GenerateContentConfig(system_instruction=SYSTEM),
    )
    assert reply.usage_metadata is not None
    return reply.usage_metadata.cached_content_token_count or 0


async def test_gemini_reports_cached_content_tokens_from_the_second_turn(
    emu: Emulated,
) -> None:
    assert await gemini_cached(emu.gemini, "gemini-2.5-flash", "first") == 0
    cached = await gemini_cached(emu.gemini, "gemini-2.5-flash", "first", "answer", "second")
    assert cached == estimate_tokens(len(SYSTEM) + len("first"))
    # 2.5 Pro's minimum is 4,096 tokens: a 2,000-token prompt is never cached there.
    assert await gemini_cached(emu.gemini, "gemini-2.5-pro", "first") == 0
    assert await gemini_cached(emu.gemini, "gemini-2.5-pro", "first", "answer", "second") == 0


async def test_responses_api_reports_cached_input_tokens(in_process: Emulated) -> None:
    async def cached(*turns: str) -> int:
        items: Any = [
            {"role": "user" if i % 2 == 0 else "assistant", "content": t}
            for i, t in enumerate(turns)
        ]
        response = await in_process.gpt.responses.create(
            model="gpt-4o", instructions=SYSTEM, input=items
        )
        assert response.usage is not None
        return response.usage.input_tokens_details.cached_tokens

    assert await cached("first") == 0
    assert await cached("first", "answer", "second") == openai_rounded(
        estimate_tokens(len(SYSTEM) + len("first"))
    )


@pytest.mark.parametrize("retention", ["24h"])
async def test_openai_extended_retention_outlives_the_default_ttl(retention: str) -> None:
    now = [0.0]
    app = create_app(Scenario(), prompt_cache=PromptCache(clock=lambda: now[0]))
    async with EmulatorServer(app) as srv:
        client = openai.AsyncOpenAI(api_key="k", base_url=srv.openai_base_url, max_retries=0)
        try:
            body = {"model": "gpt-4o", "extra_body": {"prompt_cache_retention": retention}}
            await client.chat.completions.create(messages=chat(SYSTEM, "a"), **body)  # type: ignore[call-overload]
            now[0] = 3_600.0
            completion = await client.chat.completions.create(messages=chat(SYSTEM, "b"), **body)  # type: ignore[call-overload]
            assert completion.usage.prompt_tokens_details.cached_tokens > 0
        finally:
            await client.close()


async def test_pinned_conversations_read_their_history_spread_ones_mostly_do_not() -> None:
    """The sticky-routing bench's shape, small: conversations of 10 turns with their own
    2,000-token system prompt over 4 deployments (API keys). Pinned, every turn after the
    first reads the previous turn's whole prompt (less OpenAI's 128-token rounding);
    spread round-robin, a turn reads only what its deployment saw four turns earlier."""

    async def run(pinned: bool) -> tuple[int, int]:
        app = create_app(Scenario())
        transport = httpx2.ASGITransport(app=app)
        read = cacheable = 0
        async with httpx2.AsyncClient(transport=transport, base_url="http://emu") as http:
            for conversation in range(8):
                system = f"Conversation {conversation}. " + SYSTEM
                history: list[dict[str, str]] = [{"role": "system", "content": system}]
                previous = 0
                for turn in range(10):
                    history.append({"role": "user", "content": f"question {turn}"})
                    key = f"deployment-{conversation % 4 if pinned else turn % 4}"
                    response = await http.post(
                        "/v1/chat/completions",
                        json={"model": "gpt-4o", "messages": history},
                        headers={"authorization": f"Bearer {key}"},
                    )
                    usage = response.json()["usage"]
                    read += usage["prompt_tokens_details"]["cached_tokens"]
                    cacheable += previous
                    previous = usage["prompt_tokens"]
                    history.append({"role": "assistant", "content": f"answer {turn}"})
        return read, cacheable

    pinned_read, cacheable = await run(pinned=True)
    spread_read, _ = await run(pinned=False)
    assert pinned_read >= 0.9 * cacheable
    assert spread_read < 0.9 * pinned_read
