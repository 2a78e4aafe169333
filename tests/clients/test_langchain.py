"""LangChain's ChatOpenAI against the emulator: ``bind_tools`` gets a tool call back, and
``with_structured_output`` a parsed model."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx2
import pytest
from pydantic import BaseModel, Field, SecretStr

from automatosx.emulator import EmulatorServer

from .conftest import API_KEY, MODELS

pytest.importorskip("langchain_openai")

from langchain_openai import ChatOpenAI


class GetWeather(BaseModel):
    """The weather of a city."""

    city: str = Field(description="The city")


class City(BaseModel):
    name: str
    population: int


@pytest.fixture
async def http() -> AsyncIterator[httpx2.AsyncClient]:
    """A client per test: ChatOpenAI's default one is cached across event loops."""
    async with httpx2.AsyncClient() as client:
        yield client


def chat(emulator: EmulatorServer, http: httpx2.AsyncClient) -> ChatOpenAI:
    return ChatOpenAI(
        model=MODELS["openai"],
        base_url=emulator.openai_base_url,
        api_key=SecretStr(API_KEY),
        max_retries=0,
        http_async_client=http,
    )


async def test_bind_tools_gets_the_tool_call(
    emulator: EmulatorServer, http: httpx2.AsyncClient
) -> None:
    llm = chat(emulator, http).bind_tools([GetWeather], tool_choice="GetWeather")
    message = await llm.ainvoke("What is the weather in Paris?")
    assert len(message.tool_calls) == 1
    call = message.tool_calls[0]
    assert call["name"] == "GetWeather"
    assert isinstance(GetWeather.model_validate(call["args"]).city, str)
    assert call["id"]


async def test_with_structured_output_returns_the_model(
    emulator: EmulatorServer, http: httpx2.AsyncClient
) -> None:
    llm = chat(emulator, http).with_structured_output(City, method="json_schema")
    city = await llm.ainvoke("Name a big city.")
    assert isinstance(city, City)
