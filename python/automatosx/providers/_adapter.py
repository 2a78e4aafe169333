"""What the three SDK adapters share: config, timing, rate-limit headers, health, closing.

Each adapter subclasses :class:`SdkAdapter` (Claude and OpenAI through
:class:`StainlessAdapter`, for what their Stainless-generated SDKs share) and supplies the SDK
calls, ``map_error`` and its rate-limit header names; everything per request here is a few
attribute reads.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, ClassVar

import httpx2

from automatosx._clock import now_ms
from automatosx.errors import (
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    ServerError,
    redact,
)
from automatosx.providers._config import api_key_for
from automatosx.providers._errors import chained, retry_after_from_headers
from automatosx.providers.base import StreamEvent
from automatosx.schemas import (
    FinishReason,
    HealthStatus,
    ProviderConfig,
    ProviderHealth,
    ProviderName,
    ProviderRequest,
    ProviderResponse,
    RateLimitInfo,
    TokenUsage,
)

__all__ = [
    "MALFORMED_ERRORS",
    "SdkAdapter",
    "StainlessAdapter",
    "epoch_ms_from_rfc3339",
    "json_body",
    "make_response",
    "malformed",
    "now_ms",
    "token_count",
    "token_usage",
    "wire_str",
]

DEGRADED_LATENCY_MS = 2_000.0
"""A health check slower than this reports ``degraded``."""
DEGRADED_REMAINING_FRACTION = 0.1
"""A health check reports ``degraded`` when less than this fraction of the budget is left."""
_COUNT_LIMIT = 2**63
"""Token counts must be below this: they must fit a signed 64-bit integer (SQLite INTEGER)."""

MALFORMED_ERRORS: tuple[type[Exception], ...] = (
    LookupError,
    TypeError,
    AttributeError,
    ValueError,
)
"""What reading fields from a reply of the wrong shape raises (``KeyError`` of a missing key,
``TypeError`` of ``None + 1``, ``AttributeError`` of an SDK object built without validation,
``ValueError`` from :func:`token_usage` or :func:`wire_str`); the adapters turn these into
:func:`malformed`."""


def epoch_ms_from_rfc3339(value: str) -> int | None:
    """Milliseconds since the epoch of an RFC 3339 timestamp (``2025-01-01T00:00:30Z``)."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return int(moment.timestamp() * 1000)


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


def json_body(raw: Any) -> dict[str, Any]:
    """The decoded JSON body of an SDK raw response (``.with_raw_response``).

    Reading the few fields we need from the dict costs a few microseconds; the SDKs' own
    ``parse()`` builds their whole response model (about 80 us).
    """
    data = json.loads(raw.http_response.content)
    if not isinstance(data, dict):
        raise json.JSONDecodeError("expected a JSON object", str(data)[:50], 0)
    return data


def malformed(provider: str, exc: Exception, api_key: str | None = None) -> ProviderError:
    """A reply whose JSON does not have the provider's shape."""
    return ServerError(
        redact(f"malformed response: {type(exc).__name__}: {exc}", api_key), provider=provider
    )


def token_count(value: Any) -> int:
    """One token count read from the wire (a part of a sum): ``int(value)``, checked to be
    non-negative and below 2**63; ``ValueError`` or ``TypeError`` otherwise."""
    try:
        count = int(value)
    except OverflowError as exc:
        raise ValueError(f"token count out of range: {exc}") from exc
    if not 0 <= count < _COUNT_LIMIT:
        raise ValueError(f"token count out of range: {count}")
    return count


def token_usage(input_tokens: Any, output_tokens: Any, total_tokens: Any = None) -> TokenUsage:
    """The TokenUsage of counts read from the wire, built without re-validation: counts are
    coerced to ``int`` and checked to be non-negative (and below 2**63); ``total_tokens`` of
    ``None`` is input + output. Raises ``ValueError`` or ``TypeError`` otherwise."""
    try:
        inputs, outputs = int(input_tokens), int(output_tokens)
        total = inputs + outputs if total_tokens is None else int(total_tokens)
    except OverflowError as exc:  # int(float("inf")): Python's json reads ``Infinity``
        raise ValueError(f"token count out of range: {exc}") from exc
    if not (
        0 <= inputs < _COUNT_LIMIT and 0 <= outputs < _COUNT_LIMIT and 0 <= total < _COUNT_LIMIT
    ):
        raise ValueError(f"token counts out of range: {inputs}, {outputs}, {total}")
    return TokenUsage._trusted(input_tokens=inputs, output_tokens=outputs, total_tokens=total)


def wire_str(value: Any, field: str) -> str:
    """``value`` if it is a ``str``; ``ValueError`` naming ``field`` (not the value) if not."""
    if not isinstance(value, str):
        raise ValueError(f"{field} is {type(value).__name__}, not str")
    return value


