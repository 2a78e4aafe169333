"""The Rust core of automatosx: the request state machine, circuit breaker, rate limiter,
backoff and retry-after parsing.

Nothing here does I/O. Methods that take ``now_ms`` use it as the current time in
milliseconds; ``None`` means "now" on the process's monotonic clock (:func:`monotonic_ms`).
Pass explicit values to drive a breaker or limiter deterministically, and don't mix the two
clocks on one object. None of these calls release the GIL: each takes well under a
microsecond.

Every integer argument is range-checked: a value outside the Rust type's range (negative, or
too large such as ``2**64``) raises :class:`ValueError` naming the argument and the range;
a non-int raises :class:`TypeError` naming the argument.
"""

from collections.abc import Sequence
from typing import ClassVar, final

__all__ = [
    "AutomatosxError",
    "Backoff",
    "BreakerState",
    "CircuitBreaker",
    "Context",
    "Event",
    "InvalidTransitionError",
    "ProviderStateMachine",
    "RateLimiter",
    "State",
    "monotonic_ms",
    "parse_duration",
    "parse_retry_after",
]

class AutomatosxError(Exception):
    """The base of every error automatosx raises (re-exported by ``automatosx.errors``)."""

class InvalidTransitionError(AutomatosxError):
    """The state machine refused an event; the machine is unchanged.

    ``str(err)`` reads ``cannot apply event 'retry_request' in state 'completed'``.
    """

    state: str
    """The state the machine was (and still is) in."""
    event: str
    """The name of the refused event."""

@final
class State:
    """A state of :class:`ProviderStateMachine`. ``str(state)`` is its snake_case name."""

    idle: ClassVar[State]
    validating: ClassVar[State]
    requesting: ClassVar[State]
    streaming: ClassVar[State]
    rate_limited: ClassVar[State]
    retrying: ClassVar[State]
    completed: ClassVar[State]
    failed: ClassVar[State]

    @property
    def is_terminal(self) -> bool:
        """``completed`` or ``failed``."""

    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...
    def __int__(self) -> int: ...

@final
class Event:
    """An event for :meth:`ProviderStateMachine.transition`, built by one of the static
    constructors below. Events are immutable and may be reused."""

    @staticmethod
    def initiate_request(
        provider: str,
        model: str,
        message_count: int,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stream: bool = False,
    ) -> Event:
        """``idle → validating``: the request's provider, model and shape (counts only)."""

    @staticmethod
    def validate_request() -> Event:
        """``validating → validating``: validation started (changes nothing)."""

    @staticmethod
    def validation_passed() -> Event:
        """``validating → requesting`` when the request has at least one message; starts
        attempt 1."""

    @staticmethod
    def validation_failed(reason: str | None = None, error: str | None = None) -> Event:
        """``validating → failed`` with code ``VALIDATION_ERROR``, not retryable (and, the
        attempt never having started, no fallback either).

        ``reason`` (the seed's name) and ``error`` are the same message: give at most one;
        neither gives ``"request validation failed"``.

        :raises ValueError: both were given.
        """

    @staticmethod
    def send_request() -> Event:
        """``retrying → requesting``: starts the next attempt, clearing the last one's chunks,
        error and retry-after."""

    @staticmethod
    def receive_response(
        content: str,
        input_tokens: int = 0,
        output_tokens: int = 0,
        total_tokens: int = 0,
        duration_ms: int = 0,
    ) -> Event:
        """``requesting → completed`` for a non-streaming request."""

    @staticmethod
    def receive_stream_chunk(chunk: str, index: int) -> Event:
        """``requesting | streaming → streaming`` for a streaming request. ``index`` must
        equal the number of chunks received so far in this attempt."""

    @staticmethod
    def stream_complete(
        input_tokens: int = 0,
        output_tokens: int = 0,
        total_tokens: int = 0,
        duration_ms: int = 0,
    ) -> Event:
        """``streaming → completed`` (or ``requesting → completed``: an empty stream); the
        response is the chunks joined."""

    @staticmethod
    def rate_limit_hit(retry_after_ms: int | None = None) -> Event:
        """``requesting | streaming → rate_limited``, keeping the server's retry-after."""

    @staticmethod
    def retry_request(attempt: int | None = None, restart: bool = False) -> Event:
        """Retry the same provider; ``retry_count`` grows by one.

        * ``rate_limited → retrying`` while retries are left and no chunk was streamed;
          otherwise ``rate_limited → failed`` with code ``RATE_LIMITED`` (not retryable).
        * ``failed → retrying`` when the failure was marked ``retryable`` by the router,
          retries are left, an attempt had started, and no chunk was streamed.

        ``attempt`` (the seed's ``RetryRequest({attempt})``), when given, must be the next
        retry number, ``context.retry_count + 1``; otherwise the event is refused and the
        error names both numbers.

        ``restart=True`` is the router's explicit decision to start a stream again after
        chunks were delivered: it lifts the "no chunk streamed" guard (the others still
        hold), discards the failed attempt's chunks and response, and adds one to
        ``context.restarts`` when there were chunks to discard.
        """

    @staticmethod
    def request_failed(error: str, code: str | None = None, retryable: bool = False) -> Event:
        """Any non-terminal state ``→ failed``, keeping ``error`` and ``code`` (``None``
        leaves ``context.error_code`` empty).

        ``retryable`` is the router's decision — its policy will retry this deployment — and
        is what ``failed → retrying`` requires. The machine has no table of codes of its own.
        """

    @staticmethod
    def fallback_to_provider(
        provider: str,
        model: str | None = None,
        max_retries: int | None = None,
        restart: bool = False,
    ) -> Event:
        """``failed → requesting`` on the candidate ``provider``: an opaque label (a
        deployment, a group, or ``"<deployment>/<model>"``) that must be in the remaining
        fallback list. It and the entries before it are consumed, so no label is tried twice;
        it may equal the current provider. Needs an attempt to have started and no chunk
        streamed (unless ``restart=True``, as for :meth:`retry_request`, which discards the
        chunks and counts a restart). ``model`` and ``max_retries`` replace the current ones
        when given; ``retry_count`` resets to 0; the error and retry-after are cleared."""

    @staticmethod
    def complete() -> Event:
        """``requesting | streaming → completed``, keeping whatever response is there."""

    @staticmethod
    def reset() -> Event:
        """``completed | failed → idle`` with a fresh context (same request id, the
        constructor's ``max_retries`` and fallback list). History keeps growing."""

    @property
    def name(self) -> str:
        """The event's name, e.g. ``"receive_stream_chunk"``."""

    def __eq__(self, value: object, /) -> bool: ...

