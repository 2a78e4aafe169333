"""``ProviderResponse.tool_calls`` is always a list, and ``to_message()`` turns a reply into
the next turn's assistant message — checked on models here, and through a real tool loop that
moves from Claude to OpenAI over the emulator."""

from __future__ import annotations

from typing import Any

from automatosx import Message, ProviderConfig, ProviderRequest, ProviderResponse, Router
from automatosx.emulator import EmulatorServer, Scenario
from automatosx.schemas import ToolCall

WEATHER = {
    "name": "get_weather",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def reply(**fields: Any) -> ProviderResponse:
    doc: dict[str, Any] = {
        "requestId": "6f1c1b0e-8f5e-4c43-9d0b-6f1f3f0a2b11",
        "provider": "claude",
        "model": "claude-sonnet-4-6",
        "content": "",
        "tokens": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2},
        "duration": 1,
        **fields,
    }
    return ProviderResponse.model_validate(doc)


def test_a_reply_without_tool_calls_has_an_empty_list_left_out_of_dumps() -> None:
    response = reply(content="Hi.")
    assert response.tool_calls == []
    assert list(response.tool_calls) == []  # iterable, never None
    assert "toolCalls" not in response.model_dump(by_alias=True)
    assert reply(content="Hi.", toolCalls=None).tool_calls == []


def test_to_message_carries_text_and_tool_calls() -> None:
    call = {"id": "toolu_1", "name": "get_weather", "arguments": {"city": "Oslo"}}
    message = reply(content="Checking.", toolCalls=[call]).to_message()
    assert isinstance(message, Message)
    assert message.role == "assistant"
    assert message.content == "Checking."
    assert message.tool_calls == [ToolCall.model_validate(call)]
    assert reply(content="Plain.").to_message().tool_calls is None
    only_calls = reply(content="", toolCalls=[call]).to_message()
    assert only_calls.content is None
    assert only_calls.tool_calls is not None


async def test_a_tool_loop_with_to_message_continues_on_another_provider() -> None:
    async with EmulatorServer(Scenario()) as emulator:
        providers = [
            ProviderConfig(
                name="claude",
                api_key="sk-emulated",
                base_url=emulator.anthropic_base_url,
                models=["claude-sonnet-4-6"],
                default_model="claude-sonnet-4-6",
                rate_limits={"requests_per_minute": 600},
            ),
            ProviderConfig(
                name="openai",
                api_key="sk-emulated",
                base_url=emulator.openai_base_url,
                models=["gpt-4o-mini"],
                default_model="gpt-4o-mini",
                rate_limits={"requests_per_minute": 600},
            ),
        ]
        options = {"primaryProvider": "claude", "fallbackProviders": ["openai"]}
        async with Router(options, providers, store=None) as router:
            messages: list[Any] = [{"role": "user", "content": "Weather in Oslo? Use get_weather."}]
            first = await router.execute({"messages": messages, "tools": [WEATHER]})
            assert first.provider == "claude"
            assert [call.name for call in first.tool_calls] == ["get_weather"]
            messages.append(first.to_message())
            for call in first.tool_calls:
                messages.append({"role": "tool", "toolCallId": call.id, "content": "-3C, snow"})
            request = ProviderRequest.model_validate(
                {"messages": messages, "tools": [WEATHER], "provider": "openai"}
            )
            second = await router.execute(request)
            assert second.provider == "openai"
            assert second.tool_calls == []
            assert "-3C, snow" in second.content
