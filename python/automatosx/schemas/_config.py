"""Configuration: ``ProviderConfig`` (one deployment) with ``ProviderRateLimits`` and
``ModelPrice``; ``ProviderRouterOptions`` (``RouterOptions``) with ``HedgingOptions``."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import (
    Field,
    JsonValue,
    SecretStr,
    StringConstraints,
    field_validator,
    model_validator,
)
from typing_extensions import Self

from automatosx.schemas._base import (
    _DAY_MS,
    _EXTENSION,
    _STRICT,
    _TTL_S,
    _WHEN_SET,
    HttpUrlStr,
    ProviderName,
    RouteTarget,
    _bounded,
    _Flag,
    _SeedModel,
)


class ProviderRateLimits(_SeedModel):
    """``rateLimits`` of a provider: enforced client-side by the router's GCRA limiter."""

    requests_per_minute: Annotated[
        int, _STRICT, _bounded(1_000_000_000, "requests a minute", lower=1)
    ]
    tokens_per_minute: (
        Annotated[int, _STRICT, _bounded(1_000_000_000, "tokens a minute", lower=1)] | None
    ) = None


class ModelPrice(_SeedModel):
    """A per-token price override (USD) for one model."""

    input_cost_per_token: Annotated[float, _STRICT, Field(ge=0)]
    output_cost_per_token: Annotated[float, _STRICT, Field(ge=0)]


DeploymentId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
"""A deployment id or group name: 1-64 of ``A-Z a-z 0-9 . _ -``."""


class ProviderConfig(_SeedModel):
    """One deployment of a provider kind (seed: ``ProviderConfigSchema``). ``timeout`` in ms.

    ``name`` is the provider kind. Extensions, emitted only when set: ``id`` (default: the
    name; the unit of routing: breakers, limiters and cool-downs are per id), ``group``
    (default: the id; a fallback entry may name it), ``weight`` (1..1000, default 1: the
    share of traffic among a group's deployments). Extensions for Azure OpenAI and Vertex AI,
    emitted only when set: ``azure_endpoint``, ``api_version``, ``vertex``, ``project``,
    ``location``.
    """

    name: ProviderName
    enabled: _Flag = True
    priority: Annotated[int, _STRICT, Field(ge=1, le=10)] = 1
    api_key: Annotated[SecretStr, Field(min_length=1)] | None = None
    base_url: HttpUrlStr | None = None
    timeout: Annotated[int, _STRICT, _bounded(3_600_000, "ms", lower=1)] = 60_000
    max_retries: Annotated[int, _STRICT, _bounded(100, "retries")] = 3
    rate_limits: ProviderRateLimits
    models: Annotated[list[str], Field(min_length=1)]
    default_model: str
    prices: dict[str, ModelPrice] | None = Field(default=None, json_schema_extra=_EXTENSION)
    id: DeploymentId = Field(default="", validate_default=False, json_schema_extra=_WHEN_SET)
    group: DeploymentId = Field(default="", validate_default=False, json_schema_extra=_WHEN_SET)
    weight: Annotated[int, _STRICT, Field(ge=1, le=1000)] = Field(
        default=1, json_schema_extra=_WHEN_SET
    )
    azure_endpoint: HttpUrlStr | None = Field(default=None, json_schema_extra=_EXTENSION)
    api_version: str | None = Field(default=None, json_schema_extra=_EXTENSION)
    vertex: _Flag = Field(default=False, json_schema_extra=_EXTENSION)
    project: str | None = Field(default=None, json_schema_extra=_EXTENSION)
    location: str | None = Field(default=None, json_schema_extra=_EXTENSION)

    @model_validator(mode="after")
    def _default_id_and_group(self) -> Self:
        # Written into __dict__ so they stay "unset" and out of dumps.
        if "id" not in self.__pydantic_fields_set__:
            if not _ID_RE.fullmatch(self.name):
                raise ValueError(
                    f"id: the name {self.name!r} is not a valid deployment id "
                    "(1-64 of A-Z a-z 0-9 . _ -); set id explicitly"
                )
            self.__dict__["id"] = self.name
        if "group" not in self.__pydantic_fields_set__:
            self.__dict__["group"] = self.id
        if self.default_model not in self.models:
            raise ValueError(
                f"defaultModel: {self.default_model!r} is not in models {self.models!r} "
                "(add it to models, or pick one of them)"
            )
        return self


