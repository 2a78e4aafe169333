"""The router's failure policy (DESIGN.md, "The router"), driven through a user adapter."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from automatosx import (
    AllProvidersFailedError,
    AuthenticationError,
    CircuitOpenError,
    ConfigurationError,
    InvalidRequestError,
    ModelNotFoundError,
    OverloadedError,
    ProviderRequest,
    RateLimitError,
    RequestValidationError,
    Router,
    ServerError,
)
from automatosx.store import open_store

from .conftest import FAST, REQUEST, ScriptedProvider, sleeper


def options(*fallbacks: str, **extra: Any) -> dict[str, Any]:
    return {
        "primaryProvider": "claude",
        "fallbackProviders": list(fallbacks or ["gemini"]),
        **FAST,
        **extra,
    }


async def read(db_url: str, request_id: str) -> Any:
    async with open_store(db_url) as store:
        return await store.get_request(request_id)


async def test_primary_success_is_recorded_completed(db_url: str) -> None:
    claude = ScriptedProvider("claude", ["fine"])
    async with Router(options(), [claude, ScriptedProvider("gemini")], store=db_url) as router:
        reply = await router.execute(REQUEST)
    assert (reply.provider, reply.content) == ("claude", "fine")
    row = await read(db_url, reply.request_id)
    assert row.request.state == "completed"
    assert row.request.history == ["idle", "validating", "requesting", "completed"]
    assert [(a.provider, a.outcome) for a in row.attempts] == [("claude", "success")]
    assert row.response.content == "fine"
    assert claude.requests[0].model == "m-1"  # the provider's default model was filled in


async def test_server_error_is_retried_then_falls_back(db_url: str) -> None:
    claude = ScriptedProvider(
        "claude", [ServerError("down", provider="claude", status_code=500)] * 4
    )
    claude.max_retries = 3
    gemini = ScriptedProvider("gemini", default_model="g-1")
    async with Router(options(), [claude, gemini], store=db_url) as router:
        reply = await router.execute(REQUEST)
    assert reply.provider == "gemini"
    assert gemini.requests[0].model == "g-1"  # a fallback uses its own default model
    row = await read(db_url, reply.request_id)
    assert [a.provider for a in row.attempts] == ["claude"] * 4 + ["gemini"]
    assert [a.error_code for a in row.attempts[:4]] == ["SERVER_ERROR"] * 4
    assert row.request.state == "completed"
    assert row.request.history.count("retrying") == 3


@pytest.mark.parametrize(
    "error",
    [
        AuthenticationError("bad key", provider="claude", status_code=401),
        ModelNotFoundError("no such model", provider="claude", status_code=404),
    ],
)
async def test_auth_and_unknown_model_fall_back_without_retry(error: Exception) -> None:
    claude = ScriptedProvider("claude", [error])
    async with Router(options(), [claude, ScriptedProvider("gemini")]) as router:
        reply = await router.execute(REQUEST)
    assert reply.provider == "gemini"
    assert len(claude.requests) == 1


async def test_invalid_request_is_raised_at_once_without_fallback(db_url: str) -> None:
    err = InvalidRequestError("max_tokens too large", provider="claude", status_code=400)
    gemini = ScriptedProvider("gemini")
    async with Router(options(), [ScriptedProvider("claude", [err]), gemini], store=db_url) as r:
        req = ProviderRequest.model_validate(REQUEST)
        with pytest.raises(InvalidRequestError) as info:
            await r.execute(req)
    assert info.value is err
    assert gemini.requests == []
    row = await read(db_url, req.request_id)
    assert (row.request.state, row.request.error_code) == ("failed", "INVALID_REQUEST")


async def test_rate_limit_waits_retry_after_on_the_same_provider() -> None:
    limited = RateLimitError("slow down", provider="claude", status_code=429, retry_after=0.05)
    claude = ScriptedProvider("claude", [limited])
    loop = asyncio.get_running_loop()
    async with Router(options(), [claude, ScriptedProvider("gemini")]) as router:
        start = loop.time()
        reply = await router.execute(REQUEST)
        waited = loop.time() - start
    assert reply.provider == "claude"
    assert len(claude.requests) == 2
    assert waited >= 0.045


async def test_retry_after_beyond_patience_falls_back_without_sleeping() -> None:
    limited = RateLimitError("quota", provider="claude", status_code=429, retry_after=60)
    claude = ScriptedProvider("claude", [limited])
    loop = asyncio.get_running_loop()
    async with Router(options(maxRetryWaitMs=500), [claude, ScriptedProvider("gemini")]) as r:
        start = loop.time()
        reply = await r.execute(REQUEST)
        assert loop.time() - start < 30
        # The provider is cooled down until its retry-after: the next request skips it.
        again = await r.execute(REQUEST)
    assert (reply.provider, again.provider) == ("gemini", "gemini")
    assert len(claude.requests) == 1


async def test_all_providers_failed_carries_every_attempt(db_url: str) -> None:
    def boom(name: str) -> OverloadedError:
        return OverloadedError("overloaded", provider=name, status_code=529)

    providers = [ScriptedProvider(n, [boom(n)] * 10) for n in ("claude", "gemini", "openai")]
    for p in providers:
        p.max_retries = 1
    async with Router(options("gemini", "openai"), providers, store=db_url) as router:
        req = ProviderRequest.model_validate(REQUEST)
        with pytest.raises(AllProvidersFailedError) as info:
            await router.execute(req)
    attempts = info.value.attempts
    assert [a.provider for a in attempts] == [
        "claude",
        "claude",
        "gemini",
        "gemini",
        "openai",
        "openai",
    ]
    assert all(isinstance(a.error, OverloadedError) for a in attempts)
    row = await read(db_url, req.request_id)
    assert row.request.state == "failed"
    assert len(row.attempts) == 6


async def test_open_breaker_is_skipped_and_probe_closes_it() -> None:
    claude = ScriptedProvider("claude", [ServerError("x", provider="claude")] * 3)
    claude.max_retries = 0
    # A reset timeout with room for a stalled machine between opening and the skipped call.
    opts = options(circuitBreakerThreshold=3, circuitBreakerTimeout=300)
    async with Router(opts, [claude, ScriptedProvider("gemini")]) as router:
        for _ in range(3):
            assert (await router.execute(REQUEST)).provider == "gemini"
        assert router.breaker_state("claude") == "open"
        sent = len(claude.requests)
        assert (await router.execute(REQUEST)).provider == "gemini"
        assert len(claude.requests) == sent  # skipped while open
        await asyncio.sleep(0.31)
        assert (await router.execute(REQUEST)).provider == "claude"  # the half-open probe
        assert router.breaker_state("claude") == "closed"


async def test_breaker_open_on_every_candidate_reports_circuit_open() -> None:
    claude = ScriptedProvider("claude", [ServerError("x", provider="claude")])
    claude.max_retries = 0
    opts = {"primaryProvider": "claude", "circuitBreakerThreshold": 1, **FAST}
    async with Router(opts, [claude]) as router:
        with pytest.raises(AllProvidersFailedError):
            await router.execute(REQUEST)
        with pytest.raises(AllProvidersFailedError) as info:
            await router.execute(REQUEST)
    assert isinstance(info.value.attempts[0].error, CircuitOpenError)
    assert len(claude.requests) == 1


async def test_rate_limit_does_not_count_against_the_breaker() -> None:
    limited = RateLimitError("slow", provider="claude", status_code=429, retry_after=0.001)
    claude = ScriptedProvider("claude", [limited] * 6)
    claude.max_retries = 0
    opts = options(circuitBreakerThreshold=2)
    async with Router(opts, [claude, ScriptedProvider("gemini")]) as router:
        for _ in range(4):
            await router.execute(REQUEST)
            await asyncio.sleep(0.002)
        assert len(claude.requests) == 4  # every 429 reached the router, past the threshold
        assert router.breaker_state("claude") == "closed"


async def test_attempt_timeout_with_no_reply_falls_back_without_retrying(db_url: str) -> None:
    claude = ScriptedProvider("claude", [sleeper(5)])
    claude.timeout = 50  # ms
    claude.max_retries = 1
    async with Router(options(), [claude, ScriptedProvider("gemini")], store=db_url) as router:
        reply = await router.execute(REQUEST)
    assert reply.provider == "gemini"  # silence is not retried on the same route
    assert len(claude.requests) == 1
    row = await read(db_url, reply.request_id)
    assert [(a.provider, a.error_code) for a in row.attempts] == [
        ("claude", "TIMEOUT"),
        ("gemini", None),
    ]


async def test_caller_cancellation_is_recorded_as_cancelled(db_url: str) -> None:
    claude = ScriptedProvider("claude", [sleeper(5)])
    async with Router(options(), [claude, ScriptedProvider("gemini")], store=db_url) as router:
        req = ProviderRequest.model_validate(REQUEST)
        task = asyncio.create_task(router.execute(req))
        await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    row = await read(db_url, req.request_id)
    assert (row.request.state, row.request.error_code) == ("failed", "CANCELLED")
    assert [a.error_code for a in row.attempts] == ["CANCELLED"]


async def test_adapter_raising_an_unmapped_exception_falls_back() -> None:
    claude = ScriptedProvider("claude", [KeyError("oops")])
    async with Router(options(), [claude, ScriptedProvider("gemini")]) as router:
        reply = await router.execute(REQUEST)
    assert reply.provider == "gemini"
    assert len(claude.requests) == 1  # not retried: the adapter broke its contract


async def test_invalid_request_dict_names_the_field_and_is_recorded(db_url: str) -> None:
    bad = {**REQUEST, "temperature": 3, "requestId": "8e0c7e43-5f7e-4a5a-9b5e-2b8f2f1f9a10"}
    opts = {"primaryProvider": "claude"}
    async with Router(opts, [ScriptedProvider("claude")], store=db_url) as router:
        with pytest.raises(RequestValidationError, match="temperature") as info:
            await router.execute(bad)
    assert info.value.errors[0]["loc"] == ("temperature",)
    row = await read(db_url, bad["requestId"])
    assert (row.request.state, row.request.error_code) == ("failed", "VALIDATION_ERROR")
    assert row.request.history == ["idle", "validating", "failed"]


async def test_message_capture_off_stores_a_digest(db_url: str) -> None:
    opts = {"primaryProvider": "claude", "recordMessages": False}
    async with Router(opts, [ScriptedProvider("claude")], store=db_url) as router:
        reply = await router.execute({"messages": [{"role": "user", "content": "secret plan"}]})
    row = await read(db_url, reply.request_id)
    assert row.request.messages.startswith("sha256:")
    assert len(row.request.messages) == len("sha256:") + 64


async def test_health_checks_are_recorded(db_url: str) -> None:
    async with Router(
        options(), [ScriptedProvider("claude"), ScriptedProvider("gemini")], store=db_url
    ) as router:
        results = await router.check_health()
    assert {n: h.status for n, h in results.items()} == {"claude": "healthy", "gemini": "healthy"}
    async with open_store(db_url) as store:
        rows = await store.get_provider_health()
    assert sorted(h.provider for h in rows) == ["claude", "gemini"]


async def test_lifecycle_misuse_says_how_to_fix_it() -> None:
    router = Router({"primaryProvider": "claude"}, [ScriptedProvider("claude")])
    with pytest.raises(ConfigurationError, match="async with Router"):
        await router.execute(REQUEST)
    async with router:
        pass
    with pytest.raises(ConfigurationError, match="closed"):
        await router.execute(REQUEST)
    with pytest.raises(ConfigurationError, match="only once"):
        await router.open()


async def test_options_naming_an_unconfigured_provider_fail_at_open() -> None:
    router = Router(options("gemini", "openai"), [ScriptedProvider("claude")])
    with pytest.raises(ConfigurationError, match="gemini, openai"):
        await router.open()


async def test_user_adapters_are_not_closed_by_the_router() -> None:
    claude = ScriptedProvider("claude")
    async with Router({"primaryProvider": "claude"}, [claude]):
        pass
    assert claude.closed is False


async def test_a_bad_provider_config_is_a_configuration_error_without_the_key() -> None:
    bad = {
        "name": "claude",
        "apiKey": "sk-ant-secret-0123456789",
        "timeout": -5,
        "rateLimits": {"requestsPerMinute": 10},
        "models": ["m"],
        "defaultModel": "m",
    }
    router = Router({"primaryProvider": "claude"}, [bad])
    with pytest.raises(ConfigurationError, match="timeout") as info:
        await router.open()
    assert "sk-ant-secret" not in str(info.value)
    assert "sk-ant-secret" not in repr(info.value)


async def test_messages_are_recorded_as_sent_even_if_the_caller_appends_later(
    db_url: str,
) -> None:
    """The writer serializes messages after execute() returned; a chat loop appending the
    reply to the same list must not change what was recorded."""
    async with Router(
        {"primaryProvider": "claude"}, [ScriptedProvider("claude")], store=db_url
    ) as router:
        req = ProviderRequest.model_validate(REQUEST)
        reply = await router.execute(req)
        req.messages.append(req.messages[0].model_copy(update={"content": "LATER"}))
    row = await read(db_url, reply.request_id)
    assert "LATER" not in row.request.messages
    assert "hello" in row.request.messages
