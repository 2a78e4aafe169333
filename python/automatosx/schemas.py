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
  ProviderRouterOptions) are emitted only when they differ from their default; the
  deployment fields of ProviderConfig (``id``, ``group``, ``weight``) only when set.
* Provider names are open (any 1-64 character string): a ``ProviderConfig.name`` is the
  provider *kind* (``claude``, ``gemini``, ``openai`` or a user-registered kind).
* Every integer has an upper bound a Rust ``u32``/``u64`` can hold (named in its field's
  description); ``metadata`` is JSON (``dict[str, JsonValue]``, at most 32 levels deep and
  10,000 values); text with lone surrogates (e.g. ``"\\ud800"``), which no provider can
  encode as UTF-8, is refused at validation wherever a request carries text.
"""

from __future__ import annotations

import functools
import math
import os
import re
import time
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    SecretStr,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    StringConstraints,
    model_serializer,
    model_validator,
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
    "RouteTarget",
    "RouterOptions",
    "StreamChunk",
    "TokenUsage",
]

ProviderName = Annotated[str, StringConstraints(min_length=1, max_length=64)]
"""A provider kind (``claude``, ``gemini``, ``openai`` or a user-registered kind): 1-64 chars."""
RouteTarget = Annotated[str, StringConstraints(min_length=1, max_length=200)]
"""A routing target: a kind, a deployment id or group, later ``"<group-or-id>/<model>"``."""
Role = Literal["system", "user", "assistant"]
FinishReason = Literal["stop", "length", "content_filter", "tool_calls"]
HealthStatus = Literal["healthy", "degraded", "down"]

UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
UUIDStr = Annotated[str, StringConstraints(pattern=UUID_PATTERN)]
MAX_SAFE_INT = 2**53
"""The bound of counts, durations and timestamps: fits a u64 and a JavaScript number."""
NonNegInt = Annotated[int, Field(ge=0, le=MAX_SAFE_INT, description="0..2**53")]
PosInt = Annotated[int, Field(gt=0, le=MAX_SAFE_INT, description="1..2**53")]
_EXTENSION: JsonDict = {"extension": True}
_WHEN_SET: JsonDict = {"extension": "when-set"}
_DAY_MS = 86_400_000


def _check_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an absolute http(s) URL, e.g. 'https://api.example.com'")
    return value


HttpUrlStr = Annotated[str, AfterValidator(_check_url)]


def _check_text(value: str) -> str:
    """Refuse lone surrogates: they cannot be encoded as UTF-8, so no provider can take them."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(
                f"contains a lone surrogate at position {exc.start} ({value[exc.start]!r}), "
                "which is not valid Unicode text; decode the source with errors='replace'"
            ) from None
    return value


Text = Annotated[str, AfterValidator(_check_text)]
"""A string that is valid Unicode (no lone surrogates)."""

METADATA_MAX_DEPTH = 32
METADATA_MAX_VALUES = 10_000


