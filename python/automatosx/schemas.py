"""Pydantic models of the seed's ten Zod schemas.

Attributes are snake_case; every model accepts the seed's camelCase JSON (and snake_case
names) and emits camelCase with ``model_dump(by_alias=True)``. Optional fields that are unset
are left out of dumps, as Zod leaves them out, so a seed document round-trips exactly.

Deviations from the seed, each for a reason (see docs/architecture.md):

* ``ProviderRequest.request_id`` is generated (UUID4) when absent.
* ``ProviderRequest.provider`` and ``.model`` may be omitted: the router fills in the primary
  provider and its ``defaultModel``.
* ``ProviderConfig.api_key`` is a ``SecretStr``: it never appears in reprs, logs or dumps
  (dumps show ``**********``); read it with ``.get_secret_value()``.
* Fields marked as extensions (``prices`` on ProviderConfig, the router tuning knobs on
  ProviderRouterOptions) are emitted only when they differ from their default.
"""

from __future__ import annotations

import functools
import random
import time
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    StringConstraints,
    model_serializer,
)
from pydantic.alias_generators import to_camel
from pydantic.config import JsonDict
from typing_extensions import Self

__all__ = [
    "CostMetrics",
    "FinishReason",
    "HealthStatus",
    "Message",
    "ModelPrice",
    "ProviderConfig",
    "ProviderHealth",
    "ProviderName",
    "ProviderRateLimits",
    "ProviderRequest",
    "ProviderResponse",
    "ProviderRouterOptions",
    "RateLimitInfo",
    "Role",
    "RouterOptions",
    "StreamChunk",
    "TokenUsage",
]

ProviderName = Literal["claude", "gemini", "openai"]
Role = Literal["system", "user", "assistant"]
FinishReason = Literal["stop", "length", "content_filter", "tool_calls"]
HealthStatus = Literal["healthy", "degraded", "down"]

UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
UUIDStr = Annotated[str, StringConstraints(pattern=UUID_PATTERN)]
NonNegInt = Annotated[int, Field(ge=0)]
PosInt = Annotated[int, Field(gt=0)]
_EXTENSION: JsonDict = {"extension": True}


def _check_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an absolute http(s) URL, e.g. 'https://api.example.com'")
    return value


HttpUrlStr = Annotated[str, AfterValidator(_check_url)]


def _new_request_id() -> str:
    """A random version-4 UUID string, ~5x cheaper than ``str(uuid.uuid4())``. An identifier,
    not a secret: ``random`` (reseeded in forked children) is enough."""
    h = f"{(_getrandbits(128) & _UUID_CLEAR) | _UUID_V4:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_getrandbits = random.getrandbits
_UUID_CLEAR = ~((0xF << 76) | (0x3 << 62))
_UUID_V4 = (0x4 << 76) | (0x2 << 62)


_new = object.__new__
_setattr = object.__setattr__
_M = TypeVar("_M", bound=BaseModel)


@functools.cache
def _fields_of(cls: type[BaseModel]) -> frozenset[str]:
    return frozenset(cls.model_fields)


def _assemble(cls: type[_M], data: dict[str, Any], fields_set: set[str]) -> _M:
    """A model instance from already-valid field values, without validation: what
    ``model_construct`` does minus its per-field defaulting (the caller passes every field)."""
    obj = _new(cls)
    _setattr(obj, "__dict__", data)
    _setattr(obj, "__pydantic_fields_set__", fields_set)
    _setattr(obj, "__pydantic_extra__", None)
    _setattr(obj, "__pydantic_private__", None)
    return obj


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class _SeedModel(BaseModel):
    """Shared config: camelCase aliases, snake_case names accepted, Zod-like dumps."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        extra="forbid",
        frozen=False,
        str_strip_whitespace=False,
    )

    @model_serializer(mode="wrap")
    def _drop_unset_optionals(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        fields = type(self).model_fields
        for name, field in fields.items():
            key = field.alias if info.by_alias and field.alias else name
            if key not in data:
                continue
            value = getattr(self, name)
            extra = field.json_schema_extra
            is_extension = isinstance(extra, dict) and extra.get("extension") is True
            if (value is None and field.default is None) or (
                is_extension and value == field.get_default(call_default_factory=True)
            ):
                del data[key]
        return data

    @classmethod
    def _trusted(cls, **values: Any) -> Self:
        """Build from values that are already valid, skipping validation (``model_construct``
        costs ~2.5 us, this ~0.5 us). ``values`` must name every field; only the router and
        the adapters use it, with values they built themselves."""
        return _assemble(cls, values, set(_fields_of(cls)))


class ProviderRateLimits(_SeedModel):
    """``rateLimits`` of a provider: enforced client-side by the router's GCRA limiter."""

    requests_per_minute: PosInt
    tokens_per_minute: PosInt | None = None


