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
400 413 422                            InvalidRequestError
any other 4xx (405, 409, 415, ...)     ProviderError (falls back)
  ... whose message says the prompt    ContextLengthError
  exceeds the context window, or
  ``context_length_exceeded``
4xx ``content_policy_violation``,      ContentFilterError
``content_filter``
connect / read failures                ProviderConnectionError
=====================================  ==========================

The context-window messages recognised: OpenAI "maximum context length", Anthropic "prompt is
too long" (and "exceed context limit"), Gemini "The input token count (N) exceeds the maximum
number of tokens allowed". A blocked *reply* (HTTP 200) is recognised by the adapters and built
here with :func:`content_filter_error`.

Every error the adapters raise from an SDK (or decoding) exception is chained with
:func:`chained` to a :class:`RedactedSdkError` stand-in, not to the exception itself: SDK
exceptions carry the request (its headers hold the key) and their messages may echo a body
that repeats the key. The stand-in keeps the SDK exception's qualified class name, its redacted
message and its traceback (file and line of each frame, no locals), and stands in the same way
for that exception's own causes.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

from automatosx._core import parse_duration, parse_retry_after
from automatosx.errors import (
    AuthenticationError,
    ContentFilterError,
    ContextLengthError,
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
    "RedactedSdkError",
    "chained",
    "class_for_status",
    "class_for_type",
    "content_filter_error",
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
    "context_length_exceeded": ContextLengthError,
    "content_policy_violation": ContentFilterError,
    "content_filter": ContentFilterError,
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


# Error types more specific than a 4xx status: they win over the status's own class.
_REFINES_4XX: frozenset[type[ProviderError]] = frozenset({ContextLengthError, ContentFilterError})

_CONTEXT_LENGTH = re.compile(
    r"maximum context length|context[_ ]length[_ ]exceeded|prompt is too long"
    r"|exceeds? (?:the )?context (?:limit|window)|input token count.{0,40}exceeds the maximum",
    re.IGNORECASE | re.DOTALL,
)
"""What the three providers say when the prompt does not fit the model's window."""

_CHAIN_DEPTH = 8
"""How many causes of an SDK exception :func:`chained` follows (a chain is 1-3 deep)."""


_INVALID_STATUSES = frozenset({400, 413, 422})


def class_for_status(status: int) -> type[ProviderError]:
    """The exception class for an HTTP error status."""
    cls = _BY_STATUS.get(status)
    if cls is not None:
        return cls
    if status >= 500:
        return ServerError
    # 400/413/422 are the request's own fault; any other 4xx (405, 409, 415, ...) says more
    # about this provider's endpoint than about the request: it falls back.
    return InvalidRequestError if status in _INVALID_STATUSES else ProviderError


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
            cls = class_for_status(status)
            if by_type is OverloadedError or (by_type in _REFINES_4XX and status < 500):
                cls = by_type
        else:
            cls = by_type or ServerError
        if cls is InvalidRequestError and _CONTEXT_LENGTH.search(message):
            cls = ContextLengthError
    if retry_after is None and headers is not None:
        retry_after = retry_after_from_headers(headers)
    status_code = status if status is not None and status >= 400 else None
    if cls is ContentFilterError:
        return ContentFilterError(
            redact(message, api_key),
            provider=provider,
            status_code=status_code,
            retry_after=retry_after,
            reason=error_type,
        )
    return cls(
        redact(message, api_key),
        provider=provider,
        status_code=status_code,
        retry_after=retry_after,
    )


def content_filter_error(provider: str, reason: str | None) -> ContentFilterError:
    """The ContentFilterError of a blocked reply (HTTP 200 with no text and a content-filter
    stop), ``reason`` being the provider's stop or block reason."""
    why = f" ({reason})" if reason else ""
    return ContentFilterError(
        f"the provider blocked the reply{why}: no content", provider=provider, reason=reason
    )


def transport_error(
    exc: BaseException,
    *,
    provider: str,
    api_key: str | None,
    timed_out: bool,
    received: bool = False,
) -> ProviderError:
    """A ProviderTimeoutError or ProviderConnectionError for a transport-level failure;
    ``received`` (timeouts only): response bytes had arrived when it struck."""
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    detail = str(cause) or type(cause).__name__
    if timed_out:
        return ProviderTimeoutError(
            redact(f"timed out: {detail}", api_key), provider=provider, received=received
        )
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


class RedactedSdkError(Exception):
    """Stands in for an SDK (or decoding) exception in the chain of a ProviderError.

    ``args`` are ``(type_name, message)``: the original's qualified class name
    (``"anthropic.AuthenticationError"``) and its message with API keys redacted. It holds no
    reference to the original exception, its request or its response.
    """

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(type_name, message)
        self.type_name = type_name
        self.message = message

    def __str__(self) -> str:
        return f"{self.type_name}: {self.message}" if self.message else self.type_name


def _stand_in(exc: BaseException, api_key: str | None, depth: int) -> RedactedSdkError:
    kind = type(exc)
    module = kind.__module__
    name = kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"
    try:
        text = str(exc)
    except Exception:  # a broken __str__ must not hide the failure being reported
        text = ""
    stand_in = RedactedSdkError(name, redact(text, api_key))
    stand_in.__traceback__ = exc.__traceback__
    if depth < _CHAIN_DEPTH:
        inner = exc.__cause__
        if inner is None and not exc.__suppress_context__:
            inner = exc.__context__
        if inner is not None:
            stand_in.__cause__ = _stand_in(inner, api_key, depth + 1)
    stand_in.__suppress_context__ = True
    return stand_in


def chained(error: ProviderError, exc: BaseException, api_key: str | None) -> ProviderError:
    """``error`` chained to a redacted stand-in of ``exc`` (and of ``exc``'s causes).

    Raise the result without ``from``: ``raise chained(err, exc, key)``. Its ``__cause__`` is
    the :class:`RedactedSdkError`, ``__suppress_context__`` is set, so
    ``traceback.format_exception`` shows the SDK's failure without any key; raised outside
    the ``except`` block that caught ``exc``, ``__context__`` stays clear of ``exc`` too.
    """
    if error is exc:
        return error
    error.__cause__ = _stand_in(exc, api_key, 0)
    error.__suppress_context__ = True
    return error
