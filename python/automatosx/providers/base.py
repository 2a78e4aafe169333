"""The Provider protocol: what the router needs from an adapter.

The three built-in adapters (``claude``, ``openai``, ``gemini``) implement it over the
official SDKs; anyone can write their own (a proxy, a test double, a different transport) and
pass the instance to ``Router(providers=[...])``.

An adapter is *I/O only*: it makes one attempt and maps the outcome. It never retries, never
falls back and never sleeps — the router owns that policy. Every failure must be raised as a
:class:`automatosx.errors.ProviderError` subclass (mapping is the adapter's one job), with
``retry_after`` set when the server sent one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from automatosx.schemas import (
    FinishReason,
    ProviderHealth,
    ProviderName,
    ProviderRequest,
    ProviderResponse,
    RateLimitInfo,
    TokenUsage,
    ToolCall,
)

__all__ = ["Provider", "StreamEnd", "StreamEvent"]


@dataclass(frozen=True, slots=True)
class StreamEnd:
    """The last item of :meth:`Provider.stream`: usage (with its cache and reasoning details)
    and finish reason of the whole reply, and every tool call it made, in order.

    ``skipped_events`` counts the malformed events the adapter skipped in an otherwise good
    stream (each logged at WARNING on the ``automatosx`` logger).
    """

    usage: TokenUsage
    finish_reason: FinishReason | None = None
    model: str | None = None
    tool_calls: tuple[ToolCall, ...] | None = None
    skipped_events: int = 0


StreamEvent = str | ToolCall | StreamEnd
"""What :meth:`Provider.stream` yields: text chunks (``str``) and, as each completes, the
reply's tool calls (:class:`~automatosx.schemas.ToolCall`; only when the request declared
tools), then exactly one ``StreamEnd``."""


@runtime_checkable
class Provider(Protocol):
    """A provider adapter.

    ``request.provider`` and ``request.model`` are already set by the router when a method is
    called (the model is the candidate's: a fallback uses its own ``defaultModel``).
    """

    @property
    def name(self) -> ProviderName:
        """``"claude"``, ``"gemini"`` or ``"openai"``: the name the router routes by."""
        ...

    @property
    def rate_limit(self) -> RateLimitInfo | None:
        """The budget left as of the last response or health check, or None if unknown."""
        ...

    async def execute(self, request: ProviderRequest) -> ProviderResponse:
        """Make one non-streaming call. ``duration`` is the call's wall time in ms;
        ``cost`` may be left None (the router prices the response)."""
        ...

    def stream(self, request: ProviderRequest) -> AsyncIterator[StreamEvent]:
        """Make one streaming call: yield text chunks in order, then one :class:`StreamEnd`.

        Errors before or during the stream (including error events after HTTP 200) are
        raised as ``ProviderError`` subclasses from the iterator.
        """
        ...

    async def check_health(self) -> ProviderHealth:
        """A cheap live check (e.g. list models); never raises for provider errors — it
        reports ``down`` or ``degraded`` with ``error`` set."""
        ...

    async def aclose(self) -> None:
        """Release the SDK client and its connections. Idempotent."""
        ...