class ModelPrice(_SeedModel):
    """A per-token price override (USD) for one model."""

    input_cost_per_token: Annotated[float, Field(ge=0)]
    output_cost_per_token: Annotated[float, Field(ge=0)]


class ProviderConfig(_SeedModel):
    """One provider's configuration (seed: ``ProviderConfigSchema``). ``timeout`` is in ms."""

    name: ProviderName
    enabled: bool = True
    priority: Annotated[int, Field(ge=1, le=10)] = 1
    api_key: Annotated[SecretStr, Field(min_length=1)] | None = None
    base_url: HttpUrlStr | None = None
    timeout: PosInt = 60_000
    max_retries: NonNegInt = 3
    rate_limits: ProviderRateLimits
    models: Annotated[list[str], Field(min_length=1)]
    default_model: str
    prices: dict[str, ModelPrice] | None = Field(default=None, json_schema_extra=_EXTENSION)


class Message(_SeedModel):
    """One chat message."""

    role: Role
    content: Annotated[str, StringConstraints(min_length=1, max_length=1_000_000)]
    name: str | None = None
    metadata: dict[str, Any] | None = None


class ProviderRequest(_SeedModel):
    """A chat request (seed: ``ProviderRequestSchema``)."""

    request_id: UUIDStr = Field(default_factory=_new_request_id)
    provider: ProviderName | None = None
    model: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    messages: Annotated[list[Message], Field(min_length=1, max_length=1000)]
    max_tokens: Annotated[int, Field(gt=0, le=200_000)] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] = 1.0
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    stream: bool = False
    stop_sequences: Annotated[list[str], Field(max_length=10)] | None = None
    metadata: dict[str, Any] | None = None

    def _rerouted(self, provider: ProviderName, model: str, stream: bool) -> ProviderRequest:
        """A copy aimed at another provider/model, skipping validation (the values come from
        validated configuration): ``model_copy``'s ~1.8 us is too much per attempt."""
        data = dict(self.__dict__)
        data["provider"] = provider
        data["model"] = model
        data["stream"] = stream
        return _assemble(ProviderRequest, data, self.__pydantic_fields_set__ | _ROUTE_FIELDS)


_ROUTE_FIELDS = frozenset({"provider", "model", "stream"})


class TokenUsage(_SeedModel):
    """Token counts of one response."""

    model_config = ConfigDict(extra="ignore")

    input_tokens: NonNegInt = 0
    output_tokens: NonNegInt = 0
    total_tokens: NonNegInt = 0


class ProviderResponse(_SeedModel):
    """A completed reply (seed: ``ProviderResponseSchema``). ``duration`` is in ms,
    ``cost`` in USD, ``created_at`` in ms since the epoch."""

    model_config = ConfigDict(extra="ignore")

    request_id: UUIDStr
    provider: ProviderName
    model: Annotated[str, StringConstraints(min_length=1)]
    content: str
    tokens: TokenUsage
    finish_reason: FinishReason | None = None
    duration: NonNegInt
    cost: Annotated[float, Field(ge=0)] | None = None
    metadata: dict[str, Any] | None = None
    created_at: PosInt = Field(default_factory=_now_ms)


class StreamChunk(_SeedModel):
    """One piece of a streamed reply; the last one has ``done=True``."""

    model_config = ConfigDict(extra="ignore")

    request_id: UUIDStr
    index: NonNegInt
    chunk: str
    done: bool = False
    timestamp: PosInt = Field(default_factory=_now_ms)
    restart: bool = Field(default=False, json_schema_extra=_EXTENSION)
    """Extension: the reply started again after a mid-reply failure — discard the chunks
    shown so far; this chunk's ``index`` is 0."""

    @classmethod
    def _chunk(cls, request_id: str, index: int, chunk: str, done: bool, timestamp: int) -> Self:
        """The per-chunk path's trusted constructor, positional (each keyword costs here)."""
        return _assemble(
            cls,
            {
                "request_id": request_id,
                "index": index,
                "chunk": chunk,
                "done": done,
                "timestamp": timestamp,
                "restart": False,
            },
            set(_CHUNK_FIELDS),
        )

    @classmethod
    def _restarted(cls, request_id: str, index: int, chunk: str, timestamp: int) -> Self:
        """The first chunk of a restarted stream."""
        made = cls._chunk(request_id, index, chunk, False, timestamp)
        made.__dict__["restart"] = True
        return made