def make_response(
    request: ProviderRequest,
    provider: ProviderName,
    model: Any,
    content: Any,
    input_tokens: Any,
    output_tokens: Any,
    total_tokens: Any,
    finish_reason: FinishReason | None,
    started_ns: int,
) -> ProviderResponse:
    """The ProviderResponse of one attempt, built without re-validation (~0.5 us instead of
    ~3 us). ``model``, ``content`` and the counts come from the wire: counts are coerced to
    ``int`` and checked non-negative (see :func:`token_usage`), content and model checked to
    be ``str``; anything else raises ``ValueError`` (or ``TypeError``), which the caller turns
    into :func:`malformed`. ``finish_reason`` is the adapter's own mapping."""
    ended = time.perf_counter_ns()
    tokens = token_usage(input_tokens, output_tokens, total_tokens)
    return ProviderResponse._trusted(
        request_id=request.request_id,
        provider=provider,
        model=wire_str(model, "model"),
        content=wire_str(content, "content"),
        tokens=tokens,
        finish_reason=finish_reason,
        duration=(ended - started_ns) // 1_000_000,
        cost=None,
        metadata=None,
        created_at=now_ms(),
        tool_calls=[],
        parsed=None,  # every field: _trusted's fast path
        cached=False,
        saved_cost=None,
    )


class SdkAdapter:
    """Base of the built-in adapters. Subclasses set the class attributes and implement the
    SDK calls (``execute``, ``stream``, ``_ping``, ``_close``) and ``map_error``."""

    kind: ClassVar[str]
    """The provider kind this adapter speaks (``ProviderConfig.name``)."""
    sdk_errors: ClassVar[tuple[type[BaseException], ...]]
    """Exceptions ``map_error`` understands: the SDK's, httpx2's, malformed JSON."""
    # Rate-limit headers: (limit, remaining, reset) names, and how to read ``reset``.
    rate_limit_headers: ClassVar[tuple[str, str, str] | None] = None

    def __init__(self, config: ProviderConfig, *, http_client: httpx2.AsyncClient | None) -> None:
        if config.name != self.kind:
            raise ValueError(f"{type(self).__name__} needs a {self.kind!r} config")
        self.name: ProviderName = config.id or config.name
        """The deployment id: what errors and responses name."""
        self.config = config
        self._api_key = api_key_for(config)
        self._default_model = config.default_model
        self._timeout_s = config.timeout / 1000
        self._http_client = http_client
        self._owns_http_client = http_client is None
        self._closed = False
        self._rl_pending: tuple[Mapping[str, str], int] | None = None
        self._rl: RateLimitInfo | None = None
        self._failures: tuple[type[BaseException], ...] = (*self.sdk_errors, *MALFORMED_ERRORS)
        """What :meth:`failure` turns into a ProviderError."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} model={self._default_model!r}>"

    # -- the protocol ----------------------------------------------------------------------

    @property
    def rate_limit(self) -> RateLimitInfo | None:
        pending = self._rl_pending
        if pending is not None:
            self._rl_pending = None
            info = self._parse_rate_limit(*pending)
            if info is not None:
                self._rl = info
        return self._rl

    async def execute(self, request: ProviderRequest) -> ProviderResponse:
        raise NotImplementedError

    def stream(self, request: ProviderRequest) -> AsyncIterator[StreamEvent]:
        raise NotImplementedError

    async def check_health(self) -> ProviderHealth:
        started = time.perf_counter()
        error: ProviderError | None = None
        try:
            await self._ping()
        except Exception as exc:
            error = self.map_error(exc)
        latency = (time.perf_counter() - started) * 1000
        budget = self.rate_limit
        status: HealthStatus = "healthy"
        if error is not None:
            status = "degraded" if isinstance(error, RateLimitError) else "down"
        elif latency > DEGRADED_LATENCY_MS or (
            budget is not None and budget.remaining < budget.limit * DEGRADED_REMAINING_FRACTION
        ):
            status = "degraded"
        return ProviderHealth(
            provider=self.name,
            status=status,
            latency=latency,
            rate_limit_remaining=budget.remaining if budget is not None else None,
            rate_limit_reset=budget.reset if budget is not None else None,
            error=str(error) if error is not None else None,
        )

    def add_request_hook(self, hook: Callable[[httpx2.Request], Awaitable[None]]) -> None:
        """Run ``hook`` on every HTTP request this adapter sends (telemetry installs its
        ``traceparent`` propagation here; nothing is installed otherwise). Idempotent."""
        client = self._sending_client()
        hooks = client.event_hooks
        if hook not in hooks["request"]:
            client.event_hooks = {**hooks, "request": [*hooks["request"], hook]}

    def _sending_client(self) -> httpx2.AsyncClient:
        """The httpx2 client the SDK sends with."""
        raise NotImplementedError

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._close()

    # -- for subclasses --------------------------------------------------------------------

    def map_error(self, exc: BaseException) -> ProviderError:
        raise NotImplementedError

    def failure(self, exc: BaseException, *, received: bool = False) -> ProviderError:
        """The ProviderError to raise for ``exc`` (an SDK, transport or decoding exception, or
        one of :data:`MALFORMED_ERRORS` from reading a reply of the wrong shape), chained to a
        redacted stand-in of ``exc`` (:func:`~automatosx.providers._errors.chained`).

        ``received``: response bytes had arrived when ``exc`` struck (a timeout then says so).
        Raise the result outside the ``except`` block that caught ``exc``, so that its
        ``__context__`` is not ``exc`` either.
        """
        if isinstance(exc, MALFORMED_ERRORS) and not isinstance(exc, self.sdk_errors):
            error = malformed(self.name, exc, self._api_key)
        else:
            error = self.map_error(exc)
        if received and isinstance(error, ProviderTimeoutError):
            error.received = True
        return chained(error, exc, self._api_key)

    async def _ping(self) -> None:
        raise NotImplementedError

    async def _close(self) -> None:
        raise NotImplementedError

    def _note_headers(self, headers: Mapping[str, str]) -> None:
        """Keep a response's headers; they are parsed only when ``rate_limit`` is read."""
        self._rl_pending = (headers, now_ms())

    def _note_error_headers(self, exc: BaseException) -> None:
        response = getattr(exc, "response", None)
        headers = getattr(response, "headers", None)
        if isinstance(headers, Mapping):
            self._note_headers(headers)

    def _parse_rate_limit(self, headers: Mapping[str, str], at_ms: int) -> RateLimitInfo | None:
        names = self.rate_limit_headers
        if names is None:
            return None
        limit = _int(headers.get(names[0]))
        remaining = _int(headers.get(names[1]))
        if limit is None or remaining is None or limit <= 0:
            return None
        reset_raw = headers.get(names[2])
        reset = self._parse_reset(reset_raw, at_ms) if reset_raw else None
        retry_after = retry_after_from_headers(headers)
        return RateLimitInfo(
            limit=limit,
            remaining=max(0, remaining),
            reset=reset if reset is not None and reset > 0 else at_ms,
            retry_after=None if retry_after is None else max(0, round(retry_after + 0.4999)),
        )

    def _parse_reset(self, value: str, at_ms: int) -> int | None:
        """``reset`` in ms since the epoch; RFC 3339 by default (Anthropic)."""
        return epoch_ms_from_rfc3339(value)

    def _model(self, request: ProviderRequest) -> str:
        return request.model or self._default_model


