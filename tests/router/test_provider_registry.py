"""Adding a provider kind is one registry entry (plus its adapter); a user's adapter may have
any non-empty name, and the store records it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from automatosx import ConfigurationError, Router
from automatosx.providers import (
    ProviderKind,
    create_provider,
    provider_kind,
    register_provider_kind,
    unregister_provider_kind,
)
from automatosx.store import open_store

from .conftest import ScriptedProvider


class EchoAdapter(ScriptedProvider):
    """A fourth kind's adapter, built from a ProviderConfig like the built-in ones."""

    def __init__(self, config: Any, *, http_client: Any = None) -> None:
        super().__init__(config.name, default_model=config.default_model)
        self.config = config


@pytest.fixture
def echo_kind() -> Iterator[ProviderKind]:
    kind = ProviderKind("echo", EchoAdapter, default_model="echo-1")
    register_provider_kind(kind)
    try:
        yield kind
    finally:
        unregister_provider_kind("echo")


ECHO_CONFIG = {
    "name": "echo",
    "rateLimits": {"requestsPerMinute": 1000},
    "models": ["echo-1"],
    "defaultModel": "echo-1",
}


async def test_a_fourth_kind_is_one_registry_entry(echo_kind: ProviderKind, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    async with Router({"primaryProvider": "echo"}, [ECHO_CONFIG], store=url) as router:
        reply = await router.execute({"messages": [{"role": "user", "content": "hi"}]})
    assert reply.provider == "echo"
    assert reply.content == "echo says hi"
    assert reply.cost is None  # no genai-prices name and no configured prices
    async with open_store(url) as store:
        row = await store.get_request(reply.request_id)
    assert row is not None
    assert row.request.provider == "echo"
    assert [a.provider for a in row.attempts] == ["echo"]


def test_an_unregistered_kind_is_refused_naming_the_kinds() -> None:
    with pytest.raises(ConfigurationError, match=r"unknown provider kind 'nope'.*claude"):
        provider_kind("nope")


def test_create_provider_builds_a_registered_kind(echo_kind: ProviderKind) -> None:
    adapter = create_provider(ECHO_CONFIG)
    assert isinstance(adapter, EchoAdapter)
    assert adapter.name == "echo"


def test_a_builtin_kind_cannot_be_replaced() -> None:
    with pytest.raises(ConfigurationError, match="already registered"):
        register_provider_kind(ProviderKind("claude", EchoAdapter), replace=True)
    with pytest.raises(TypeError, match="ProviderKind"):
        register_provider_kind("claude")  # type: ignore[arg-type]


async def test_a_user_adapter_may_have_any_name(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    mine = ScriptedProvider("my-llm.v2")
    async with Router({"primaryProvider": "my-llm.v2"}, [mine], store=url) as router:
        reply = await router.execute({"messages": [{"role": "user", "content": "hi"}]})
    assert reply.provider == "my-llm.v2"
    async with open_store(url) as store:
        row = await store.get_request(reply.request_id)
    assert row is not None
    assert row.response is not None
    assert row.response.provider == "my-llm.v2"
