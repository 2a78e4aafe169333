"""The ten seed models: camelCase round trips, named validation errors, edge values."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

import automatosx
from automatosx.schemas import (
    CostMetrics,
    Message,
    ProviderConfig,
    ProviderHealth,
    ProviderRequest,
    ProviderResponse,
    ProviderRouterOptions,
    RateLimitInfo,
    RouterOptions,
    StreamChunk,
    TokenUsage,
)

REQUEST_ID = "6f1c2a9e-3b7d-4e8f-9a0b-1c2d3e4f5a6b"
NOW = 1_767_225_600_000
API_KEY = "sk-ant-api03-Zx9yW8vU7tS6rQ5pO4nM3lK2jI1hG0fE"

SEEDS: dict[type[BaseModel], dict[str, Any]] = {
    ProviderConfig: {
        "name": "claude",
        "enabled": True,
        "priority": 1,
        "baseUrl": "https://api.anthropic.com",
        "timeout": 60_000,
        "maxRetries": 3,
        "rateLimits": {"requestsPerMinute": 50, "tokensPerMinute": 40_000},
        "models": ["claude-sonnet-4-5", "claude-haiku-4-5"],
        "defaultModel": "claude-sonnet-4-5",
    },
    Message: {"role": "user", "content": "Hello", "name": "alice", "metadata": {"k": 1}},
    ProviderRequest: {
        "requestId": REQUEST_ID,
        "provider": "claude",
        "model": "claude-sonnet-4-5",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hello"},
        ],
        "maxTokens": 1_000,
        "temperature": 0.7,
        "topP": 0.9,
        "stream": False,
        "stopSequences": ["\n\n"],
        "metadata": {"user": "u-1"},
    },
    TokenUsage: {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15},
    ProviderResponse: {
        "requestId": REQUEST_ID,
        "provider": "openai",
        "model": "gpt-4o-mini",
        "content": "Hi!",
        "tokens": {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15},
        "finishReason": "stop",
        "duration": 432,
        "cost": 0.000123,
        "metadata": {"id": "chatcmpl-1"},
        "createdAt": NOW,
    },
    StreamChunk: {
        "requestId": REQUEST_ID,
        "index": 0,
        "chunk": "Hel",
        "done": False,
        "timestamp": NOW,
    },
    ProviderHealth: {
        "provider": "gemini",
        "status": "degraded",
        "latency": 812.5,
        "rateLimitRemaining": 12,
        "rateLimitReset": NOW + 60_000,
        "lastChecked": NOW,
    },
    RateLimitInfo: {"limit": 50, "remaining": 49, "reset": NOW + 60_000, "retryAfter": 30},
    ProviderRouterOptions: {
        "primaryProvider": "claude",
        "fallbackProviders": ["gemini", "openai"],
        "enableFallback": True,
        "enableCircuitBreaker": True,
        "circuitBreakerThreshold": 5,
        "circuitBreakerTimeout": 60_000,
    },
    CostMetrics: {
        "provider": "claude",
        "model": "claude-sonnet-4-5",
        "inputTokens": 1_000,
        "outputTokens": 500,
        "inputCostPerToken": 0.000003,
        "outputCostPerToken": 0.000015,
        "totalCost": 0.0105,
        "currency": "USD",
    },
}

# One invalid field per model, and where pydantic must say it is.
INVALID: list[tuple[type[BaseModel], str, Any, tuple[str | int, ...]]] = [
    (ProviderConfig, "priority", 11, ("priority",)),
    (Message, "role", "robot", ("role",)),
    (ProviderRequest, "maxTokens", 0, ("maxTokens",)),
    (TokenUsage, "inputTokens", -1, ("inputTokens",)),
    (ProviderResponse, "finishReason", "done", ("finishReason",)),
    (StreamChunk, "index", -1, ("index",)),
    (ProviderHealth, "status", "sick", ("status",)),
    (RateLimitInfo, "limit", 0, ("limit",)),
    (ProviderRouterOptions, "fallbackProviders", [""], ("fallbackProviders", 0)),
    (CostMetrics, "totalCost", -0.01, ("totalCost",)),
]


def request(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(SEEDS[ProviderRequest])
    doc.update(changes)
    return doc


def loc_of_first_error(model: type[BaseModel], doc: dict[str, Any]) -> tuple[str | int, ...]:
    with pytest.raises(ValidationError) as info:
        model.model_validate(doc)
    return tuple(info.value.errors()[0]["loc"])


# -- round trips and errors ---------------------------------------------------------------


def test_there_are_ten_seed_models() -> None:
    assert len(SEEDS) == 10
    assert RouterOptions is ProviderRouterOptions


@pytest.mark.parametrize("model", list(SEEDS), ids=lambda m: m.__name__)
def test_seed_json_round_trips(model: type[BaseModel]) -> None:
    seed = SEEDS[model]
    assert model.model_validate(seed).model_dump(by_alias=True) == seed
    assert model.model_validate_json(model.model_validate(seed).model_dump_json(by_alias=True))


@pytest.mark.parametrize("model", list(SEEDS), ids=lambda m: m.__name__)
def test_models_are_importable_from_the_package(model: type[BaseModel]) -> None:
    assert getattr(automatosx, model.__name__) is model


def test_router_options_alias_is_importable_from_the_package() -> None:
    assert automatosx.RouterOptions is ProviderRouterOptions


@pytest.mark.parametrize(
    ("model", "field", "value", "loc"), INVALID, ids=[m.__name__ for m, *_ in INVALID]
)
def test_invalid_field_is_named(
    model: type[BaseModel], field: str, value: Any, loc: tuple[str | int, ...]
) -> None:
    doc = {**SEEDS[model], field: value}
    assert loc_of_first_error(model, doc) == loc


def test_missing_required_field_is_named() -> None:
    doc = {k: v for k, v in SEEDS[ProviderConfig].items() if k != "defaultModel"}
    with pytest.raises(ValidationError) as info:
        ProviderConfig.model_validate(doc)
    assert info.value.errors()[0]["loc"] == ("defaultModel",)
    assert info.value.errors()[0]["type"] == "missing"


def test_nested_invalid_field_is_named() -> None:
    doc = request(messages=[{"role": "user", "content": "ok"}, {"role": "user", "content": ""}])
    assert loc_of_first_error(ProviderRequest, doc) == ("messages", 1, "content")


def test_unknown_request_field_is_rejected() -> None:
    assert loc_of_first_error(ProviderRequest, request(maxToken=5)) == ("maxToken",)


def test_snake_case_names_are_accepted_too() -> None:
    usage = TokenUsage.model_validate({"input_tokens": 1, "output_tokens": 2, "total_tokens": 3})
    assert usage.model_dump(by_alias=True) == {
        "inputTokens": 1,
        "outputTokens": 2,
        "totalTokens": 3,
    }


def test_unset_optionals_are_left_out_of_dumps() -> None:
    doc = {"role": "user", "content": "Hi"}
    assert Message.model_validate(doc).model_dump(by_alias=True) == doc


# -- the API key --------------------------------------------------------------------------


def config_with_key() -> ProviderConfig:
    return ProviderConfig.model_validate({**SEEDS[ProviderConfig], "apiKey": API_KEY})


def test_api_key_dumps_masked() -> None:
    config = config_with_key()
    dumped = config.model_dump(by_alias=True, mode="json")
    assert dumped == {**SEEDS[ProviderConfig], "apiKey": "**********"}
    assert config.api_key is not None
    assert config.api_key.get_secret_value() == API_KEY


@pytest.mark.parametrize(
    "render",
    [
        repr,
        str,
        lambda c: c.model_dump_json(),
        lambda c: c.model_dump_json(by_alias=True),
        lambda c: str(c.model_dump()),
    ],
    ids=["repr", "str", "json", "json-alias", "dict"],
)
def test_api_key_never_appears(render: Any) -> None:
    assert API_KEY not in render(config_with_key())


def test_empty_api_key_is_rejected() -> None:
    doc = {**SEEDS[ProviderConfig], "apiKey": ""}
    assert loc_of_first_error(ProviderConfig, doc) == ("apiKey",)


@pytest.mark.parametrize("url", ["ftp://example.com", "api.example.com", "https://"])
def test_base_url_must_be_absolute_http(url: str) -> None:
    doc = {**SEEDS[ProviderConfig], "baseUrl": url}
    assert loc_of_first_error(ProviderConfig, doc) == ("baseUrl",)


# -- edge values --------------------------------------------------------------------------


@given(st.floats(min_value=0, max_value=2))
def test_temperature_in_bounds_is_accepted(value: float) -> None:
    assert ProviderRequest.model_validate(request(temperature=value)).temperature == value


@given(
    st.one_of(
        st.floats(max_value=0, exclude_max=True, allow_nan=False),
        st.floats(min_value=2, exclude_min=True, allow_nan=False),
    )
)
def test_temperature_out_of_bounds_is_named(value: float) -> None:
    assert loc_of_first_error(ProviderRequest, request(temperature=value)) == ("temperature",)


@given(st.integers(min_value=1, max_value=200_000))
def test_max_tokens_in_bounds_is_accepted(value: int) -> None:
    assert ProviderRequest.model_validate(request(maxTokens=value)).max_tokens == value


@given(st.one_of(st.integers(max_value=0), st.integers(min_value=200_001)))
def test_max_tokens_out_of_bounds_is_named(value: int) -> None:
    assert loc_of_first_error(ProviderRequest, request(maxTokens=value)) == ("maxTokens",)


@given(st.floats(min_value=0, max_value=1))
def test_top_p_in_bounds_is_accepted(value: float) -> None:
    assert ProviderRequest.model_validate(request(topP=value)).top_p == value


@given(st.one_of(st.floats(max_value=-1e-9), st.floats(min_value=1 + 1e-9)))
def test_top_p_out_of_bounds_is_named(value: float) -> None:
    assert loc_of_first_error(ProviderRequest, request(topP=value)) == ("topP",)


@given(st.integers(min_value=1, max_value=10))
def test_priority_in_bounds_is_accepted(value: int) -> None:
    doc = {**SEEDS[ProviderConfig], "priority": value}
    assert ProviderConfig.model_validate(doc).priority == value


@given(st.one_of(st.integers(max_value=0), st.integers(min_value=11)))
def test_priority_out_of_bounds_is_named(value: int) -> None:
    doc = {**SEEDS[ProviderConfig], "priority": value}
    assert loc_of_first_error(ProviderConfig, doc) == ("priority",)


CONTENT_SIZES = [1, 2, 999_999, 1_000_000]


@given(st.sampled_from(CONTENT_SIZES), st.characters(codec="utf-8", exclude_categories=["Cs"]))
def test_content_length_in_bounds_is_accepted(size: int, char: str) -> None:
    assert len(Message(role="user", content=char * size).content) == size


@pytest.mark.parametrize("size", [0, 1_000_001])
def test_content_length_out_of_bounds_is_named(size: int) -> None:
    doc = {"role": "user", "content": "x" * size}
    assert loc_of_first_error(Message, doc) == ("content",)


@given(st.integers(min_value=1, max_value=1_000))
def test_message_count_in_bounds_is_accepted(count: int) -> None:
    messages = [{"role": "user", "content": "x"}] * count
    assert len(ProviderRequest.model_validate(request(messages=messages)).messages) == count


@pytest.mark.parametrize("count", [0, 1_001])
def test_message_count_out_of_bounds_is_named(count: int) -> None:
    messages = [{"role": "user", "content": "x"}] * count
    assert loc_of_first_error(ProviderRequest, request(messages=messages)) == ("messages",)


@given(st.lists(st.text(max_size=5), max_size=10))
def test_up_to_ten_stop_sequences_are_accepted(stops: list[str]) -> None:
    assert ProviderRequest.model_validate(request(stopSequences=stops)).stop_sequences == stops


@given(st.lists(st.text(max_size=5), min_size=11, max_size=20))
def test_more_than_ten_stop_sequences_are_named(stops: list[str]) -> None:
    assert loc_of_first_error(ProviderRequest, request(stopSequences=stops)) == ("stopSequences",)


def test_request_id_is_generated_when_absent() -> None:
    doc = request()
    del doc["requestId"]
    first = ProviderRequest.model_validate(doc).request_id
    second = ProviderRequest.model_validate(doc).request_id
    assert str(uuid.UUID(first)) == first
    assert uuid.UUID(first).version == 4
    assert first != second


@given(st.uuids())
def test_given_uuid_request_id_is_kept(value: uuid.UUID) -> None:
    assert ProviderRequest.model_validate(request(requestId=str(value))).request_id == str(value)


@given(st.text(max_size=40).filter(lambda s: len(s) != 36))
def test_non_uuid_request_id_is_named(value: str) -> None:
    assert loc_of_first_error(ProviderRequest, request(requestId=value)) == ("requestId",)


def test_provider_and_model_may_be_omitted() -> None:
    doc = request()
    del doc["provider"], doc["model"]
    parsed = ProviderRequest.model_validate(doc)
    assert (parsed.provider, parsed.model) == (None, None)
    assert "provider" not in parsed.model_dump(by_alias=True)


def test_trusted_constructors_equal_validated_models_and_stay_mutable() -> None:
    from automatosx.schemas import ProviderResponse, StreamChunk, TokenUsage

    rid = "123e4567-e89b-12d3-a456-426614174000"
    usage = TokenUsage._trusted(input_tokens=1, output_tokens=2, total_tokens=3)
    assert usage == TokenUsage(input_tokens=1, output_tokens=2, total_tokens=3)
    fields = {
        "request_id": rid,
        "provider": "claude",
        "model": "m",
        "content": "hi",
        "tokens": usage,
        "finish_reason": "stop",
        "duration": 5,
        "cost": None,
        "metadata": None,
        "created_at": 9,
    }
    trusted = ProviderResponse._trusted(**fields)
    assert trusted == ProviderResponse(**fields)
    assert trusted.model_dump(by_alias=True) == ProviderResponse(**fields).model_dump(by_alias=True)
    trusted.cost = 0.5  # the router prices responses after the fact
    assert trusted.cost == 0.5
    chunk = StreamChunk._chunk(rid, 0, "x", False, 7)
    assert chunk == StreamChunk(request_id=rid, index=0, chunk="x", done=False, timestamp=7)
    chunk.done = True
    assert chunk.done is True


def test_generated_request_ids_are_version_4_uuids() -> None:
    import uuid

    from automatosx.schemas import _new_request_id

    ids = {_new_request_id() for _ in range(2000)}
    assert len(ids) == 2000
    for value in ids:
        parsed = uuid.UUID(value)
        assert (parsed.version, parsed.variant, str(parsed)) == (4, uuid.RFC_4122, value)


# -- open provider names ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["mistral", "my-kind", "x" * 64])
def test_any_provider_kind_name_is_accepted(name: str) -> None:
    assert ProviderConfig.model_validate({**SEEDS[ProviderConfig], "name": name}).name == name
    health = ProviderHealth.model_validate({**SEEDS[ProviderHealth], "provider": name})
    assert health.provider == name
    assert ProviderRequest.model_validate(request(provider=name)).provider == name


@pytest.mark.parametrize("name", ["", "x" * 65])
def test_empty_or_overlong_provider_name_is_named(name: str) -> None:
    assert loc_of_first_error(ProviderConfig, {**SEEDS[ProviderConfig], "name": name}) == ("name",)
    assert loc_of_first_error(ProviderRequest, request(provider=name)) == ("provider",)
    doc = {**SEEDS[ProviderResponse], "provider": name}
    assert loc_of_first_error(ProviderResponse, doc) == ("provider",)
    doc = {**SEEDS[CostMetrics], "provider": name}
    assert loc_of_first_error(CostMetrics, doc) == ("provider",)


def test_route_targets_may_name_a_group_and_model_up_to_200_chars() -> None:
    target = "eu-claude/claude-sonnet-4-5"
    doc = {
        **SEEDS[ProviderRouterOptions],
        "primaryProvider": target,
        "fallbackProviders": ["x" * 200],
    }
    options = ProviderRouterOptions.model_validate(doc)
    assert (options.primary_provider, options.fallback_providers) == (target, ["x" * 200])
    doc["fallbackProviders"] = ["x" * 201]
    assert loc_of_first_error(ProviderRouterOptions, doc) == ("fallbackProviders", 0)


# -- integer bounds -----------------------------------------------------------------------

SAFE = 2**53
BOUNDS: list[tuple[type[BaseModel], str, int]] = [
    (ProviderConfig, "maxRetries", 100),
    (ProviderConfig, "timeout", 3_600_000),
    (ProviderRouterOptions, "circuitBreakerThreshold", 1_000_000),
    (ProviderRouterOptions, "circuitBreakerTimeout", 86_400_000),
    (ProviderRouterOptions, "maxRetryWaitMs", 86_400_000),
    (ProviderRouterOptions, "backoffBaseMs", 86_400_000),
    (ProviderRouterOptions, "backoffCapMs", 86_400_000),
    (ProviderRouterOptions, "firstTokenTimeoutMs", 86_400_000),
    (TokenUsage, "inputTokens", SAFE),
    (TokenUsage, "totalTokens", SAFE),
    (ProviderResponse, "duration", SAFE),
    (StreamChunk, "index", SAFE),
    (RateLimitInfo, "retryAfter", SAFE),
    (CostMetrics, "outputTokens", SAFE),
]


@pytest.mark.parametrize(("model", "field", "bound"), BOUNDS, ids=[f for _, f, _ in BOUNDS])
def test_integer_at_its_bound_is_accepted_and_above_is_named(
    model: type[BaseModel], field: str, bound: int
) -> None:
    seed = {**SEEDS[model], "backoffCapMs": bound} if field == "backoffBaseMs" else SEEDS[model]
    at_bound = model.model_validate({**seed, field: bound})
    assert at_bound.model_dump(by_alias=True)[field] == bound
    with pytest.raises(ValidationError) as info:
        model.model_validate({**seed, field: bound + 1})
    error = info.value.errors()[0]
    assert (error["loc"], error["type"]) == ((field,), "less_than_equal")
    assert f"{bound}" in error["msg"]


@pytest.mark.parametrize("field", ["requestsPerMinute", "tokensPerMinute"])
def test_rate_limits_are_bounded_by_a_billion(field: str) -> None:
    limits = {"requestsPerMinute": 1, field: 1_000_000_000}
    assert ProviderConfig.model_validate({**SEEDS[ProviderConfig], "rateLimits": limits})
    limits[field] += 1
    doc = {**SEEDS[ProviderConfig], "rateLimits": limits}
    assert loc_of_first_error(ProviderConfig, doc) == ("rateLimits", field)


def test_bounds_are_documented_in_the_json_schema() -> None:
    props = ProviderConfig.model_json_schema(by_alias=True)["properties"]
    assert props["maxRetries"]["maximum"] == 100
    assert "100" in props["maxRetries"]["description"]


# -- metadata is bounded JSON; text is valid Unicode ----------------------------------------


def _cycle() -> dict[str, Any]:
    doc: dict[str, Any] = {}
    doc["self"] = doc
    return doc


def _nested(depth: int) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for _ in range(depth - 1):
        doc = {"k": doc}
    return doc


@pytest.mark.parametrize(
    "metadata",
    [
        {("a", 1): 1},
        _cycle(),
        {"tags": {"a", "b"}},
        _nested(33),
        {"n": float("nan")},
        {"many": list(range(10_000))},
        {"key": "bad \ud800"},
        {"bad \udfff": 1},
    ],
    ids=["tuple-key", "cycle", "set", "depth-33", "nan", "too-many", "surrogate", "surrogate-key"],
)
def test_non_json_metadata_is_named(metadata: Any) -> None:
    for model, doc in [
        (ProviderRequest, request(metadata=metadata)),
        (Message, {"role": "user", "content": "x", "metadata": metadata}),
        (ProviderResponse, {**SEEDS[ProviderResponse], "metadata": metadata}),
    ]:
        assert loc_of_first_error(model, doc)[0] == "metadata"


def test_json_metadata_at_its_bounds_is_accepted() -> None:
    metadata = {"deep": _nested(31), "many": list(range(9_000)), "x": None, "f": 1.5}
    assert ProviderRequest.model_validate(request(metadata=metadata)).metadata == metadata


@pytest.mark.parametrize(
    ("changes", "loc"),
    [
        ({"messages": [{"role": "user", "content": "bad \ud800"}]}, ("messages", 0, "content")),
        (
            {"messages": [{"role": "user", "content": "x", "name": "\udc00"}]},
            ("messages", 0, "name"),
        ),
        ({"stopSequences": ["ok", "\ud83d"]}, ("stopSequences", 1)),
        ({"model": "m\ud800"}, ("model",)),
    ],
    ids=["content", "name", "stop", "model"],
)
def test_lone_surrogates_in_request_text_are_named(
    changes: dict[str, Any], loc: tuple[str | int, ...]
) -> None:
    with pytest.raises(ValidationError, match="lone surrogate") as info:
        ProviderRequest.model_validate(request(**changes))
    assert tuple(info.value.errors()[0]["loc"]) == loc


def test_paired_surrogates_and_astral_text_are_accepted() -> None:
    doc = request(messages=[{"role": "user", "content": "emoji \U0001f600 ok"}])
    assert ProviderRequest.model_validate(doc).messages[0].content.endswith("ok")


def test_request_ids_do_not_repeat_after_random_seed() -> None:
    import random

    from automatosx.schemas import _new_request_id

    random.seed(7)
    first = _new_request_id()
    random.seed(7)
    assert _new_request_id() != first


# -- deployments ----------------------------------------------------------------------------


def test_deployment_fields_default_from_name_and_are_not_emitted() -> None:
    config = ProviderConfig.model_validate(SEEDS[ProviderConfig])
    assert (config.id, config.group, config.weight) == ("claude", "claude", 1)
    assert config.model_dump(by_alias=True) == SEEDS[ProviderConfig]


def test_group_defaults_to_id_and_set_fields_are_emitted() -> None:
    doc = {**SEEDS[ProviderConfig], "id": "claude-eu", "weight": 3}
    config = ProviderConfig.model_validate(doc)
    assert (config.id, config.group, config.weight) == ("claude-eu", "claude-eu", 3)
    assert config.model_dump(by_alias=True) == doc
    doc = {**doc, "group": "claude"}
    assert ProviderConfig.model_validate(doc).model_dump(by_alias=True) == doc


@pytest.mark.parametrize(
    ("field", "value"),
    [("id", "has space"), ("id", ""), ("group", "a/b"), ("weight", 0), ("weight", 1001)],
)
def test_invalid_deployment_field_is_named(field: str, value: Any) -> None:
    doc = {**SEEDS[ProviderConfig], field: value}
    assert loc_of_first_error(ProviderConfig, doc) == (field,)


def test_a_name_that_is_not_an_id_needs_an_explicit_id() -> None:
    doc = {**SEEDS[ProviderConfig], "name": "my kind"}
    with pytest.raises(ValidationError, match="set id explicitly"):
        ProviderConfig.model_validate(doc)
    assert ProviderConfig.model_validate({**doc, "id": "my-kind"}).id == "my-kind"


def test_cloud_extensions_round_trip_when_set() -> None:
    doc = {
        **SEEDS[ProviderConfig],
        "azureEndpoint": "https://x.openai.azure.com",
        "apiVersion": "2024-10-21",
        "vertex": True,
        "project": "p",
        "location": "europe-west4",
    }
    assert ProviderConfig.model_validate(doc).model_dump(by_alias=True) == doc
