"""Images are accepted and counted; reasoning and thinking usage details appear when the
request asks for them. (Prompt caching: test_emulator_prompt_cache.py.)"""

from __future__ import annotations

from google.genai import types as genai_types

from automatosx.emulator import estimate_tokens
from automatosx.emulator._features import IMAGE_TOKENS, REASONING_TOKENS

from .conftest import Emulated, user

PIXEL = (  # a 1x1 PNG
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGA"
    "hKmMIQAAAABJRU5ErkJggg=="
)
TEXT = "What is in this picture?"


async def test_claude_image_blocks_add_a_fixed_count_each(in_process: Emulated) -> None:
    message = await in_process.claude.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=100,
        messages=[
            {
                "role": "user",
                "content": [
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": PIXEL},
                    },
                    {
                        "type": "image",
                        "source": {"type": "url", "url": "https://example.com/a.png"},
                    },
                    {"type": "text", "text": TEXT},
                ],
            }
        ],
    )
    assert message.usage.input_tokens == estimate_tokens(len(TEXT)) + 2 * IMAGE_TOKENS


async def test_openai_image_url_parts_add_a_fixed_count_each(in_process: Emulated) -> None:
    completion = await in_process.gpt.chat.completions.create(
        model="gpt-4o",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": TEXT},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                ],
            }
        ],
    )
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == estimate_tokens(len(TEXT)) + 2 * IMAGE_TOKENS


async def test_gemini_inline_and_file_data_add_a_fixed_count_each(in_process: Emulated) -> None:
    import base64

    contents = [
        genai_types.Content(
            role="user",
            parts=[
                genai_types.Part(text=TEXT),
                genai_types.Part.from_bytes(data=base64.b64decode(PIXEL), mime_type="image/png"),
                genai_types.Part.from_uri(file_uri="gs://bucket/a.png", mime_type="image/png"),
            ],
        )
    ]
    response = await in_process.gemini.models.generate_content(
        model="gemini-2.5-flash", contents=contents
    )
    usage = response.usage_metadata
    assert usage is not None
    assert usage.prompt_tokens_details is not None
    image = [
        d for d in usage.prompt_tokens_details if d.modality == genai_types.MediaModality.IMAGE
    ]
    assert image[0].token_count == 2 * IMAGE_TOKENS


async def test_openai_reasoning_effort_reports_reasoning_tokens(emu: Emulated) -> None:
    completion = await emu.gpt.chat.completions.create(
        model="o3-mini", messages=user("think"), reasoning_effort="high"
    )
    usage = completion.usage
    assert usage is not None
    assert usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == REASONING_TOKENS["high"]
    text = completion.choices[0].message.content or ""
    assert usage.completion_tokens == len(text.split()) + REASONING_TOKENS["high"]


async def test_openai_streamed_usage_carries_reasoning_tokens(in_process: Emulated) -> None:
    stream = await in_process.gpt.chat.completions.create(
        model="o3-mini",
        messages=user("think"),
        reasoning_effort="low",
        stream=True,
        stream_options={"include_usage": True},
    )
    usages = [c.usage async for c in stream if c.usage is not None]
    details = usages[-1].completion_tokens_details
    assert details is not None
    assert details.reasoning_tokens == REASONING_TOKENS["low"]


async def test_claude_thinking_returns_a_thinking_block_first(in_process: Emulated) -> None:
    message = await in_process.claude.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=2000,
        messages=user("Why is the sky blue?"),
        thinking={"type": "enabled", "budget_tokens": 1024},
    )
    assert [b.type for b in message.content] == ["thinking", "text"]
    assert "Why is the sky blue?" in message.content[0].thinking  # type: ignore[union-attr]


async def test_claude_streamed_thinking_arrives_before_the_text(loopback: Emulated) -> None:
    async with loopback.claude.messages.stream(
        model="claude-sonnet-4-6",
        max_tokens=2000,
        messages=user("Why is the sky blue?"),
        thinking={"type": "enabled", "budget_tokens": 1024},
    ) as stream:
        kinds = [e.delta.type async for e in stream if e.type == "content_block_delta"]  # type: ignore[union-attr]
        final = await stream.get_final_message()
    assert kinds[:2] == ["thinking_delta", "signature_delta"]
    assert set(kinds[2:]) == {"text_delta"}
    assert final.content[0].type == "thinking"
    assert final.content[0].signature


async def test_gemini_thinking_config_reports_thoughts_tokens(in_process: Emulated) -> None:
    config = genai_types.GenerateContentConfig(
        thinking_config=genai_types.ThinkingConfig(thinking_budget=50)
    )
    response = await in_process.gemini.models.generate_content(
        model="gemini-2.5-flash", contents="think", config=config
    )
    usage = response.usage_metadata
    assert usage is not None
    assert usage.thoughts_token_count == 50
    assert usage.total_token_count == (
        (usage.prompt_token_count or 0) + (usage.candidates_token_count or 0) + 50
    )


async def test_gemini_streamed_usage_carries_thoughts_tokens(in_process: Emulated) -> None:
    config = genai_types.GenerateContentConfig(
        thinking_config=genai_types.ThinkingConfig(thinking_budget=-1)
    )
    chunks = [
        c
        async for c in await in_process.gemini.models.generate_content_stream(
            model="gemini-2.5-flash", contents="think", config=config
        )
    ]
    last = chunks[-1].usage_metadata
    assert last is not None
    assert last.thoughts_token_count == 128
