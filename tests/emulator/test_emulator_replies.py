"""Plain and streamed replies parse through the real SDKs, with usage and finish reasons."""

from __future__ import annotations

from google.genai import types as genai_types

from automatosx.emulator import Prompt, compose_reply, estimate_tokens
from automatosx.emulator._gemini import google_duration
from automatosx.emulator._openai import go_duration

from .conftest import Emulated, user

QUESTION = "What is the capital of France, and why is it Paris?"


async def test_claude_reply_parses_with_usage_and_echoed_model(emu: Emulated) -> None:
    message = await emu.claude.messages.create(
        model="claude-sonnet-4-6", max_tokens=200, messages=user(QUESTION)
    )
    text = message.content[0].text  # type: ignore[union-attr]
    assert text.startswith("Emulated reply from claude-sonnet-4-6 to: What is the capital")
    assert message.model == "claude-sonnet-4-6"
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens == estimate_tokens(len(QUESTION))
    assert message.usage.output_tokens == len(text.split())


async def test_claude_reply_is_deterministic(emu: Emulated) -> None:
    texts = set()
    for _ in range(2):
        message = await emu.claude.messages.create(
            model="claude-sonnet-4-6", max_tokens=200, messages=user(QUESTION)
        )
        texts.add(message.content[0].text)  # type: ignore[union-attr]
    assert len(texts) == 1


async def test_claude_max_tokens_truncates_with_stop_reason_max_tokens(emu: Emulated) -> None:
    message = await emu.claude.messages.create(
        model="claude-haiku-4-5", max_tokens=5, messages=user(QUESTION)
    )
    assert message.stop_reason == "max_tokens"
    assert message.usage.output_tokens == 5
    assert len(message.content[0].text.split()) == 5  # type: ignore[union-attr]


