"""The exception tree of automatosx.

Every error the library raises derives from :class:`AutomatosxError`::

    AutomatosxError                      (defined in the Rust core, re-exported here)
    ├── ConfigurationError               bad options, missing API key, SDK extra not installed
    ├── RequestValidationError           a request failed validation (names the field and fix)
    ├── InvalidTransitionError           the state machine refused an event (Rust core)
    ├── ProviderError                    a provider call failed: provider, status_code, code,
    │   │                                retry_after (seconds)
    │   ├── RateLimitError               429                       retry, fall back
    │   ├── OverloadedError              529 overloaded            retry, fall back, breaker
    │   ├── ServerError                  500 / 502 / 503 / 504     retry, fall back, breaker
    │   ├── ProviderTimeoutError         the attempt timed out;    retry, fall back, breaker
    │   │                                ``received``: after bytes
    │   ├── ProviderConnectionError      connect / read failure,   retry, fall back, breaker
    │   │                                a stream cut short
    │   ├── AuthenticationError          401 / 403                 fall back
    │   ├── ModelNotFoundError           404 unknown model         fall back
    │   ├── ContentFilterError           the provider blocked the  raised (the router falls
    │   │                                prompt or reply; reason   back only when asked to)
    │   └── InvalidRequestError          400 / 413 / 422           raised at once
    │       └── ContextLengthError       the prompt is too long    fall back (a bigger
    │                                    for the model             window may take it)
    ├── CircuitOpenError                 a provider's breaker is open
    ├── BudgetExceededError              a budget has no room for the attempt; not retried,
    │   │                                no other candidate tried (``onExceeded: "reject"``)
    │   └── UnpricedModelError           a USD budget cannot guard a model with no price
    ├── AllProvidersFailedError          every candidate failed; ``.attempts`` has each error
    ├── OutputValidationError            the reply did not parse into ``response_model``
    └── StoreError                       the request store failed
        └── MigrationError               a migration failed or an applied one was edited

The failure policy of the router lives in one place, the ``RULES`` table of
``automatosx._routing.policy``; ``retryable`` (retry the same provider), ``fallback`` (try the
next candidate) and ``counts_against_breaker`` are read-only views of it on each error.

No message or repr ever contains an API key: every provider message passes through
:func:`redact` before it is stored. The adapters chain what they raise to a redacted stand-in
of the SDK exception (``providers/_errors.py``, :func:`~automatosx.providers._errors.chained`),
never to the SDK exception itself, so a formatted traceback carries no key either.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from automatosx._core import AutomatosxError, InvalidTransitionError

__all__ = [
    "AllProvidersFailedError",
    "Attempt",
    "AuthenticationError",
    "AutomatosxError",
    "BudgetExceededError",
    "CircuitOpenError",
    "ConfigurationError",
    "ContentFilterError",
    "ContextLengthError",
    "InvalidRequestError",
    "InvalidTransitionError",
    "MigrationError",
    "ModelNotFoundError",
    "OutputValidationError",
    "OverloadedError",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderTimeoutError",
    "RateLimitError",
    "RequestValidationError",
    "ServerError",
    "StoreError",
    "UnpricedModelError",
    "redact",
]

# Key shapes of the three providers (Anthropic sk-ant-..., OpenAI sk-/sk-proj-..., Google AIza...),
# bearer tokens, and key-carrying query parameters or headers.
_SECRET_PATTERNS = re.compile(
    r"(sk-ant-[A-Za-z0-9_\-]{8,}|sk-[A-Za-z0-9_\-]{16,}|AIza[0-9A-Za-z_\-]{20,}"
    r"|(?i:bearer)\s+[A-Za-z0-9._\-]{12,}"
    r"|(?i:(?:api[_-]?key|x-goog-api-key|x-api-key|key)[\"']?\s*[=:]\s*[\"']?)[A-Za-z0-9._\-]{8,})"
)


def redact(text: str, *secrets: str | None) -> str:
    """Return ``text`` with API keys (known shapes and the given ``secrets``) replaced."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[REDACTED]")
    return _SECRET_PATTERNS.sub("[REDACTED]", text)


class ConfigurationError(AutomatosxError):
    """The router, a provider or the store was configured wrongly; the message says the fix."""