@final
class Context:
    """A live, read-only view of a machine's context (``ProviderStateMachine.context``).
    The machine keeps counts and outcomes, never message bodies."""

    @property
    def request_id(self) -> str: ...
    @property
    def provider(self) -> str:
        """The current provider; ``""`` until ``initiate_request``."""

    @property
    def model(self) -> str:
        """The current model; ``""`` until ``initiate_request``."""

    @property
    def message_count(self) -> int: ...
    @property
    def max_tokens(self) -> int | None: ...
    @property
    def temperature(self) -> float | None: ...
    @property
    def stream(self) -> bool: ...
    @property
    def retry_count(self) -> int:
        """Retries on the current provider (0 after each fallback)."""

    @property
    def max_retries(self) -> int: ...
    @property
    def fallback_providers(self) -> list[str]:
        """The fallback list as given to the constructor."""

    @property
    def remaining_fallbacks(self) -> list[str]:
        """The fallback providers not yet used or skipped."""

    @property
    def fallback_index(self) -> int:
        """How many entries of ``fallback_providers`` are used up."""

    @property
    def response(self) -> str:
        """The response: the whole content, or this attempt's chunks joined."""

    @property
    def chunk_count(self) -> int:
        """Chunks received in this attempt."""

    @property
    def error(self) -> str | None: ...
    @property
    def error_code(self) -> str | None: ...
    @property
    def retryable(self) -> bool:
        """The router's decision carried by the last ``request_failed``: the same provider
        will be retried."""

    @property
    def retry_after_ms(self) -> int | None: ...
    @property
    def input_tokens(self) -> int: ...
    @property
    def output_tokens(self) -> int: ...
    @property
    def total_tokens(self) -> int: ...
    @property
    def duration_ms(self) -> int: ...
    @property
    def attempt(self) -> int:
        """Attempts started: 1 after ``validation_passed``, +1 per ``send_request`` and per
        fallback."""

    @property
    def restarts(self) -> int:
        """Streams started again after delivering chunks (``restart=True`` on a retry or
        fallback that discarded chunks); 0 after ``reset``."""

@final
class ProviderStateMachine:
    """The life of one request: ``idle → validating → requesting → (streaming) →
    completed``, with rate limits, retries, fallbacks and failure on the way.

    Not thread-safe; one machine belongs to one request.
    """

    def __new__(
        cls,
        request_id: str,
        max_retries: int = 3,
        fallback_providers: Sequence[str] | None = None,
    ) -> ProviderStateMachine: ...
    def transition(self, event: Event) -> None:
        """Apply ``event`` in place.

        :raises InvalidTransitionError: the current state does not accept it (the machine
            is unchanged).
        """

    @property
    def state(self) -> State: ...
    @property
    def is_terminal(self) -> bool:
        """``completed`` or ``failed``."""

    @property
    def history(self) -> list[str]:
        """Every state entered, starting with ``"idle"``; a self-loop (another stream chunk)
        adds nothing."""

    @property
    def context(self) -> Context: ...