async def test_claude_stream_yields_every_event_type_and_final_usage(emu: Emulated) -> None:
    stream = await emu.claude.messages.create(
        model="claude-sonnet-4-6", max_tokens=200, messages=user(QUESTION), stream=True
    )
    types, deltas, output_tokens = [], [], None
    async for event in stream:
        types.append(event.type)
        if event.type == "content_block_delta" and event.delta.type == "text_delta":
            deltas.append(event.delta.text)
        if event.type == "message_delta":
            output_tokens = event.usage.output_tokens
            assert event.delta.stop_reason == "end_turn"
    assert types[:2] == ["message_start", "content_block_start"]
    assert types[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert len(deltas) > 2
    text = "".join(deltas)
    assert text.startswith("Emulated reply from claude-sonnet-4-6")
    assert output_tokens == len(text.split())


async def test_claude_stream_helper_accumulates_the_final_message(emu: Emulated) -> None:
    async with emu.claude.messages.stream(
        model="claude-sonnet-4-6", max_tokens=200, messages=user(QUESTION)
    ) as stream:
        message = await stream.get_final_message()
    assert message.content[0].text.startswith("Emulated reply")  # type: ignore[union-attr]
    assert message.usage.output_tokens > 0


async def test_openai_reply_parses_with_usage(emu: Emulated) -> None:
    completion = await emu.gpt.chat.completions.create(model="gpt-4o-mini", messages=user(QUESTION))
    choice = completion.choices[0]
    assert choice.message.content is not None
    assert choice.message.content.startswith("Emulated reply from gpt-4o-mini to: What is")
    assert choice.finish_reason == "stop"
    assert completion.model == "gpt-4o-mini"
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == estimate_tokens(len(QUESTION))
    assert completion.usage.completion_tokens == len(choice.message.content.split())
    assert completion.usage.total_tokens == (
        completion.usage.prompt_tokens + completion.usage.completion_tokens
    )


async def test_openai_max_completion_tokens_gives_finish_reason_length(emu: Emulated) -> None:
    completion = await emu.gpt.chat.completions.create(
        model="gpt-4o", messages=user(QUESTION), max_completion_tokens=3
    )
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 3


async def test_openai_stream_with_include_usage_ends_with_a_usage_chunk(emu: Emulated) -> None:
    stream = await emu.gpt.chat.completions.create(
        model="gpt-4o",
        messages=user(QUESTION),
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("Emulated reply from gpt-4o")
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == len(text.split())
    assert all(c.usage is None for c in chunks[:-1])
    assert len(chunks) > 4


async def test_openai_stream_without_include_usage_has_no_usage(emu: Emulated) -> None:
    stream = await emu.gpt.chat.completions.create(
        model="gpt-4o", messages=user(QUESTION), stream=True
    )
    chunks = [chunk async for chunk in stream]
    assert all(c.choices for c in chunks)
    assert all(c.usage is None for c in chunks)


async def test_gemini_reply_parses_with_usage_metadata(emu: Emulated) -> None:
    response = await emu.gemini.models.generate_content(model="gemini-2.5-flash", contents=QUESTION)
    assert response.text is not None
    assert response.text.startswith("Emulated reply from gemini-2.5-flash to: What is")
    assert response.candidates is not None
    assert response.candidates[0].finish_reason == genai_types.FinishReason.STOP
    usage = response.usage_metadata
    assert usage is not None
    assert usage.prompt_token_count == estimate_tokens(len(QUESTION))
    assert usage.candidates_token_count == len(response.text.split())
    assert response.model_version == "gemini-2.5-flash"


async def test_gemini_max_output_tokens_gives_finish_reason_max_tokens(emu: Emulated) -> None:
    response = await emu.gemini.models.generate_content(
        model="gemini-2.5-pro",
        contents=QUESTION,
        config=genai_types.GenerateContentConfig(max_output_tokens=4),
    )
    assert response.candidates is not None
    assert response.candidates[0].finish_reason == genai_types.FinishReason.MAX_TOKENS
    assert response.usage_metadata is not None
    assert response.usage_metadata.candidates_token_count == 4


async def test_gemini_stream_has_cumulative_usage_and_finish_reason_last(emu: Emulated) -> None:
    stream = await emu.gemini.models.generate_content_stream(
        model="gemini-2.5-flash", contents=QUESTION
    )
    chunks = [chunk async for chunk in stream]
    assert len(chunks) > 2
    counts = [c.usage_metadata.candidates_token_count for c in chunks]  # type: ignore[union-attr]
    assert counts == sorted(counts)
    reasons = [c.candidates[0].finish_reason for c in chunks]  # type: ignore[index]
    assert reasons[:-1] == [None] * (len(chunks) - 1)
    assert reasons[-1] == genai_types.FinishReason.STOP
    text = "".join(c.text or "" for c in chunks)
    assert counts[-1] == len(text.split())


async def test_gemini_v1beta_api_version_is_served_too(emu: Emulated) -> None:
    response = await emu.gemini.models.generate_content(
        model="gemini-2.0-flash",
        contents="hello",
        config=genai_types.GenerateContentConfig(
            http_options=genai_types.HttpOptions(api_version="v1beta")
        ),
    )
    assert response.text is not None
    assert response.text.startswith("Emulated reply from gemini-2.0-flash")


async def test_model_listings_answer_each_sdk(emu: Emulated) -> None:
    claude_models = [m.id async for m in emu.claude.models.list()]
    gpt_models = [m.id async for m in await emu.gpt.models.list()]
    gemini_models = [m.name async for m in await emu.gemini.models.list()]
    assert "claude-sonnet-4-6" in claude_models
    assert "gpt-4o" in gpt_models
    assert "models/gemini-2.5-flash" in gemini_models
    model = await emu.gemini.models.get(model="gemini-2.5-flash")
    assert model.name == "models/gemini-2.5-flash"


async def test_rate_limit_headers_look_like_each_service(emu: Emulated) -> None:
    raw = await emu.claude.messages.with_raw_response.create(
        model="claude-sonnet-4-6", max_tokens=50, messages=user("hi")
    )
    assert raw.headers["request-id"].startswith("req_")
    assert raw.headers["anthropic-ratelimit-requests-limit"] == "4000"
    assert raw.headers["anthropic-ratelimit-requests-remaining"] == "3999"
    assert raw.headers["anthropic-ratelimit-requests-reset"].endswith("Z")
    assert "anthropic-ratelimit-tokens-remaining" in raw.headers
    raw_gpt = await emu.gpt.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=user("hi")
    )
    assert raw_gpt.headers["x-request-id"]
    assert raw_gpt.headers["x-ratelimit-remaining-requests"] == "3999"
    assert raw_gpt.headers["x-ratelimit-reset-requests"].endswith("s")
    assert "x-ratelimit-remaining-tokens" in raw_gpt.headers


def test_reply_length_follows_max_tokens() -> None:
    base = Prompt(model="m", last_user_text="a b c", prompt_chars=5, max_tokens=None, stream=False)
    full = compose_reply(base)
    assert not full.truncated
    cut = compose_reply(Prompt("m", "a b c", 5, max_tokens=3, stream=False))
    assert cut.truncated
    assert cut.words == full.words[:3]
    assert "".join(full.chunks()) == full.text


def test_reset_durations_are_formatted_like_the_services() -> None:
    assert go_duration(0.006) == "6ms"
    assert go_duration(1) == "1s"
    assert go_duration(1.5) == "1.5s"
    assert go_duration(360) == "6m0s"
    assert go_duration(3725) == "1h2m5s"
    assert google_duration(2) == "2s"
    assert google_duration(0.2) == "0.200s"