class RequestValidationError(AutomatosxError, ValueError):
    """A request (or options object) failed validation.

    ``errors`` holds pydantic's structured errors; the message names each field and what it
    must be.
    """

    def __init__(self, message: str, errors: Sequence[Mapping[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.errors: list[Mapping[str, Any]] = list(errors or [])

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.args[0], self.errors))


class _InvalidOptions(RequestValidationError, ConfigurationError):
    """Router options that failed validation: a :class:`RequestValidationError` (the fields,
    as ever) that is also a :class:`ConfigurationError` (what a bad configuration raises)."""


class ProviderError(AutomatosxError):
    """A provider call failed.

    ``provider`` names the provider, ``status_code`` is the HTTP status when there was one,
    ``code`` is the machine code recorded in the database (``SERVER_ERROR``, ...), and
    ``retry_after`` is the server's requested wait in seconds, when it sent one.
    """

    code_default: ClassVar[str] = "PROVIDER_ERROR"
    extra_fields: ClassVar[tuple[str, ...]] = ()
    """Keyword fields a subclass adds to the constructor: shown in the repr, kept by pickling."""

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        status_code: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.message = redact(message)
        super().__init__(self.message)
        self.provider = provider
        self.status_code = status_code
        self.code = code or self.code_default
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        """Whether the router retries the same provider after this error (its ``RULES`` row;
        a timeout only after bytes arrived)."""
        return bool(_rule(self).retries(self))

    @property
    def fallback(self) -> bool:
        """Whether the router tries the next candidate (a content filter: only when
        ``RouterOptions.fallbackOnContentFilter`` says so, so False here)."""
        return _rule(self).fallback is True

    @property
    def counts_against_breaker(self) -> bool:
        """Whether the attempt is a circuit-breaker failure (else neutral)."""
        return bool(_rule(self).breaker == "failure")

    @property
    def retry_after_ms(self) -> int | None:
        """``retry_after`` in whole milliseconds, or None."""
        return None if self.retry_after is None else max(0, round(self.retry_after * 1000))

    def __str__(self) -> str:
        where = f"{self.provider}: " if self.provider else ""
        status = f" (HTTP {self.status_code})" if self.status_code is not None else ""
        return f"{where}{self.message}{status}"

    def __repr__(self) -> str:
        extra = "".join(f", {name}={getattr(self, name)!r}" for name in self.extra_fields)
        return (
            f"{type(self).__name__}(provider={self.provider!r}, status_code={self.status_code!r},"
            f" code={self.code!r}, retry_after={self.retry_after!r}{extra},"
            f" message={self.message!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild_provider_error,
            (
                type(self),
                self.message,
                self.provider,
                self.status_code,
                self.code,
                self.retry_after,
                {name: getattr(self, name) for name in self.extra_fields},
            ),
        )


def _rule(error: ProviderError) -> Any:
    # The policy imports this module; this lazy import reads its table (no import cycle).
    from automatosx._routing.policy import rule_for

    return rule_for(error)


def _rebuild_provider_error(
    cls: type[ProviderError],
    message: str,
    provider: str | None,
    status_code: int | None,
    code: str | None,
    retry_after: float | None,
    extra: dict[str, Any] | None = None,
) -> ProviderError:
    return cls(
        message,
        provider=provider,
        status_code=status_code,
        code=code,
        retry_after=retry_after,
        **(extra or {}),
    )


class RateLimitError(ProviderError):
    """429: the provider's rate limit was hit. Retried after ``retry_after``, then falls back."""

    code_default = "RATE_LIMITED"


class OverloadedError(ProviderError):
    """529 (Anthropic ``overloaded_error``) or an equivalent: the provider is overloaded."""

    code_default = "OVERLOADED"


class ServerError(ProviderError):
    """500 / 502 / 503 / 504, or an error event in the middle of a stream."""

    code_default = "SERVER_ERROR"


class ProviderTimeoutError(ProviderError):
    """The attempt exceeded its timeout (``ProviderConfig.timeout`` or time to first token).

    ``received`` is True when the timeout struck after response bytes had arrived (the HTTP
    status and headers, e.g. the SDK's read timeout in the middle of a stream): the provider
    answered, then stalled. False when nothing came back (connect timeout, no response) or
    when the adapter cannot tell; the router falls back without retrying such a provider.
    """

    code_default = "TIMEOUT"
    extra_fields = ("received",)

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        status_code: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        received: bool = False,
    ) -> None:
        super().__init__(
            message, provider=provider, status_code=status_code, code=code, retry_after=retry_after
        )
        self.received = received


class ProviderConnectionError(ProviderError):
    """The connection failed or dropped before the reply was complete."""

    code_default = "CONNECTION_ERROR"


class AuthenticationError(ProviderError):
    """401 / 403: the API key is missing, wrong, or lacks permission. Falls back."""

    code_default = "AUTHENTICATION_ERROR"


class ModelNotFoundError(ProviderError):
    """404: the provider does not know the model. Falls back."""

    code_default = "NOT_FOUND"


class ContentFilterError(ProviderError):
    """The provider's safety system blocked the prompt or the reply, or the model refused.

    Raised for an error status whose code says so (OpenAI ``content_policy_violation``,
    ``content_filter``) and by the adapters for a *blocked reply*: a reply that stops for a
    content-filter reason (OpenAI ``content_filter``, Anthropic ``refusal``, Gemini ``SAFETY``,
    ``PROHIBITED_CONTENT``, ``BLOCKLIST``, ``SPII``, ... or a ``promptFeedback.blockReason``)
    with no text at all, from ``execute`` and ``stream`` alike. A reply cut by a filter after
    some text is returned (or streamed) with ``finish_reason="content_filter"`` instead.
    ``reason`` is the provider's own word for it (``"SAFETY"``, ``"refusal"``, ...).

    Not retried (the same prompt is blocked again); ``fallback`` is False: another provider
    is tried only when ``RouterOptions.fallbackOnContentFilter`` says so.
    """

    code_default = "CONTENT_FILTERED"
    extra_fields = ("reason",)

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        status_code: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(
            message, provider=provider, status_code=status_code, code=code, retry_after=retry_after
        )
        self.reason = None if reason is None else redact(reason)


