"""create_provider, provider_from_env, lazy SDK imports, client lifecycle and settings."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

import httpx2
import pytest

from automatosx.errors import ConfigurationError, ServerError
from automatosx.providers import (
    Provider,
    create_provider,
    provider_from_env,
    providers_from_env,
)
from automatosx.providers.anthropic import AnthropicProvider
from automatosx.providers.gemini import GeminiProvider
from automatosx.providers.openai import OpenAIProvider

from .conftest import API_KEY, MODELS, NAMES, Wire, json_response, make_config, make_request

CLASSES: dict[str, type[Any]] = {
    "claude": AnthropicProvider,
    "openai": OpenAIProvider,
    "gemini": GeminiProvider,
}
ENV_KEYS = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for var in ENV_KEYS:
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def run_python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("name", NAMES)
async def test_create_provider_builds_the_adapter_from_a_config(name: str) -> None:
    provider = create_provider(make_config(name))
    try:
        assert type(provider) is CLASSES[name]
        assert isinstance(provider, Provider)
        assert provider.name == name
        assert provider.rate_limit is None
        assert API_KEY not in repr(provider)
    finally:
        await provider.aclose()


async def test_create_provider_accepts_a_seed_shaped_camel_case_dict() -> None:
    provider = create_provider(
        {
            "name": "openai",
            "apiKey": API_KEY,
            "baseUrl": "http://127.0.0.1:1/v1",
            "timeout": 1500,
            "rateLimits": {"requestsPerMinute": 10},
            "models": ["gpt-4o-mini"],
            "defaultModel": "gpt-4o-mini",
        }
    )
    assert isinstance(provider, OpenAIProvider)
    assert str(provider._client.base_url) == "http://127.0.0.1:1/v1/"
    await provider.aclose()


def test_an_invalid_config_dict_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match=r"defaultModel|default_model"):
        create_provider(
            {"name": "claude", "apiKey": API_KEY, "rateLimits": {"requestsPerMinute": 1}}
        )


@pytest.mark.parametrize(
    ("name", "variables"),
    [
        ("claude", "ANTHROPIC_API_KEY"),
        ("openai", "OPENAI_API_KEY"),
        ("gemini", "GOOGLE_API_KEY or GEMINI_API_KEY"),
    ],
)
def test_missing_api_key_names_the_environment_variable(
    clean_env: pytest.MonkeyPatch, name: str, variables: str
) -> None:
    with pytest.raises(ConfigurationError, match=variables):
        create_provider(make_config(name, api_key=None))


@pytest.mark.parametrize(
    ("name", "variable"), [("claude", "ANTHROPIC_API_KEY"), ("gemini", "GEMINI_API_KEY")]
)
async def test_api_key_comes_from_the_environment_when_the_config_has_none(
    clean_env: pytest.MonkeyPatch, name: str, variable: str
) -> None:
    clean_env.setenv(variable, "sk-from-env-0123456789abcdef")
    wire = Wire(json_response(200, {}))
    provider = create_provider(make_config(name, api_key=None), http_client=wire.client)
    await provider.check_health()
    sent = wire.requests[-1].headers
    assert "sk-from-env-0123456789abcdef" in (
        sent.get("authorization", "") + sent.get("x-goog-api-key", "")
    )
    await provider.aclose()
    await wire.client.aclose()


def test_provider_from_env_is_none_without_a_key(clean_env: pytest.MonkeyPatch) -> None:
    assert provider_from_env("claude") is None
    assert providers_from_env() == []


def test_provider_from_env_gives_defaults(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("OPENAI_API_KEY", "sk-a")
    clean_env.setenv("GEMINI_API_KEY", "g-key")
    config = provider_from_env("openai")
    assert config is not None
    assert config.default_model == "gpt-4o-mini"
    assert config.models == ["gpt-4o-mini"]
    assert config.rate_limits.requests_per_minute > 0
    assert config.api_key is None  # the key stays in the environment
    gemini = provider_from_env("gemini")
    assert gemini is not None
    assert gemini.default_model == "gemini-2.5-flash"
    assert [c.name for c in providers_from_env()] == ["openai", "gemini"]


def test_provider_from_env_default_claude_model(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("ANTHROPIC_API_KEY", "sk-ant-x")
    config = provider_from_env("claude")
    assert config is not None
    assert config.default_model == MODELS["claude"]


def test_default_claude_model_is_not_deprecated_by_the_sdk() -> None:
    from anthropic.resources.messages.messages import DEPRECATED_MODELS

    assert MODELS["claude"] not in DEPRECATED_MODELS


def test_unknown_provider_name_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="unknown provider"):
        provider_from_env("mistral")


def test_importing_providers_imports_no_sdk() -> None:
    out = run_python(
        """
        import sys
        import automatosx.providers
        sdks = ["anthropic", "openai", "google.genai", "httpx2", "genai_prices"]
        print(sorted(m for m in sdks if m in sys.modules))
        """
    )
    assert out.strip() == "[]"


@pytest.mark.parametrize(
    ("name", "sdk", "extra"),
    [
        ("claude", "anthropic", "claude"),
        ("openai", "openai", "openai"),
        ("gemini", "google.genai", "gemini"),
    ],
)
def test_missing_sdk_names_the_extra_to_install(name: str, sdk: str, extra: str) -> None:
    out = run_python(
        f"""
        import sys
        sys.modules[{sdk!r}] = None  # as if not installed
        from automatosx.errors import ConfigurationError
        from automatosx.providers import create_provider
        try:
            create_provider({{"name": {name!r}, "apiKey": "k", "models": ["m"],
                             "rateLimits": {{"requestsPerMinute": 1}}, "defaultModel": "m"}})
        except ConfigurationError as exc:
            print(exc)
        """
    )
    assert f"pip install 'automatosx[{extra}]'" in out


@pytest.mark.parametrize("name", NAMES)
async def test_sdk_client_has_retries_off_and_the_configured_timeout(name: str) -> None:
    provider = create_provider(make_config(name, timeout=1234))
    client: Any = provider._client  # type: ignore[attr-defined]
    try:
        if name == "gemini":
            options = client._api_client._http_options
            assert options.retry_options is None
            assert options.timeout == 1234
        else:
            assert client.max_retries == 0
            assert client.timeout == 1.234
    finally:
        await provider.aclose()


@pytest.mark.parametrize("name", NAMES)
async def test_injected_http_client_is_used_and_left_open(name: str) -> None:
    wire = Wire(json_response(500, {"error": {"message": "boom"}}))
    provider = create_provider(make_config(name), http_client=wire.client)
    with pytest.raises(ServerError):
        await provider.execute(make_request())
    assert len(wire.requests) == 1  # no SDK retry either
    await provider.aclose()
    await provider.aclose()  # idempotent
    assert not wire.client.is_closed
    await wire.client.aclose()


@pytest.mark.parametrize("name", NAMES)
async def test_aclose_closes_the_adapter_s_own_http_client(name: str) -> None:
    provider = create_provider(make_config(name))
    client: Any = provider._client  # type: ignore[attr-defined]
    own = provider._http if name == "gemini" else client._client  # type: ignore[attr-defined]
    assert isinstance(own, httpx2.AsyncClient)
    await provider.aclose()
    assert own.is_closed
    await provider.aclose()