class StainlessAdapter(SdkAdapter):
    """What the Claude and OpenAI adapters share: both SDKs are generated by Stainless, so they
    have the same client constructor, ``with_raw_response``, ``models.retrieve`` and ``close``.
    Subclasses name the client class and set ``_create`` (a raw-response create) and
    ``_create_stream`` (the plain create: the SDK's stream keeps the response)."""

    sdk_client: ClassVar[Callable[..., Any]]
    _create: Callable[..., Awaitable[Any]]
    _create_stream: Callable[..., Awaitable[Any]]

    def __init__(
        self, config: ProviderConfig, *, http_client: httpx2.AsyncClient | None = None
    ) -> None:
        super().__init__(config, http_client=http_client)
        self._client = self.make_client(config, http_client)

    def make_client(self, config: ProviderConfig, http_client: httpx2.AsyncClient | None) -> Any:
        """The SDK client (SDK retries off: the router is the only retry loop)."""
        return self.sdk_client(
            api_key=self._api_key,
            base_url=config.base_url,
            timeout=self._timeout_s,
            max_retries=0,
            http_client=http_client,
        )

    async def _post_json(self, params: dict[str, Any]) -> dict[str, Any]:
        """The JSON body of a non-streaming create (its headers noted); SDK errors mapped."""
        try:
            raw = await self._create(**params)
            self._note_headers(raw.headers)
            return json_body(raw)
        except self.sdk_errors as exc:
            failed: BaseException = exc
        raise self.failure(failed)

    def _sending_client(self) -> httpx2.AsyncClient:
        client: httpx2.AsyncClient = self._client._client
        return client

    async def _ping(self) -> None:
        raw = await self._client.models.with_raw_response.retrieve(self._default_model)
        self._note_headers(raw.headers)

    async def _close(self) -> None:
        if self._owns_http_client:
            await self._client.close()