@final
class BreakerState:
    """A state of :class:`CircuitBreaker`. ``str(state)`` is ``closed``, ``open`` or
    ``half_open``."""

    closed: ClassVar[BreakerState]
    open: ClassVar[BreakerState]
    half_open: ClassVar[BreakerState]

    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...
    def __int__(self) -> int: ...

@final
class CircuitBreaker:
    """A circuit breaker, safe to share between every task and thread of a process.

    closed → open after ``failure_threshold`` consecutive failures (0 disables the rule), or
    when the last ``window_size`` outcomes (0 disables the window) hold at least
    ``minimum_calls`` and ``failure_rate_threshold`` percent of them failed. open →
    half_open once ``reset_timeout_ms`` have passed; half_open lets ``half_open_max_calls``
    probes through at a time. A probe's success closes it, a failure reopens it.
    """

    def __new__(
        cls,
        failure_threshold: int = 5,
        reset_timeout_ms: int = 60_000,
        half_open_max_calls: int = 1,
        window_size: int = 0,
        minimum_calls: int = 10,
        failure_rate_threshold: float = 50.0,
    ) -> CircuitBreaker: ...
    def allow_request(self, now_ms: int | None = None) -> bool:
        """Whether a call may go ahead; in half_open, admitting takes a probe slot."""

    def record_success(self, now_ms: int | None = None) -> None: ...
    def record_failure(self, now_ms: int | None = None) -> None: ...
    def record_neutral(self, now_ms: int | None = None) -> None:
        """An outcome that says nothing about the provider's health (429, 401, cancel):
        frees a half-open probe slot and changes nothing else."""

    @property
    def state(self) -> BreakerState:
        """The state as of the last call. An open breaker becomes half_open on the first
        ``allow_request`` after the timeout; :meth:`state_at` applies the timeout."""

    def state_at(self, now_ms: int | None = None) -> BreakerState:
        """The state at ``now_ms``: open reads as half_open once the timeout has passed."""

    @property
    def consecutive_failures(self) -> int: ...
    @property
    def failure_rate(self) -> float | None:
        """Percent of failures in the window, once it holds ``minimum_calls`` outcomes."""

@final
class RateLimiter:
    """Requests-per-minute and tokens-per-minute limits (GCRA), safe to share between
    threads. ``None`` means no limit. Bursts default to one second's share of each rate."""

    def __new__(
        cls,
        requests_per_minute: int | None = None,
        tokens_per_minute: int | None = None,
        request_burst: int | None = None,
        token_burst: int | None = None,
    ) -> RateLimiter: ...
    def try_acquire(self, tokens: int = 0, now_ms: int | None = None) -> int:
        """0 when one request of ``tokens`` (estimated) is admitted now, and reserved;
        otherwise the milliseconds to wait before it would be, with nothing reserved. A
        request larger than the token burst waits for an idle schedule, then pays in full."""

    def settle(self, estimated: int, actual: int, now_ms: int | None = None) -> None:
        """Correct the token reservation once the real usage is known."""

    @property
    def requests_per_minute(self) -> int | None: ...
    @property
    def tokens_per_minute(self) -> int | None: ...

@final
class Backoff:
    """Retry delays with full jitter; safe to share between threads."""

    def __new__(
        cls,
        base_ms: int = 500,
        cap_ms: int = 30_000,
        max_wait_ms: int = 60_000,
        seed: int | None = None,
    ) -> Backoff:
        """``seed`` fixes the random sequence (for tests); ``None`` seeds randomly."""

    def delay_ms(self, attempt: int, retry_after_ms: int | None = None) -> int | None:
        """Milliseconds to wait before retry number ``attempt`` (0-based): uniform in
        ``[0, min(cap_ms, base_ms * 2**attempt)]``, or ``retry_after_ms`` when the server
        gave one. ``None`` when that is longer than ``max_wait_ms``: fall back now."""

    @property
    def base_ms(self) -> int: ...
    @property
    def cap_ms(self) -> int: ...
    @property
    def max_wait_ms(self) -> int: ...

def parse_retry_after(
    retry_after_ms: str | None = None,
    retry_after: str | None = None,
    now_unix_ms: int | None = None,
) -> int | None:
    """Milliseconds to wait from the ``retry-after-ms`` and ``retry-after`` header values.

    ``retry-after-ms`` (decimal milliseconds) wins when it parses; ``retry-after`` is
    seconds (integer or decimal) or an IMF-fixdate HTTP date, measured from
    ``now_unix_ms`` (``None``: the wall clock); a past date gives 0. ``None`` when neither
    parses.
    """

def parse_duration(value: str) -> int | None:
    """Milliseconds in a duration string: protobuf JSON as in Gemini's
    ``RetryInfo.retryDelay`` (``"1.5s"``) or Go style (``"6m0s"``, ``"300ms"``). Fractions
    round up. ``None`` when it doesn't parse."""

def monotonic_ms() -> int:
    """The clock used when ``now_ms`` is ``None``: monotonic milliseconds since the
    extension was loaded."""
