"""The store's two protocols, the records they carry, and :class:`NullStore`.

A store records every request's life: the request, each attempt at a provider, the response,
streamed chunks and health checks (tables in ``automatosx/migrations/<dialect>/``).

* :class:`RecordSink` is what the router writes through. ``save_*`` calls sit on the request's
  hot path, so an implementation must make them cheap (the SQLite store only enqueues them).
* :class:`StoreReader` is what the CLI, the demo and users read through; reads see every write
  the same store object made before them.
* :class:`Store` is both: what ``open_store(url)`` returns. ``NullStore`` (``null.py``)
  records nothing.

Nothing here is specific to one database: a backend (SQLite, PostgreSQL) implements both
protocols and registers a URL scheme (``automatosx.store.register_store``).
Timestamps are milliseconds since the Unix epoch (UTC) throughout.

(Over 400 lines on purpose: it is the one place that defines what a store is, records and
protocols together, so a backend's author reads one file.) The engine every SQL backend
shares is ``_engine.py``; a backend is a ``Dialect`` (``_dialect.py``).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from automatosx.schemas import ProviderHealth, ProviderResponse

__all__ = [
    "AttemptRecord",
    "ChunkRow",
    "LatencyBucket",
    "LatencyHistogram",
    "LazyText",
    "MetricsRow",
    "Outcome",
    "ProviderSummary",
    "RecordSink",
    "RequestRecord",
    "RequestRow",
    "Store",
    "StoreReader",
    "StoreState",
    "SuccessPoint",
    "SuccessSeries",
    "SummaryBy",
    "WriteFailure",
    "check_summary_by",
    "expect_type",
]

Outcome = Literal["success", "failure", "cancelled_hedge"]
SummaryBy = Literal["deployment", "kind"]
"""What :meth:`StoreReader.get_provider_summaries` groups by: the deployment id (the
``provider`` columns) or the provider kind (``claude``, ``openai``... shared by deployments)."""
ChunkRow = tuple[int, str, int]
"""One streamed chunk: ``(index, text, timestamp_ms)``."""


class LazyText(Protocol):
    """Text produced only when the writer binds it, off the caller's path: ``str()`` gives it.

    A store calls ``str()`` on it when it writes the row (never on the caller's path); if that
    raises, the store keeps the row without the value and reports a :class:`WriteFailure`.
    """

    def __str__(self) -> str: ...


class StoreState(enum.Enum):
    """Lifecycle of a store: ``open()`` once, ``close()`` once (idempotent)."""

    UNOPENED = "unopened"
    OPENED = "opened"
    CLOSED = "closed"


@dataclass(slots=True)
class RequestRecord:
    """A row of ``provider_requests``.

    ``messages`` is the JSON array of the messages, or ``"sha256:<hex>"`` when message capture
    is off; ``history`` lists every state entered, in order. ``tenant`` and ``user`` are the
    request's (``ProviderRequest.tenant``/``.user``; columns ``tenant`` and ``end_user``).
    """

    id: str
    provider: str
    model: str
    messages: str | LazyText
    max_tokens: int | None
    temperature: float
    stream: bool
    state: str
    retry_count: int
    history: list[str]
    created_at: int
    updated_at: int
    metadata: dict[str, Any] | None
    error: str | None = None
    error_code: str | None = None
    tenant: str | None = None
    user: str | None = None


@dataclass(slots=True)
class AttemptRecord:
    """A row of ``provider_attempts``: one try of one provider/model (``attempt`` is 1-based).

    ``duration`` is in ms. ``error`` must already be redacted (``ProviderError`` messages are).
    ``provider`` is the deployment id (``ProviderConfig.id``); ``kind`` its provider kind
    (``claude``, ``openai``, ``gemini`` or a user adapter's name), ``None`` for rows written
    before kinds were recorded (they count as their ``provider``). Last, so positional
    construction without it keeps working.
    """

    request_id: str
    attempt: int
    provider: str
    model: str
    outcome: Outcome
    error_code: str | None
    error: str | None
    status_code: int | None
    duration: int
    created_at: int
    kind: str | None = None


@dataclass(frozen=True, slots=True)
class MetricsRow:
    """A row of ``provider_metrics``: one provider/model on one UTC day (``YYYY-MM-DD``).

    Counts are per attempt: a request that fell back counts once at every provider/model it
    tried. Tokens and cost are those of the responses; ``total_duration`` sums attempts (ms).
    """

    provider: str
    model: str
    date: str
    request_count: int
    success_count: int
    failure_count: int
    total_input_tokens: int
    total_output_tokens: int
    total_tokens: int
    total_cost: float
    total_duration: int


@dataclass(frozen=True, slots=True)
class RequestRow:
    """A request with what hangs off it: attempts in order, the response if any, chunks.

    ``chunks`` is loaded by :meth:`Store.get_request` only; :meth:`Store.list_requests` leaves
    it ``None`` (``chunk_count`` is always set).
    """

    request: RequestRecord
    attempts: list[AttemptRecord]
    response: ProviderResponse | None
    chunk_count: int
    chunks: list[ChunkRow] | None = None


@dataclass(frozen=True, slots=True)
class ProviderSummary:
    """What one provider/model did, over every attempt and response in the store.

    ``attempts`` counts tries (retries and fallbacks included), ``requests`` the distinct
    requests that tried it, ``retries`` the tries beyond each request's first one here, and
    ``fallbacks`` the responses it served for a request that asked for another provider.
    Latency percentiles are over its successful attempts (ms; ``None`` without any); tokens
    and cost are those of its responses (USD).
    """

    provider: str
    model: str
    attempts: int
    successes: int
    failures: int
    requests: int
    retries: int
    fallbacks: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost: float

    @property
    def success_rate(self) -> float | None:
        """Successful attempts over attempts; ``None`` when it was never tried."""
        return self.successes / self.attempts if self.attempts else None


@dataclass(frozen=True, slots=True)
class LatencyBucket:
    """How many successful attempts took ``lower_ms <= duration < upper_ms`` (``upper_ms``
    ``None``: no upper bound)."""

    lower_ms: int
    upper_ms: int | None
    count: int


@dataclass(frozen=True, slots=True)
class LatencyHistogram:
    """The durations of one provider's successful attempts: buckets (in order, covering
    ``0..inf`` with no gap) and exact percentiles (ms; ``None`` without any attempt).

    ``provider`` is the attempts' provider name; it becomes the deployment id once attempts
    record one (``store/_summary.py``, ``GROUP_COLUMN``).
    """

    provider: str
    buckets: tuple[LatencyBucket, ...]
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None

    @property
    def count(self) -> int:
        """Successful attempts counted (the sum of the buckets)."""
        return sum(bucket.count for bucket in self.buckets)


@dataclass(frozen=True, slots=True)
class SuccessPoint:
    """Attempts that started in ``[start_ms, start_ms + bucket_ms)``, by outcome."""

    start_ms: int
    successes: int
    failures: int

    @property
    def success_rate(self) -> float | None:
        """Successes over attempts; ``None`` for a bucket without any attempt."""
        total = self.successes + self.failures
        return self.successes / total if total else None


@dataclass(frozen=True, slots=True)
class SuccessSeries:
    """One provider's attempts over time, one point per ``bucket_ms`` (empty buckets
    included), from the first bucket with an attempt of any provider to the last one, so
    every series of one read has the same points' starts."""

    provider: str
    bucket_ms: int
    points: tuple[SuccessPoint, ...]


