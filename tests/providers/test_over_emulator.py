"""Every adapter through its real SDK over real HTTP: the emulator served on loopback."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable

import pytest

from automatosx.emulator import Rule, Scenario
from automatosx.errors import (
    AuthenticationError,
    InvalidRequestError,
    ModelNotFoundError,
    OverloadedError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    ServerError,
)
from automatosx.providers import Provider

from .conftest import API_KEY, MODELS, NAMES, collect, make_request

Make = Callable[..., Provider]
MODES = ("execute", "stream")


async def attempt(provider: Provider, mode: str) -> None:
    request = make_request(max_tokens=50)
    if mode == "execute":
        await provider.execute(request)
    else:
        await collect(provider, request)


@pytest.mark.parametrize("name", NAMES)
async def test_execute_returns_text_usage_and_stop(live_provider: Make, name: str) -> None:
    provider = live_provider(name)
    request = make_request(max_tokens=200)
    response = await provider.execute(request)
    assert response.provider == name
    assert response.request_id == request.request_id
    assert response.model == MODELS[name]
    assert response.content.startswith(f"Emulated reply from {MODELS[name]} to: Hello there")
    assert response.finish_reason == "stop"
    tokens = response.tokens
    assert tokens.input_tokens > 0
    assert tokens.output_tokens == len(response.content.split())
    assert tokens.total_tokens == tokens.input_tokens + tokens.output_tokens
    assert response.duration >= 0
    assert response.created_at > 1_600_000_000_000


@pytest.mark.parametrize("name", NAMES)
async def test_stream_yields_text_in_order_then_one_stream_end(
    live_provider: Make, name: str
) -> None:
    provider = live_provider(name)
    whole = await provider.execute(make_request(max_tokens=200))
    chunks, end = await collect(provider, make_request(max_tokens=200))
    assert len(chunks) > 1
    assert "".join(chunks) == whole.content
    assert end.finish_reason == "stop"
    assert end.model == MODELS[name]
    assert end.usage.output_tokens == whole.tokens.output_tokens
    assert end.usage.input_tokens == whole.tokens.input_tokens
    assert end.usage.total_tokens == end.usage.input_tokens + end.usage.output_tokens


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("mode", MODES)
async def test_max_tokens_cut_reports_length(live_provider: Make, name: str, mode: str) -> None:
    provider = live_provider(name)
    request = make_request(max_tokens=3)
    if mode == "execute":
        response = await provider.execute(request)
        finish, output = response.finish_reason, response.tokens.output_tokens
    else:
        _, end = await collect(provider, request)
        finish, output = end.finish_reason, end.usage.output_tokens
    assert finish == "length"
    assert output == 3


STATUS_CLASSES: list[tuple[int, type[ProviderError]]] = [
    (400, InvalidRequestError),
    (401, AuthenticationError),
    (403, AuthenticationError),
    (404, ModelNotFoundError),
    (413, InvalidRequestError),
    (422, InvalidRequestError),
    (429, RateLimitError),
    (500, ServerError),
    (502, ServerError),
    (503, ServerError),
    (504, ServerError),
    (529, OverloadedError),
]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("status", "cls"), STATUS_CLASSES)
async def test_error_status_maps_to_error_class(
    live_provider: Make,
    scenario: Scenario,
    name: str,
    mode: str,
    status: int,
    cls: type[ProviderError],
) -> None:
    scenario.add(Rule(status=status))
    provider = live_provider(name)
    with pytest.raises(cls) as caught:
        await attempt(provider, mode)
    error = caught.value
    assert type(error) is cls
    assert error.provider == name
    assert error.status_code == status
    assert error.__cause__ is not None  # chained from the SDK's exception


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("mode", MODES)
async def test_sdk_retries_are_off(
    live_provider: Make, scenario: Scenario, name: str, mode: str
) -> None:
    scenario.add(Rule(status=503, retry_after_ms=1))
    with pytest.raises(ServerError):
        await attempt(live_provider(name), mode)
    assert scenario.count(name) == 1


def _http_date(seconds_from_now: int) -> str:
    return email.utils.formatdate(time.time() + seconds_from_now, usegmt=True)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("rule", "low", "high"),
    [
        (lambda: Rule(status=429, retry_after_ms=1500), 1.5, 1.5),
        (lambda: Rule(status=429, retry_after=7), 7.0, 7.0),
        (lambda: Rule(status=429, headers={"retry-after": _http_date(30)}), 25.0, 31.0),
    ],
    ids=["retry-after-ms", "retry-after-seconds", "retry-after-http-date"],
)
async def test_rate_limit_carries_retry_after(
    live_provider: Make,
    scenario: Scenario,
    name: str,
    mode: str,
    rule: Callable[[], Rule],
    low: float,
    high: float,
) -> None:
    scenario.add(rule())
    with pytest.raises(RateLimitError) as caught:
        await attempt(live_provider(name), mode)
    assert caught.value.retry_after is not None
    assert low <= caught.value.retry_after <= high


@pytest.mark.parametrize("name", NAMES)
async def test_unknown_model_is_model_not_found(
    live_provider: Make, scenario: Scenario, name: str
) -> None:
    scenario.models = frozenset(MODELS.values())
    provider = live_provider(name)
    with pytest.raises(ModelNotFoundError):
        await provider.execute(make_request(model=MODELS[name] + "-nope"))


@pytest.mark.parametrize("name", NAMES)
async def test_wrong_api_key_is_authentication_error_without_the_key(
    live_provider: Make, scenario: Scenario, name: str
) -> None:
    scenario.api_keys = frozenset({"sk-the-right-key-0000000000"})
    with pytest.raises(AuthenticationError) as caught:
        await live_provider(name).execute(make_request())
    # The emulator never echoes keys: test_key_redaction.py has servers that do.
    assert API_KEY not in str(caught.value)
    assert API_KEY not in repr(caught.value)


MIDSTREAM: dict[str, type[ProviderError]] = {
    "claude": OverloadedError,  # event: error {"type": "overloaded_error"}
    "openai": ServerError,  # data: {"error": {"type": "server_error"}}
    "gemini": ServerError,  # data: {"error": {"code": 503, "status": "UNAVAILABLE"}}
}


@pytest.mark.parametrize("name", NAMES)
async def test_error_event_after_200_raises_after_the_chunks_before_it(
    live_provider: Make, scenario: Scenario, name: str
) -> None:
    scenario.add(Rule(stream_error_after=2))
    provider = live_provider(name)
    received: list[object] = []

    async def consume() -> None:
        async for event in provider.stream(make_request(max_tokens=200)):
            received.append(event)

    with pytest.raises(MIDSTREAM[name]) as caught:
        await consume()
    assert len(received) == 2
    assert all(isinstance(chunk, str) for chunk in received)
    assert caught.value.retryable


@pytest.mark.parametrize("name", NAMES)
async def test_rate_limit_event_after_200_is_rate_limit_error(
    live_provider: Make, scenario: Scenario, name: str
) -> None:
    scenario.add(Rule(stream_error_after=1, status=429))
    with pytest.raises(RateLimitError):
        await collect(live_provider(name), make_request(max_tokens=200))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("mode", MODES)
async def test_dropped_connection_is_connection_error(
    live_provider: Make, scenario: Scenario, name: str, mode: str
) -> None:
    scenario.add(Rule(drop_after=1))
    with pytest.raises(ProviderConnectionError) as caught:
        await attempt(live_provider(name), mode)
    assert caught.value.retryable
    assert caught.value.counts_against_breaker


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("mode", MODES)
async def test_server_slower_than_timeout_is_timeout_error(
    live_provider: Make, scenario: Scenario, name: str, mode: str
) -> None:
    scenario.add(Rule(latency=1.0))
    provider = live_provider(name, timeout=200)
    started = time.perf_counter()
    with pytest.raises(ProviderTimeoutError):
        await attempt(provider, mode)
    assert time.perf_counter() - started < 0.9


@pytest.mark.parametrize("name", NAMES)
async def test_stall_between_chunks_is_timeout_error(
    live_provider: Make, scenario: Scenario, name: str
) -> None:
    scenario.add(Rule(chunk_latency=1.0))
    with pytest.raises(ProviderTimeoutError):
        await collect(live_provider(name, timeout=200), make_request(max_tokens=200))


@pytest.mark.parametrize("name", ["claude", "openai"])
async def test_rate_limit_budget_read_from_response_headers(live_provider: Make, name: str) -> None:
    provider = live_provider(name)
    assert provider.rate_limit is None
    await provider.execute(make_request())
    first = provider.rate_limit
    assert first is not None
    assert first.limit > 0
    assert 0 <= first.remaining < first.limit
    assert first.reset >= time.time() * 1000 - 1000
    await provider.execute(make_request())
    second = provider.rate_limit
    assert second is not None
    assert second.remaining < first.remaining


@pytest.mark.parametrize("name", NAMES)
async def test_health_check_is_healthy_and_timed(live_provider: Make, name: str) -> None:
    health = await live_provider(name).check_health()
    assert health.provider == name
    assert health.status == "healthy"
    assert health.error is None
    assert health.latency is not None
    assert health.latency > 0


@pytest.mark.parametrize("name", NAMES)
async def test_health_check_reports_down_when_unreachable(live_provider: Make, name: str) -> None:
    provider = live_provider(name, base_url="http://127.0.0.1:9", timeout=2000)
    health = await provider.check_health()
    assert health.status == "down"
    assert health.error is not None
    assert "connection" in health.error.lower()


@pytest.mark.parametrize("name", NAMES)
async def test_health_check_reports_down_on_auth_failure(
    live_provider: Make, scenario: Scenario, name: str
) -> None:
    scenario.api_keys = frozenset({"sk-the-right-key-0000000000"})
    health = await live_provider(name).check_health()
    assert health.status == "down"
    assert health.error is not None
    assert API_KEY not in health.error  # see test_key_redaction.py for a server that echoes it