_CHUNK_FIELDS = frozenset(StreamChunk.model_fields)


class ProviderHealth(_SeedModel):
    """The result of one health check. ``latency`` in ms; ``rate_limit_reset`` and
    ``last_checked`` in ms since the epoch. ``error`` is an extension: why it is not healthy."""

    model_config = ConfigDict(extra="ignore")

    provider: ProviderName
    status: HealthStatus
    latency: Annotated[float, Field(ge=0)] | None = None
    rate_limit_remaining: NonNegInt | None = None
    rate_limit_reset: PosInt | None = None
    last_checked: PosInt = Field(default_factory=_now_ms)
    error: str | None = Field(default=None, json_schema_extra=_EXTENSION)


class RateLimitInfo(_SeedModel):
    """A provider's rate-limit budget, read from its response headers. ``reset`` is in ms
    since the epoch; ``retry_after`` in seconds."""

    model_config = ConfigDict(extra="ignore")

    limit: PosInt
    remaining: NonNegInt
    reset: PosInt
    retry_after: NonNegInt | None = None


class ProviderRouterOptions(_SeedModel):
    """Router options (seed: ``ProviderRouterOptionsSchema``), plus tuning extensions.

    ``circuit_breaker_timeout`` is the breaker's reset timeout in ms. Extensions:
    ``max_retry_wait_ms`` (the longest retry-after or limiter wait the router sleeps through;
    longer means fall back now), ``backoff_base_ms`` / ``backoff_cap_ms`` (full-jitter retry
    delay), ``first_token_timeout_ms`` (streams: time to first chunk, default 10 s; ``None``
    disables it; its expiry falls back), ``stream_idle_timeout_ms`` (streams: the longest gap
    between chunks after the first, default 10 s; ``None`` disables it), ``restart_streams``
    (default True: a stream that fails mid-reply starts again, marked ``restart=True``; False
    ends it with the error), ``fallback_on_content_filter`` (default False), ``record_messages``
    (store message bodies; False stores a SHA-256 digest), ``record_stream_chunks``.
    """

    primary_provider: ProviderName
    fallback_providers: list[ProviderName] = Field(default_factory=list)
    enable_fallback: bool = True
    enable_circuit_breaker: bool = True
    circuit_breaker_threshold: PosInt = 5
    circuit_breaker_timeout: PosInt = 60_000
    max_retry_wait_ms: NonNegInt = Field(default=30_000, json_schema_extra=_EXTENSION)
    backoff_base_ms: NonNegInt = Field(default=250, json_schema_extra=_EXTENSION)
    backoff_cap_ms: NonNegInt = Field(default=8_000, json_schema_extra=_EXTENSION)
    first_token_timeout_ms: Annotated[int, Field(gt=0, le=86_400_000)] | None = Field(
        default=10_000, json_schema_extra=_EXTENSION
    )
    stream_idle_timeout_ms: Annotated[int, Field(gt=0, le=86_400_000)] | None = Field(
        default=10_000, json_schema_extra=_EXTENSION
    )
    restart_streams: bool = Field(default=True, json_schema_extra=_EXTENSION)
    fallback_on_content_filter: bool = Field(default=False, json_schema_extra=_EXTENSION)
    record_messages: bool = Field(default=True, json_schema_extra=_EXTENSION)
    record_stream_chunks: bool = Field(default=True, json_schema_extra=_EXTENSION)


RouterOptions = ProviderRouterOptions


class CostMetrics(_SeedModel):
    """The cost of one response, in ``currency`` (USD)."""

    provider: ProviderName
    model: str
    input_tokens: NonNegInt
    output_tokens: NonNegInt
    input_cost_per_token: Annotated[float, Field(ge=0)]
    output_cost_per_token: Annotated[float, Field(ge=0)]
    total_cost: Annotated[float, Field(ge=0)]
    currency: str = "USD"