@dataclass(frozen=True, slots=True)
class WriteFailure:
    """One write the store could not make (or one value it had to leave out of a row).

    ``request_id`` is the request the row belonged to (``None`` for a health check);
    ``kind`` the store call (``save_attempt``; ``save_request.metadata`` for a value that
    could not be serialized); ``error`` the exception's type and message with secrets
    redacted, never the row's content; ``at_ms`` when the failure was seen.
    """

    request_id: str | None
    kind: str
    error: str
    at_ms: int


def check_summary_by(by: object) -> None:
    """Refuse a ``by`` that :meth:`StoreReader.get_provider_summaries` cannot group by."""
    if by not in ("deployment", "kind"):
        raise ValueError(f"by must be 'deployment' or 'kind', got {by!r}")


def expect_type(method: str, value: object, expected: type | tuple[type, ...]) -> None:
    """Raise ``TypeError("save_response expects ProviderResponse, got dict")`` unless
    ``value`` is an ``expected``: a wrong argument fails at the call, not deep in a writer."""
    if not isinstance(value, expected):
        names = (
            " or ".join(t.__name__ for t in expected)
            if isinstance(expected, tuple)
            else expected.__name__
        )
        raise TypeError(f"{method} expects {names}, got {type(value).__name__}")


@runtime_checkable
class RecordSink(Protocol):
    """What the router records into. ``open()`` connects (and migrates); ``close()`` flushes.

    ``save_*`` may return before the row is durable (write-behind); ``flush()`` waits for it.
    What the router reads besides the methods: ``durability`` (``"sync"`` makes it keep
    writing a request's rows after one fails), ``write_errors`` and ``drain_write_errors()``
    (what ``Router.store_errors`` shows).
    """

    @property
    def durability(self) -> str:
        """``"sync"`` (a save returns once committed) or a write-behind mode."""
        ...

    @property
    def write_errors(self) -> int:
        """Writes lost (or values left out of a row) since the store was opened."""
        ...

    def drain_write_errors(self) -> list[WriteFailure]:
        """The write failures reported since the last call, oldest first."""
        ...

    async def open(self) -> None: ...

    async def save_request(self, record: RequestRecord) -> None: ...

    async def update_request_state(
        self,
        request_id: str,
        *,
        state: str,
        retry_count: int,
        history: list[str],
        error: str | None = None,
        error_code: str | None = None,
        updated_at: int,
    ) -> None:
        """Replace state, retry_count, history, error and error_code. The row keeps the
        provider and model that were asked for; the response row names the one that served."""
        ...

    async def save_attempt(self, record: AttemptRecord) -> None: ...

    async def save_response(self, response: ProviderResponse) -> None: ...

    async def save_stream_chunks(self, request_id: str, chunks: Sequence[ChunkRow]) -> None: ...

    async def save_health_check(self, health: ProviderHealth) -> None: ...

    async def flush(self) -> None:
        """Wait until every write made so far is committed."""
        ...

    async def close(self) -> None:
        """Flush, then release the store. Idempotent."""
        ...