def _check_json(value: dict[str, JsonValue]) -> dict[str, JsonValue]:
    """Bound a JSON document's depth and size, and refuse NaN/inf and lone surrogates.
    Pydantic's ``JsonValue`` already refuses tuple keys, sets, tuples and cycles."""
    budget = METADATA_MAX_VALUES
    stack: list[tuple[JsonValue, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        budget -= 1
        if budget < 0:
            raise ValueError(f"has more than {METADATA_MAX_VALUES} values; store less in it")
        if isinstance(node, str):
            _check_text(node)
        elif isinstance(node, float) and not math.isfinite(node):
            raise ValueError(f"holds {node!r}, which is not a JSON number")
        elif isinstance(node, (dict, list)):
            if depth > METADATA_MAX_DEPTH:
                raise ValueError(f"is nested deeper than {METADATA_MAX_DEPTH} levels; flatten it")
            items = node.items() if isinstance(node, dict) else enumerate(node)
            for key, child in items:
                if isinstance(key, str):
                    _check_text(key)
                stack.append((child, depth + 1))
    return value


JsonObject = Annotated[dict[str, JsonValue], AfterValidator(_check_json)]
"""A JSON object: string keys, JSON values, <= 32 levels deep, <= 10,000 values."""


def _bounded(upper: int, unit: str, *, lower: int = 0) -> Any:
    """A ``Field`` bounded to ``lower..upper``, described for users and the JSON schema."""
    return Field(ge=lower, le=upper, description=f"{unit}, {lower}..{upper:_}")


def _new_request_id() -> str:
    """A random version-4 UUID string from ``os.urandom`` (what ``uuid.uuid4`` uses), so no
    ``random.seed`` in user code can make two requests share an id; about twice as cheap as
    ``str(uuid.uuid4())``."""
    b = bytearray(_urandom(16))
    b[6] = b[6] & 0x0F | 0x40  # version 4
    b[8] = b[8] & 0x3F | 0x80  # RFC 4122 variant
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_urandom = os.urandom


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
            kind = extra.get("extension") if isinstance(extra, dict) else None
            if (
                (value is None and field.default is None)
                or (kind is True and value == field.get_default(call_default_factory=True))
                or (kind == "when-set" and name not in self.__pydantic_fields_set__)
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

    requests_per_minute: Annotated[int, _bounded(1_000_000_000, "requests a minute", lower=1)]
    tokens_per_minute: (
        Annotated[int, _bounded(1_000_000_000, "tokens a minute", lower=1)] | None
    ) = None


class ModelPrice(_SeedModel):
    """A per-token price override (USD) for one model."""

    input_cost_per_token: Annotated[float, Field(ge=0)]
    output_cost_per_token: Annotated[float, Field(ge=0)]


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
    enabled: bool = True
    priority: Annotated[int, Field(ge=1, le=10)] = 1
    api_key: Annotated[SecretStr, Field(min_length=1)] | None = None
    base_url: HttpUrlStr | None = None
    timeout: Annotated[int, _bounded(3_600_000, "ms", lower=1)] = 60_000
    max_retries: Annotated[int, _bounded(100, "retries")] = 3
    rate_limits: ProviderRateLimits
    models: Annotated[list[str], Field(min_length=1)]
    default_model: str
    prices: dict[str, ModelPrice] | None = Field(default=None, json_schema_extra=_EXTENSION)
    id: DeploymentId = Field(default="", validate_default=False, json_schema_extra=_WHEN_SET)
    group: DeploymentId = Field(default="", validate_default=False, json_schema_extra=_WHEN_SET)
    weight: Annotated[int, Field(ge=1, le=1000)] = Field(default=1, json_schema_extra=_WHEN_SET)
    azure_endpoint: HttpUrlStr | None = Field(default=None, json_schema_extra=_EXTENSION)
    api_version: str | None = Field(default=None, json_schema_extra=_EXTENSION)
    vertex: bool = Field(default=False, json_schema_extra=_EXTENSION)
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
        return self


_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")


class Message(_SeedModel):
    """One chat message."""

    role: Role
    content: Annotated[Text, StringConstraints(min_length=1, max_length=1_000_000)]
    name: Text | None = None
    metadata: JsonObject | None = None


class ProviderRequest(_SeedModel):
    """A chat request (seed: ``ProviderRequestSchema``)."""

    request_id: UUIDStr = Field(default_factory=_new_request_id)
    provider: ProviderName | None = None
    model: Annotated[Text, StringConstraints(min_length=1, max_length=100)] | None = None
    messages: Annotated[list[Message], Field(min_length=1, max_length=1000)]
    max_tokens: Annotated[int, Field(gt=0, le=200_000)] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] = 1.0
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    stream: bool = False
    stop_sequences: Annotated[list[Text], Field(max_length=10)] | None = None
    metadata: JsonObject | None = None

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
    metadata: JsonObject | None = None
    created_at: PosInt = Field(default_factory=_now_ms)


class StreamChunk(_SeedModel):
    """One piece of a streamed reply; the last one has ``done=True``."""

    model_config = ConfigDict(extra="ignore")

    request_id: UUIDStr
    index: NonNegInt
    chunk: str
    done: bool = False
    timestamp: PosInt = Field(default_factory=_now_ms)

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
            },
            set(_CHUNK_FIELDS),
        )


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
    delay), ``first_token_timeout_ms`` (streams: time to first chunk), ``record_messages``
    (store message bodies; False stores a SHA-256 digest), ``record_stream_chunks``.
    """

    primary_provider: RouteTarget
    fallback_providers: list[RouteTarget] = Field(default_factory=list)
    enable_fallback: bool = True
    enable_circuit_breaker: bool = True
    circuit_breaker_threshold: Annotated[int, _bounded(1_000_000, "failures", lower=1)] = 5
    circuit_breaker_timeout: Annotated[int, _bounded(_DAY_MS, "ms", lower=1)] = 60_000
    max_retry_wait_ms: Annotated[int, _bounded(_DAY_MS, "ms")] = Field(
        default=30_000, json_schema_extra=_EXTENSION
    )
    backoff_base_ms: Annotated[int, _bounded(_DAY_MS, "ms")] = Field(
        default=250, json_schema_extra=_EXTENSION
    )
    backoff_cap_ms: Annotated[int, _bounded(_DAY_MS, "ms")] = Field(
        default=8_000, json_schema_extra=_EXTENSION
    )
    first_token_timeout_ms: Annotated[int, _bounded(_DAY_MS, "ms", lower=1)] | None = Field(
        default=None, json_schema_extra=_EXTENSION
    )
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