_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")


class HedgingOptions(_SeedModel):
    """``RouterOptions.hedging``: when the first attempt has produced nothing after
    ``after_ms`` (a number, or ``"p95"``: the deployment's observed p95 time to first byte),
    the next candidate is started in parallel; the first to answer wins. ``max_extra_percent``
    caps the extra requests as a share of recent requests (default 10)."""

    after_ms: Annotated[int, _STRICT, Field(ge=1, le=86_400_000)] | Literal["p95"]
    max_extra_percent: Annotated[float, _STRICT, Field(gt=0, le=100)] = 10.0


LoadBalancing = Literal["weighted", "least_in_flight", "latency"]


class CacheOptions(_SeedModel):
    """``RouterOptions.cache``: the response cache's defaults. ``default_ttl_s`` (a day),
    ``cache_by_default`` (False: only requests that carry ``cache`` use it; True: every
    request unless its ``cache.mode`` is ``off``), and the memory cache's bounds
    ``max_entries`` (10,000) and ``max_bytes`` (64 MiB of stored replies)."""

    default_ttl_s: Annotated[float, _TTL_S] = 86_400.0
    cache_by_default: _Flag = False
    max_entries: Annotated[int, _STRICT, _bounded(100_000_000, "entries", lower=1)] = 10_000
    max_bytes: Annotated[int, _STRICT, _bounded(2**40, "bytes", lower=1)] = 64 * 2**20


class StickyRoutingOptions(_SeedModel):
    """``RouterOptions.stickyRouting``: send the requests of one conversation (``key``:
    ``prefix`` — the system prompt, the tools and the first ``prefix_messages`` messages —,
    ``user`` or ``tenant``) to the deployment of their group that served the last one within
    ``ttl_s``, so the provider's prompt cache on that deployment stays warm. ``max_entries``
    bounds the map (least recently used go first)."""

    key: Literal["prefix", "user", "tenant"]
    ttl_s: Annotated[float, _TTL_S] = 300.0
    prefix_messages: Annotated[int, _STRICT, _bounded(1000, "messages")] = 1
    max_entries: Annotated[int, _STRICT, _bounded(100_000_000, "entries", lower=1)] = 100_000


