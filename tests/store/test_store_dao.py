"""ProviderDAO: the seed's DAO shape over any store."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from store_records import T0, response

from automatosx.schemas import Message, ProviderRequest
from automatosx.store import NullStore, ProviderDAO, SQLiteStore


def seed_request(**changes: Any) -> ProviderRequest:
    fields: dict[str, Any] = {
        "provider": "claude",
        "model": "claude-sonnet-4-5",
        "messages": [Message(role="user", content="Hello")],
        "metadata": {"tenant": "a"},
    }
    fields.update(changes)
    return ProviderRequest(**fields)


async def test_a_request_saved_moved_and_answered_through_the_dao_reads_back(
    store: SQLiteStore,
) -> None:
    dao = ProviderDAO(store)
    request = seed_request()
    rid = request.request_id
    await dao.save_request(request)
    await dao.update_request_state(rid, "requesting")
    await dao.update_request_state(rid, "retrying")
    await dao.update_request_state(rid, "completed")
    await dao.save_stream_chunk(rid, 0, "Hi")
    await dao.save_stream_chunk(rid, 1, " there")
    await dao.save_response(response(rid, created_at=T0))
    await dao.save_health_check("claude", "degraded", latency=12.5, error_message="slow")
    row = await store.get_request(rid)
    assert row is not None
    assert row.request.history == ["idle", "requesting", "retrying", "completed"]
    assert row.request.retry_count == 1
    assert row.request.metadata == {"tenant": "a"}
    assert row.request.messages == '[{"role":"user","content":"Hello"}]'
    assert [text for _, text, _ in row.chunks or []] == ["Hi", " there"]
    assert row.response is not None
    assert row.response.content == "Hi there"
    metrics = await dao.get_provider_metrics("claude", dt.date(2026, 1, 1))
    assert [(m.total_tokens, m.total_cost) for m in metrics] == [(15, 0.00042)]
    assert await dao.get_provider_metrics("claude", "2026-01-01") == metrics
    health = await dao.get_provider_health("claude")
    assert health is not None
    assert (health.status, health.latency, health.error) == ("degraded", 12.5, "slow")
    assert await dao.get_provider_health("openai") is None


async def test_a_user_provider_name_is_accepted_by_the_dao(store: SQLiteStore) -> None:
    dao = ProviderDAO(store)
    await dao.save_health_check("my-llm", "healthy", latency=3)
    health = await dao.get_provider_health("my-llm")
    assert health is not None
    assert health.provider == "my-llm"


async def test_updating_an_unknown_request_is_a_lookup_error(store: SQLiteStore) -> None:
    with pytest.raises(LookupError, match="no request 'nope'"):
        await ProviderDAO(store).update_request_state("nope", "completed")


DAO_WRONG_CALLS: list[tuple[str, tuple[Any, ...], str]] = [
    ("save_request", ({"messages": []},), "save_request expects ProviderRequest, got dict"),
    ("save_response", ({"content": "x"},), "save_response expects ProviderResponse, got dict"),
    ("update_request_state", (1, "completed"), "update_request_state expects str, got int"),
    ("save_stream_chunk", ("id", "0", "x"), "save_stream_chunk expects int, got str"),
    ("save_stream_chunk", ("id", 0, b"x"), "save_stream_chunk expects str, got bytes"),
    ("get_provider_metrics", (3,), "get_provider_metrics expects str, got int"),
    ("get_provider_metrics", ("claude", 20260101), "expects str or date, got int"),
    ("get_provider_health", (None,), "get_provider_health expects str, got NoneType"),
    ("save_health_check", ("claude", 1), "save_health_check expects str, got int"),
    ("save_health_check", ("claude", "healthy", "fast"), "expects int or float, got str"),
]


@pytest.mark.parametrize(("method", "args", "message"), DAO_WRONG_CALLS)
async def test_a_wrong_argument_type_to_the_dao_is_a_type_error(
    method: str, args: tuple[Any, ...], message: str
) -> None:
    dao = ProviderDAO(NullStore())
    with pytest.raises(TypeError, match=message):
        await getattr(dao, method)(*args)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("claude", "sleepy"), "status must be one of"),
        (("", "healthy"), "provider must be non-empty"),
        (("claude", "healthy", -1.0), "latency must be >= 0"),
    ],
)
async def test_bad_health_values_are_value_errors(args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        await ProviderDAO(NullStore()).save_health_check(*args)


async def test_a_request_without_model_is_a_value_error_naming_the_field() -> None:
    with pytest.raises(ValueError, match=r"request\.model is None"):
        await ProviderDAO(NullStore()).save_request(seed_request(model=None))


def test_the_dao_needs_a_store() -> None:
    with pytest.raises(TypeError, match="ProviderDAO expects a Store, got str"):
        ProviderDAO("sqlite:///x.db")  # type: ignore[arg-type]
