"""What comes back: ``TokenUsage``, ``ProviderResponse``, ``StreamChunk``,
``ProviderHealth``, ``RateLimitInfo``, ``CostMetrics``."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict, Field, StringConstraints
from typing_extensions import Self

from automatosx.schemas._base import (
    _EXTENSION,
    FinishReason,
    HealthStatus,
    JsonObject,
    NonNegInt,
    PosInt,
    ProviderName,
    UUIDStr,
    _assemble,
    _none_as_empty,
    _now_ms,
    _SeedModel,
)
from automatosx.schemas._content import Message, ToolCall


class TokenUsage(_SeedModel):
    """Token counts of one response."""

    model_config = ConfigDict(extra="ignore")

    input_tokens: NonNegInt = 0
    output_tokens: NonNegInt = 0
    total_tokens: NonNegInt = 0
    cached_input_tokens: NonNegInt | None = None
    """Prompt tokens read from the provider's cache (part of ``input_tokens``)."""
    cache_write_tokens: NonNegInt | None = None
    """Prompt tokens written to the provider's cache (part of ``input_tokens``)."""
    reasoning_tokens: NonNegInt | None = None
    """Tokens the model spent thinking (part of ``output_tokens``)."""


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
    tool_calls: Annotated[list[ToolCall], BeforeValidator(_none_as_empty)] = Field(
        default_factory=list, json_schema_extra=_EXTENSION
    )
    """The tool calls the reply makes, in order; empty when it makes none (left out of dumps
    when empty)."""
    parsed: Any = None
    """The reply parsed into the caller's ``response_model`` (left out of dumps when None)."""
    cached: bool = Field(default=False, json_schema_extra=_EXTENSION)
    """Served from the router's response cache (``cost`` is then 0). Emitted only when true."""
    saved_cost: Annotated[float, Field(ge=0)] | None = Field(
        default=None, json_schema_extra=_EXTENSION
    )
    """For a cached reply: what the stored reply cost when the provider made it (USD)."""

    def to_message(self) -> Message:
        """This reply as the next turn's ``assistant`` message, its tool calls included: append
        it to the request's messages, then a ``tool`` message per call with the result."""
        calls = list(self.tool_calls) if self.tool_calls else None
        return Message(role="assistant", content=self.content or None, tool_calls=calls)


class StreamChunk(_SeedModel):
    """One piece of a streamed reply; the last one has ``done=True``."""

    model_config = ConfigDict(extra="ignore")

    request_id: UUIDStr
    index: NonNegInt
    chunk: str
    done: bool = False
    timestamp: PosInt = Field(default_factory=_now_ms)
    tool_call: ToolCall | None = None
    """A completed tool call (its ``chunk`` is empty)."""
    restart: bool = Field(default=False, json_schema_extra=_EXTENSION)
    """True on the first chunk of a stream that restarted after a failure mid-reply (the
    index starts from 0 again): discard what came before. Emitted only when true."""
    cached: bool = Field(default=False, json_schema_extra=_EXTENSION)
    """A chunk replayed from the router's response cache. Emitted only when true."""
    deployment: ProviderName | None = Field(default=None, json_schema_extra=_EXTENSION)
    """The deployment whose attempt produced this chunk (None: no attempt did, e.g. a reply
    from the response cache)."""
    model: Annotated[str, StringConstraints(max_length=200)] | None = Field(
        default=None, json_schema_extra=_EXTENSION
    )
    """The model that attempt asked for."""
    attempt: PosInt | None = Field(default=None, json_schema_extra=_EXTENSION)
    """That attempt's number, 1-based over the whole request (retries, fallbacks, hedges)."""

    @classmethod
    def _chunk(
        cls,
        request_id: str,
        index: int,
        chunk: str,
        done: bool,
        timestamp: int,
        source: tuple[str | None, str | None, int | None] = (None, None, None),
    ) -> Self:
        """The per-chunk path's trusted constructor, positional (each keyword costs here);
        ``source`` is the attempt's (deployment, model, number), built once per attempt."""
        deployment, model, attempt = source
        return _assemble(
            cls,
            {
                "request_id": request_id,
                "index": index,
                "chunk": chunk,
                "done": done,
                "timestamp": timestamp,
                "tool_call": None,
                "restart": False,
                "cached": False,
                "deployment": deployment,
                "model": model,
                "attempt": attempt,
            },
            set(_CHUNK_FIELDS),
        )

    @classmethod
    def _restarted(
        cls,
        request_id: str,
        index: int,
        chunk: str,
        timestamp: int,
        source: tuple[str | None, str | None, int | None] = (None, None, None),
    ) -> Self:
        """The first chunk of a restarted stream."""
        made = cls._chunk(request_id, index, chunk, False, timestamp, source)
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
    cached_input_tokens: NonNegInt | None = None
    cache_write_tokens: NonNegInt | None = None
    reasoning_tokens: NonNegInt | None = None
    cache_read_cost_per_token: Annotated[float, Field(ge=0)] | None = None
    cache_write_cost_per_token: Annotated[float, Field(ge=0)] | None = None
