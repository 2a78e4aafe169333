"""The one status classifier the three adapters share.

Each adapter's ``map_error(exc)`` unpacks its SDK's exception (status code, provider error
type, headers, message) and hands the pieces to :func:`provider_error`; the HTTP status and
the provider's own error type decide the class here, in one table:

=====================================  ==========================
status / provider error type           class
=====================================  ==========================
429, ``rate_limit_error``              RateLimitError
529, ``overloaded_error``              OverloadedError
500 502 503 504 (any other 5xx)        ServerError
408, timeouts                          ProviderTimeoutError
401 403, ``authentication_error``      AuthenticationError
404, ``not_found_error``               ModelNotFoundError
400 413 422 (any other 4xx)            InvalidRequestError
connect / read failures                ProviderConnectionError
=====================================  ==========================
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from automatosx._core import parse_duration, parse_retry_after
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
    redact,
)

__all__ = [
    "class_for_status",
    "class_for_type",
    "provider_error",
    "retry_after_from_headers",
    "seconds_from_duration",
    "transport_error",
]

_BY_STATUS: dict[int, type[ProviderError]] = {
    401: AuthenticationError,
    402: AuthenticationError,
    403: AuthenticationError,
    404: ModelNotFoundError,
    408: ProviderTimeoutError,
    429: RateLimitError,
    529: OverloadedError,
}

# Error types carried in bodies and in error events sent after HTTP 200: Anthropic's
# ``error.type``, OpenAI's ``error.type`` / ``error.code``, Google's ``error.status``.
_BY_TYPE: dict[str, type[ProviderError]] = {
    # Anthropic
    "rate_limit_error": RateLimitError,
    "overloaded_error": OverloadedError,
    "api_error": ServerError,
    "timeout_error": ProviderTimeoutError,
    "authentication_error": AuthenticationError,
    "permission_error": AuthenticationError,
    "billing_error": AuthenticationError,
    "not_found_error": ModelNotFoundError,
    "invalid_request_error": InvalidRequestError,
    "request_too_large": InvalidRequestError,
    # OpenAI
    "server_error": ServerError,
    "rate_limit_exceeded": RateLimitError,
    "insufficient_quota": AuthenticationError,
    "model_not_found": ModelNotFoundError,
    "invalid_api_key": AuthenticationError,
    # Google (google.rpc.Code names)
    "RESOURCE_EXHAUSTED": RateLimitError,
    "UNAVAILABLE": ServerError,
    "INTERNAL": ServerError,
    "UNKNOWN": ServerError,
    "DEADLINE_EXCEEDED": ServerError,
    "UNAUTHENTICATED": AuthenticationError,
    "PERMISSION_DENIED": AuthenticationError,
    "NOT_FOUND": ModelNotFoundError,
    "INVALID_ARGUMENT": InvalidRequestError,
    "FAILED_PRECONDITION": InvalidRequestError,
    "OUT_OF_RANGE": InvalidRequestError,
}


def class_for_status(status: int) -> type[ProviderError]:
    """The exception class for an HTTP error status."""
    cls = _BY_STATUS.get(status)
    if cls is not None:
        return cls
    return ServerError if status >= 500 else InvalidRequestError


def class_for_type(error_type: str | None) -> type[ProviderError] | None:
    """The exception class for a provider's error type name, or None if unknown."""
    return _BY_TYPE.get(error_type) if error_type else None


def provider_error(
    message: str,
    *,
    provider: str,
    api_key: str | None,
    status: int | None = None,
    error_type: str | None = None,
    headers: Mapping[str, str] | None = None,
    retry_after: float | None = None,
    cls: type[ProviderError] | None = None,
) -> ProviderError:
    """Build the ProviderError for one failure.

    The class is ``cls`` when given; else the HTTP ``status`` decides (an error body's
    ``overloaded_error`` still wins over its status); without a usable status (an error event
    after HTTP 200) the provider's ``error_type`` decides, defaulting to ServerError.
    """
    if cls is None:
        by_type = class_for_type(error_type)
        if status is not None and status >= 400:
            cls = by_type if by_type is OverloadedError else class_for_status(status)
        else:
            cls = by_type or ServerError
    if retry_after is None and headers is not None:
        retry_after = retry_after_from_headers(headers)
    return cls(
        redact(message, api_key),
        provider=provider,
        status_code=status if status is not None and status >= 400 else None,
        retry_after=retry_after,
    )


def transport_error(
    exc: BaseException, *, provider: str, api_key: str | None, timed_out: bool
) -> ProviderError:
    """A ProviderTimeoutError or ProviderConnectionError for a transport-level failure."""
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    detail = str(cause) or type(cause).__name__
    if timed_out:
        return ProviderTimeoutError(redact(f"timed out: {detail}", api_key), provider=provider)
    return ProviderConnectionError(
        redact(f"connection failed: {type(cause).__name__}: {detail}", api_key),
        provider=provider,
    )


def retry_after_from_headers(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait, from ``retry-after-ms`` or ``retry-after`` (seconds or HTTP date)."""
    ms = headers.get("retry-after-ms")
    seconds = headers.get("retry-after")
    if ms is None and seconds is None:
        return None
    delay_ms: int | None = parse_retry_after(ms, seconds, time.time_ns() // 1_000_000)
    return None if delay_ms is None else delay_ms / 1000


def seconds_from_duration(value: Any) -> float | None:
    """Seconds in a Go/protobuf duration string (``"1.5s"``, ``"6m0s"``), or None."""
    if not isinstance(value, str):
        return None
    ms: int | None = parse_duration(value)
    return None if ms is None else ms / 1000
