"""What the store writes, once for every dialect: each write's table and typed columns.

A :class:`Write` names a table and its columns with their PostgreSQL types (SQLite ignores
them); a dialect renders the SQL text from it (``?`` or ``$n`` placeholders, ``unnest``...).
``WRITES`` is also the order in which a batch runs its writes: every row a write refers to is
inserted by an earlier one, so grouping a batch by write never breaks a foreign key.

Adding a column: a migration per dialect (``migrations/<dialect>/NNN_name.sql``), the column
here, its value in ``_rows.py`` (the row builder, same position) and, to read it back, the
``*_COLUMNS`` list and decoder. Adding a record kind: a :class:`Write` here, a row builder,
and the ``save_*`` method on :class:`~automatosx.store._engine.SQLStore` that submits it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ATTEMPT_COLUMNS",
    "CACHE_SUMMARY",
    "COMPOSITE",
    "INSERT_BUDGET_DEFINITION",
    "INSERT_BUDGET_SPEND",
    "INSERT_ATTEMPT",
    "INSERT_CHUNK",
    "INSERT_HEALTH",
    "INSERT_REQUEST",
    "INSERT_RESPONSE",
    "METRICS_COLUMNS",
    "REQUEST_COLUMNS",
    "REPLAYS",
    "RESPONSE_COLUMNS",
    "SUMMARY_STATES",
    "UPDATE_REQUEST_STATE",
    "WRITES",
    "Write",
]


@dataclass(frozen=True, slots=True, eq=False)  # hashed by identity: one object per write
class Write:
    """One kind of write. ``label`` names it in failure reports (the Store method).

    An insert lists ``columns`` as ``(name, pg_type)``. An update (``key`` set) sets every
    column but the last from the row and matches the last one against ``key``.
    """

    label: str
    table: str
    columns: tuple[tuple[str, str], ...]
    key: str | None = None
    replay: bool = False
    """Written again from a spool: an insert whose row is already there is skipped (the
    dialect adds ``ON CONFLICT DO NOTHING``)."""

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)

    @property
    def width(self) -> int:
        return len(self.columns)


def _cols(spec: str) -> tuple[tuple[str, str], ...]:
    pairs = [item.split() for item in spec.split(",")]
    return tuple((name, kind) for name, kind in pairs)


INSERT_REQUEST = Write(
    "save_request",
    "provider_requests",
    _cols(
        "id text, provider text, model text, messages text, max_tokens int4,"
        " temperature float8, stream bool, state text, retry_count int4, error text,"
        " error_code text, history text, created_at int8, updated_at int8, metadata text,"
        " tenant text, end_user text, owner text"
    ),
)
INSERT_ATTEMPT = Write(
    "save_attempt",
    "provider_attempts",
    _cols(
        "request_id text, attempt int4, provider text, model text, outcome text,"
        " error_code text, error text, status_code int4, duration int4, created_at int8,"
        " kind text, followed_pin bool"
    ),
)
INSERT_RESPONSE = Write(
    "save_response",
    "provider_responses",
    _cols(
        "request_id text, provider text, model text, content text, input_tokens int4,"
        " output_tokens int4, total_tokens int4, finish_reason text, duration int4,"
        " cost float8, created_at int8, metadata text, tool_calls text,"
        " cached_input_tokens int4, cache_write_tokens int4, reasoning_tokens int4,"
        " cached bool, saved_cost float8"
    ),
)
INSERT_CHUNK = Write(
    "save_stream_chunks",
    "stream_chunks",
    _cols("request_id text, chunk_index int4, chunk_content text, timestamp int8"),
)
INSERT_HEALTH = Write(
    "save_health_check",
    "provider_health",
    _cols(
        "provider text, status text, latency float8, rate_limit_remaining int4,"
        " rate_limit_reset int8, error_message text, checked_at int8"
    ),
)
UPDATE_REQUEST_STATE = Write(
    "update_request_state",
    "provider_requests",
    _cols(
        "state text, retry_count int4, history text, error text, error_code text,"
        " updated_at int8, id text"
    ),
    key="id",
)
INSERT_BUDGET_DEFINITION = Write(  # budgets (sqlite 006 / postgresql 005)
    "save_budget_definitions",
    "budget_definitions",
    _cols("budget_id text, definition text, created_at int8"),
)
INSERT_BUDGET_SPEND = Write(
    "save_budget_spend",
    "budget_spend",
    _cols(
        "request_id text, attempt int4, budget_id text, scope text, window_start int8,"
        " reserved_nusd int8, charged_nusd int8, reserved_tokens int8, charged_tokens int8,"
        " created_at int8"
    ),
)
COMPOSITE = Write("finish_request", "", ())
"""Not a write of its own: a request's end queued as ONE op (``SQLStore.finish_request_nowait``),
its row the plain tuple ``(attempt row | None, response row | None, chunks | None, state
row)``. The writer thread takes it apart before it writes (``_batch_writer._parts``), so each
part is written, replayed, counted and reported as the write it is; it is never spooled."""
WRITES = (
    INSERT_REQUEST,
    INSERT_ATTEMPT,
    INSERT_RESPONSE,
    INSERT_CHUNK,
    INSERT_HEALTH,
    UPDATE_REQUEST_STATE,
    INSERT_BUDGET_DEFINITION,
    INSERT_BUDGET_SPEND,
)

REPLAYS = {
    write.label: Write(write.label, write.table, write.columns, write.key, replay=True)
    for write in WRITES
}
"""Each write's replay form, by label (what a spool file names)."""

REQUEST_COLUMNS = (
    "id, provider, model, messages, max_tokens, temperature, stream, state, retry_count,"
    " history, created_at, updated_at, metadata, error, error_code, tenant, end_user"
)
ATTEMPT_COLUMNS = ", ".join(INSERT_ATTEMPT.names)
RESPONSE_COLUMNS = ", ".join(INSERT_RESPONSE.names)
METRICS_COLUMNS = (
    "provider, model, date, request_count, success_count, failure_count, total_input_tokens,"
    " total_output_tokens, total_tokens, total_cost, total_duration"
)
SUMMARY_STATES = "SELECT state, COUNT(*) FROM provider_requests GROUP BY state"
CACHE_SUMMARY = (
    "SELECT COUNT(*), SUM(CASE WHEN cached THEN 1 ELSE 0 END), COALESCE(SUM(saved_cost), 0)"
    " FROM provider_responses"
)
