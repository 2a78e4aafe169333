"""Configuration a careless user writes is refused before any request, with a
ConfigurationError naming the entry (issue 19, item 11): never read silently as something
else. Ids like ``east`` with no price overrides, as users write them."""

from __future__ import annotations

from typing import Any

import pytest

from automatosx import Router
from automatosx.errors import ConfigurationError, RequestValidationError

KEY = "sk-test-config-0123456789abcdef"


def deployment(id: str, **fields: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "name": "openai",
        "id": id,
        "apiKey": KEY,
        "baseUrl": "http://127.0.0.1:9/v1",
        "rateLimits": {"requestsPerMinute": 600},
        "models": ["gpt-4o-mini"],
        "defaultModel": "gpt-4o-mini",
    }
    values.update(fields)
    return values


async def refused(options: dict[str, Any], providers: list[dict[str, Any]]) -> str:
    """The message of the ConfigurationError raised by construction or ``open()``."""
    try:
        router = Router(options, providers, store=None)
    except ConfigurationError as exc:
        return str(exc)
    with pytest.raises(ConfigurationError) as info:
        await router.open()
    return str(info.value)


async def test_a_deployment_id_equal_to_another_deployments_group_is_refused() -> None:
    providers = [deployment("east", group="us"), deployment("west", group="east")]
    message = await refused({"primaryProvider": "us"}, providers)
    assert "'east'" in message
    assert "group" in message


async def test_an_id_that_is_its_own_groups_name_is_accepted() -> None:
    providers = [deployment("east"), deployment("east-2", group="east")]
    async with Router({"primaryProvider": "east"}, providers, store=None) as router:
        assert set(router.providers) == {"east", "east-2"}


@pytest.mark.parametrize("weight", ["3", True, 2.0])
async def test_a_weight_that_is_not_an_integer_is_refused(weight: object) -> None:
    providers = [deployment("east", group="us", weight=weight), deployment("west", group="us")]
    message = await refused({"primaryProvider": "us"}, providers)
    assert "weight" in message


@pytest.mark.parametrize(
    ("field", "value"),
    [("timeout", "5000"), ("maxRetries", True), ("enabled", "yes"), ("priority", 1.0)],
)
async def test_provider_numbers_and_flags_take_no_coercion(field: str, value: object) -> None:
    message = await refused({"primaryProvider": "east"}, [deployment("east", **{field: value})])
    assert field in message


async def test_a_rate_limit_given_as_a_string_is_refused() -> None:
    east = deployment("east", rateLimits={"requestsPerMinute": "600"})
    assert "requestsPerMinute" in await refused({"primaryProvider": "east"}, [east])


@pytest.mark.parametrize("after_ms", [True, "100", 1.5])
async def test_hedging_after_ms_true_is_not_read_as_one_ms(after_ms: object) -> None:
    options = {"primaryProvider": "east", "hedging": {"afterMs": after_ms}}
    message = await refused(options, [deployment("east")])
    assert "afterMs" in message


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("maxRetryWaitMs", "300"),
        ("enableFallback", "false"),
        ("circuitBreakerThreshold", True),
        ("restartStreams", 0),
    ],
)
async def test_router_option_numbers_and_flags_take_no_coercion(field: str, value: object) -> None:
    message = await refused({"primaryProvider": "east", field: value}, [deployment("east")])
    assert field in message


def test_a_bad_option_is_still_a_request_validation_error_with_its_fields() -> None:
    with pytest.raises(RequestValidationError) as info:
        Router({"primaryProvider": "east", "hedging": {"afterMs": True}}, [], store=None)
    assert info.value.errors
    assert info.value.errors[0]["loc"][:2] == ("hedging", "afterMs")


async def test_backoff_base_above_backoff_cap_is_refused() -> None:
    options = {"primaryProvider": "east", "backoffBaseMs": 500, "backoffCapMs": 100}
    message = await refused(options, [deployment("east")])
    assert "backoffBaseMs" in message
    assert "backoffCapMs" in message


async def test_a_default_model_not_in_models_is_refused() -> None:
    east = deployment("east", models=["gpt-4o-mini"], defaultModel="gpt-4o")
    message = await refused({"primaryProvider": "east"}, [east])
    assert "defaultModel" in message
    assert "'gpt-4o'" in message


async def test_a_fallback_naming_the_primary_is_refused() -> None:
    providers = [deployment("east"), deployment("west")]
    message = await refused({"primaryProvider": "east", "fallbackProviders": ["east"]}, providers)
    assert "fallbackProviders" in message
    assert "'east'" in message


async def test_valid_numbers_and_flags_still_load() -> None:
    options = {
        "primaryProvider": "us",
        "hedging": {"afterMs": 50, "maxExtraPercent": 5},
        "backoffBaseMs": 100,
        "backoffCapMs": 100,
        "enableFallback": False,
    }
    providers = [
        deployment("east", group="us", weight=3, timeout=5_000, enabled=True),
        deployment("west", group="us"),
    ]
    async with Router(options, providers, store=None) as router:
        assert set(router.providers) == {"east", "west"}