class ProviderRouterOptions(_SeedModel):
    """Router options (seed: ``ProviderRouterOptionsSchema``), plus tuning extensions.

    ``circuit_breaker_timeout`` is the breaker's reset timeout in ms. Extensions:
    ``max_retry_wait_ms`` (the longest retry-after or limiter wait the router sleeps through;
    longer means fall back now), ``backoff_base_ms`` / ``backoff_cap_ms`` (full-jitter retry
    delay), ``first_token_timeout_ms`` (streams: time to first chunk, default 10 s; ``None``
    disables it; its expiry falls back), ``stream_idle_timeout_ms`` (streams: the longest gap
    between chunks after the first, default 10 s; ``None`` disables it), ``restart_streams``
    (default True: a stream that fails mid-reply starts again, marked ``restart=True``; False
    ends it with the error), ``fallback_on_content_filter`` (default False), ``load_balancing``
    (within a group of deployments: ``weighted`` (default), ``least_in_flight``, ``latency``),
    ``hedging`` (:class:`HedgingOptions`; off by default), ``record_messages``
    (store message bodies; False stores a SHA-256 digest), ``record_stream_chunks``,
    ``cache`` (:class:`CacheOptions`: the response cache's defaults), ``sticky_routing``
    (:class:`StickyRoutingOptions`; off by default), ``max_validation_retries`` (default 0,
    at most 10: ``execute(..., response_model=T)`` re-asks a reply that does not validate as
    ``T`` this many times; per call: ``max_validation_retries=``).
    """

    primary_provider: RouteTarget
    fallback_providers: list[RouteTarget] = Field(default_factory=list)
    enable_fallback: _Flag = True
    enable_circuit_breaker: _Flag = True
    circuit_breaker_threshold: Annotated[int, _STRICT, _bounded(1_000_000, "failures", lower=1)] = 5
    circuit_breaker_timeout: Annotated[int, _STRICT, _bounded(_DAY_MS, "ms", lower=1)] = 60_000
    max_retry_wait_ms: Annotated[int, _STRICT, _bounded(_DAY_MS, "ms")] = Field(
        default=30_000, json_schema_extra=_EXTENSION
    )
    backoff_base_ms: Annotated[int, _STRICT, _bounded(_DAY_MS, "ms")] = Field(
        default=250, json_schema_extra=_EXTENSION
    )
    backoff_cap_ms: Annotated[int, _STRICT, _bounded(_DAY_MS, "ms")] = Field(
        default=8_000, json_schema_extra=_EXTENSION
    )
    first_token_timeout_ms: Annotated[int, _STRICT, _bounded(_DAY_MS, "ms", lower=1)] | None = (
        Field(default=10_000, json_schema_extra=_EXTENSION)
    )
    stream_idle_timeout_ms: Annotated[int, _STRICT, _bounded(_DAY_MS, "ms", lower=1)] | None = (
        Field(default=10_000, json_schema_extra=_EXTENSION)
    )
    restart_streams: _Flag = Field(default=True, json_schema_extra=_EXTENSION)
    fallback_on_content_filter: _Flag = Field(default=False, json_schema_extra=_EXTENSION)
    load_balancing: LoadBalancing = Field(default="weighted", json_schema_extra=_EXTENSION)
    hedging: HedgingOptions | None = Field(default=None, json_schema_extra=_EXTENSION)
    record_messages: _Flag = Field(default=True, json_schema_extra=_EXTENSION)
    record_stream_chunks: _Flag = Field(default=True, json_schema_extra=_EXTENSION)
    max_validation_retries: Annotated[int, _STRICT, Field(ge=0, le=10)] = Field(
        default=0, json_schema_extra=_EXTENSION
    )
    cache: CacheOptions | None = Field(default=None, json_schema_extra=_EXTENSION)
    sticky_routing: StickyRoutingOptions | None = Field(default=None, json_schema_extra=_EXTENSION)
    budgets: list[dict[str, JsonValue]] = Field(default_factory=list, json_schema_extra=_EXTENSION)
    """Spend caps (``docs/guides/budgets.md``): each ``{"id", "limitUsd"?, "limitTokens"?,
    "window", "per"?, "match"?, "onExceeded"?, "alertAt"?}``; checked when set (a bad entry
    raises ``ConfigurationError`` naming it)."""
    unpriced_models: Literal["refuse", "allow"] = Field(
        default="refuse", json_schema_extra=_EXTENSION
    )
    """A model with no price under a matching USD budget: ``refuse`` (``UnpricedModelError``)
    or ``allow`` (it costs $0 in USD budgets)."""

    @field_validator("budgets", mode="after")
    @classmethod
    def _check_budgets(cls, value: list[dict[str, JsonValue]]) -> list[dict[str, JsonValue]]:
        if value:
            from automatosx.budgets import parse_budgets

            parse_budgets(value)  # raises ConfigurationError naming the entry
        return value

    @model_validator(mode="after")
    def _backoff_in_order(self) -> Self:
        if self.backoff_base_ms > self.backoff_cap_ms:
            raise ValueError(
                f"backoffBaseMs ({self.backoff_base_ms}) is above backoffCapMs "
                f"({self.backoff_cap_ms}): the first retry's delay would exceed the cap; "
                "lower backoffBaseMs or raise backoffCapMs"
            )
        return self


RouterOptions = ProviderRouterOptions
