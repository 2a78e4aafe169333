"""pydantic-ai's OpenAI, Anthropic and Google models against the emulator: an agent calls a
tool and reads its result back, and an agent returns a structured output."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest
from pydantic import BaseModel

from automatosx.emulator import EmulatorServer

from .conftest import API_KEY, MODELS

pytest.importorskip("pydantic_ai")

from pydantic_ai import Agent


class City(BaseModel):
    name: str
    population: int


@contextlib.asynccontextmanager
async def model_for(name: str, emulator: EmulatorServer) -> AsyncIterator[Any]:
    """A pydantic-ai model over its SDK's client aimed at the emulator (closed after)."""
    if name == "openai":
        from openai import AsyncOpenAI
        from pydantic_ai.models.openai import OpenAIChatModel
        from pydantic_ai.providers.openai import OpenAIProvider

        openai_client = AsyncOpenAI(api_key=API_KEY, base_url=emulator.openai_base_url)
        async with openai_client:
            yield OpenAIChatModel(
                MODELS[name], provider=OpenAIProvider(openai_client=openai_client)
            )
    elif name == "claude":
        from anthropic import AsyncAnthropic
        from pydantic_ai.models.anthropic import AnthropicModel
        from pydantic_ai.providers.anthropic import AnthropicProvider

        claude = AsyncAnthropic(api_key=API_KEY, base_url=emulator.anthropic_base_url)
        async with claude:
            yield AnthropicModel(MODELS[name], provider=AnthropicProvider(anthropic_client=claude))
    else:
        from google import genai
        from google.genai import types
        from pydantic_ai.models.google import GoogleModel
        from pydantic_ai.providers.google import GoogleProvider

        # an httpx2 client of our own, as the adapter does: google-genai otherwise picks aiohttp
        async with httpx2.AsyncClient() as http:
            options = types.HttpOptions(base_url=emulator.gemini_base_url, httpx_async_client=http)
            client = genai.Client(api_key=API_KEY, http_options=options)
            yield GoogleModel(MODELS[name], provider=GoogleProvider(client=client))


NAMES = ("openai", "claude", "gemini")


@pytest.mark.parametrize("name", NAMES)
async def test_agent_calls_the_tool_and_answers_with_its_result(
    emulator: EmulatorServer, name: str
) -> None:
    asked: list[str] = []
    async with model_for(name, emulator) as model:
        agent = Agent(model)

        @agent.tool_plain
        def get_weather(city: str) -> str:
            """The weather of a city."""
            asked.append(city)
            return "18C and sunny"

        result = await agent.run("Please call get_weather for Paris.")
    assert len(asked) == 1
    assert "18C and sunny" in result.output


@pytest.mark.parametrize("name", NAMES)
async def test_agent_returns_a_structured_output(emulator: EmulatorServer, name: str) -> None:
    async with model_for(name, emulator) as model:
        result = await Agent(model, output_type=City).run("Name a big city.")
    assert isinstance(result.output, City)