@runtime_checkable
class StoreReader(Protocol):
    """What the CLI, the demo and users read. ``open()`` before, ``close()`` after."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def get_request(self, request_id: str) -> RequestRow | None: ...

    async def list_requests(
        self,
        *,
        state: str | None = None,
        provider: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[RequestRow]:
        """Requests, newest first."""
        ...

    async def get_provider_metrics(
        self, provider: str | None = None, date: str | None = None
    ) -> list[MetricsRow]: ...

    async def get_provider_health(
        self, provider: str | None = None, limit: int = 100
    ) -> list[ProviderHealth]:
        """The latest health checks, newest first."""
        ...

    async def get_provider_summaries(
        self, *, by: SummaryBy = "deployment"
    ) -> list[ProviderSummary]:
        """One :class:`ProviderSummary` per provider/model tried, by provider then model.

        ``by="deployment"`` (the default): ``provider`` is the deployment id. ``by="kind"``:
        deployments of one kind add up and ``provider`` is the kind (an attempt recorded
        before kinds were: its deployment id). Anything else raises ``ValueError``.
        """
        ...

    async def count_requests_by_state(self) -> dict[str, int]:
        """How many requests are in each state (``completed``, ``failed``...)."""
        ...

    async def get_latency_histogram(
        self,
        provider: str | None = None,
        *,
        bounds: Sequence[int] | None = None,
        since_ms: int | None = None,
    ) -> list[LatencyHistogram]:
        """Per provider, its successful attempts' durations in buckets split at ``bounds``
        (increasing ms; ``None``: about ten log-spaced bounds fitted to the data, the same for
        every provider), with p50/p95/p99. Only attempts from ``since_ms`` on if given."""
        ...

    async def get_success_series(
        self,
        *,
        bucket_ms: int | None = None,
        since_ms: int | None = None,
        provider: str | None = None,
    ) -> list[SuccessSeries]:
        """Per provider, successes and failures of its attempts per ``bucket_ms`` (``None``:
        a round step giving at most about 40 points over the recorded window)."""
        ...


@runtime_checkable
class Store(RecordSink, StoreReader, Protocol):
    """Both protocols: what ``open_store(url)`` returns and ``Router(store=...)`` accepts."""