class InvalidRequestError(ProviderError):
    """400 / 413 / 422: the request itself is wrong; no other provider would accept it."""

    code_default = "INVALID_REQUEST"


class ContextLengthError(InvalidRequestError):
    """The prompt (with ``max_tokens``) does not fit the model's context window.

    Recognised from OpenAI's ``context_length_exceeded`` ("maximum context length"),
    Anthropic's "prompt is too long" and Gemini's "input token count ... exceeds the maximum".
    Never retried on the same model; falls back, since another model's window may be larger.
    """

    code_default = "CONTEXT_LENGTH_EXCEEDED"


class CircuitOpenError(AutomatosxError):
    """The provider's circuit breaker is open; the request was not sent to it."""

    code = "CIRCUIT_OPEN"

    def __init__(self, provider: str) -> None:
        super().__init__(f"{provider}: circuit breaker is open; provider skipped")
        self.provider = provider

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.provider,))


class BudgetExceededError(AutomatosxError):
    """A budget has no room for an attempt's maximum cost: nothing was sent. Names the
    ``budget_id``, the ``scope`` value (``"user=alice"``; ``"*"`` without ``per``), ``limit``
    and ``spent`` (reservations under way included) in ``unit`` (``"usd"`` or ``"tokens"``),
    the attempt's maximum cost ``needed``, and ``resets_at`` (epoch seconds; None for
    ``total``). Not retried; under ``onExceeded: "reject"`` no other candidate is tried."""

    code = "BUDGET_EXCEEDED"
    _FIELDS: tuple[str, ...] = ("budget_id", "scope", "limit", "spent", "needed", "unit")

    def __init__(
        self, message: str, *, budget_id: str, scope: str = "*", limit: float = 0.0,
        spent: float = 0.0, needed: float = 0.0, unit: str = "usd", resets_at: int | None = None,
    ) -> None:  # fmt: skip
        super().__init__(message)
        self.budget_id, self.scope, self.unit, self.resets_at = budget_id, scope, unit, resets_at
        self.limit, self.spent, self.needed = limit, spent, needed

    def __reduce__(self) -> tuple[Any, ...]:
        fields = {name: getattr(self, name) for name in (*self._FIELDS, "resets_at")}
        return (_rebuild_budget_error, (type(self), str(self), fields))


class UnpricedModelError(BudgetExceededError):
    """A candidate's ``model`` has no price, so a matching USD budget cannot guard it: refused
    before sending (passed over under ``onExceeded: "fallback"``). ``RouterOptions.
    unpricedModels: "allow"`` opts out (unpriced models then cost $0 in USD budgets)."""

    code = "UNPRICED_MODEL"
    _FIELDS = (*BudgetExceededError._FIELDS, "model")

    def __init__(self, message: str, *, model: str = "", **fields: Any) -> None:
        super().__init__(message, **fields)
        self.model = model


def _rebuild_budget_error(cls: type[BudgetExceededError], message: str, fields: Any) -> Any:
    return cls(message, **fields)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try of one provider, as recorded in ``provider_attempts``."""

    provider: str
    model: str
    error: BaseException | None
    duration_ms: int

    @property
    def outcome(self) -> str:
        return "success" if self.error is None else "failure"


class AllProvidersFailedError(AutomatosxError):
    """Every candidate provider failed. ``attempts`` lists each try and its error in order."""

    def __init__(self, attempts: list[Attempt], request_id: str | None = None) -> None:
        self.attempts = list(attempts)
        self.request_id = request_id
        tried = "; ".join(
            f"{a.provider}/{a.model}: {type(a.error).__name__}: {a.error}" for a in self.attempts
        )
        super().__init__(f"all providers failed ({len(self.attempts)} attempts): {tried or 'none'}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.attempts, self.request_id))

    @property
    def errors(self) -> list[BaseException]:
        return [a.error for a in self.attempts if a.error is not None]


class StoreError(AutomatosxError):
    """The request store could not be opened or written."""


class MigrationError(StoreError):
    """A migration failed, or a migration already applied to the database was edited since."""


class OutputValidationError(AutomatosxError):
    """The reply's text did not parse into the caller's ``response_model``. ``raw`` is the
    text as received; ``errors`` is pydantic's list of errors (each naming the field)."""

    code = "OUTPUT_VALIDATION"

    def __init__(self, message: str, *, raw: str, errors: Sequence[Mapping[str, Any]]) -> None:
        super().__init__(message)
        self.raw = raw
        self.errors = list(errors)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_output_error, (str(self), self.raw, self.errors))


def _rebuild_output_error(message: str, raw: str, errors: list[Any]) -> OutputValidationError:
    return OutputValidationError(message, raw=raw, errors=errors)
