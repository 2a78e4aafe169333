"""``ProviderDAO``: the seed's data-access object, as a facade over any :class:`Store`.

Code written against the seed (``saveRequest``, ``updateRequestState``, ...) keeps its shape;
every call goes through the store's protocols, so it works on SQLite, PostgreSQL or a user's
backend alike. Every method is async and checks its arguments' types first, so a wrong one
is a ``TypeError`` naming what was expected, never an ``AttributeError`` from deep inside.
"""

from __future__ import annotations

from datetime import date as Date
from typing import get_args

from automatosx.schemas import HealthStatus, ProviderHealth, ProviderRequest, ProviderResponse
from automatosx.schemas import _now_ms as now_ms
from automatosx.store.base import MetricsRow, RequestRecord, Store, expect_type

__all__ = ["ProviderDAO"]

_STATUSES = frozenset(get_args(HealthStatus))


class ProviderDAO:
    """The seed's DAO over ``store`` (opened and closed by its owner, not by the DAO)."""

    __slots__ = ("store",)

    def __init__(self, store: Store) -> None:
        if not isinstance(store, Store):
            raise TypeError(f"ProviderDAO expects a Store, got {type(store).__name__}")
        self.store = store

    async def save_request(self, request: ProviderRequest) -> None:
        """Record a request as ``idle`` (its provider and model must be set)."""
        expect_type("save_request", request, ProviderRequest)
        if request.provider is None or request.model is None:
            missing = "provider" if request.provider is None else "model"
            raise ValueError(
                f"save_request: request.{missing} is None; set it (the row needs the"
                " provider and model that were asked for)"
            )
        from automatosx.store._messages import LazyMessages

        created = now_ms()
        await self.store.save_request(
            RequestRecord(
                id=request.request_id,
                provider=request.provider,
                model=request.model,
                messages=LazyMessages(request.messages, capture=True),
                max_tokens=request.max_tokens,
                temperature=request.temperature,
                stream=request.stream,
                state="idle",
                retry_count=0,
                history=["idle"],
                created_at=created,
                updated_at=created,
                metadata=request.metadata,
            )
        )

    async def update_request_state(self, request_id: str, state: str) -> None:
        """Move a recorded request to ``state``, appending it to the row's history (a
        ``retrying`` counts one retry). Raises ``LookupError`` for an unknown request."""
        expect_type("update_request_state", request_id, str)
        expect_type("update_request_state", state, str)
        row = await self.store.get_request(request_id)
        if row is None:
            raise LookupError(f"update_request_state: no request {request_id!r} in the store")
        record = row.request
        await self.store.update_request_state(
            request_id,
            state=state,
            retry_count=record.retry_count + (1 if state == "retrying" else 0),
            history=[*record.history, state],
            error=record.error,
            error_code=record.error_code,
            updated_at=now_ms(),
        )

    async def save_response(self, response: ProviderResponse) -> None:
        expect_type("save_response", response, ProviderResponse)
        await self.store.save_response(response)

    async def save_stream_chunk(self, request_id: str, index: int, content: str) -> None:
        expect_type("save_stream_chunk", request_id, str)
        expect_type("save_stream_chunk", index, int)
        expect_type("save_stream_chunk", content, str)
        await self.store.save_stream_chunks(request_id, [(index, content, now_ms())])

    async def get_provider_metrics(
        self, provider: str | None = None, date: str | Date | None = None
    ) -> list[MetricsRow]:
        """Daily metrics rows, filtered by provider and UTC day (``YYYY-MM-DD`` or a date)."""
        if provider is not None:
            expect_type("get_provider_metrics", provider, str)
        if date is not None:
            expect_type("get_provider_metrics", date, (str, Date))
        day = date.isoformat() if isinstance(date, Date) else date
        return await self.store.get_provider_metrics(provider, day)

    async def get_provider_health(self, provider: str) -> ProviderHealth | None:
        """The latest health check of ``provider``, or ``None`` if it was never checked."""
        expect_type("get_provider_health", provider, str)
        latest = await self.store.get_provider_health(provider, limit=1)
        return latest[0] if latest else None

    async def save_health_check(
        self,
        provider: str,
        status: str,
        latency: float | None = None,
        error_message: str | None = None,
    ) -> None:
        """Record one health check (``status``: healthy, degraded or down; latency in ms)."""
        expect_type("save_health_check", provider, str)
        expect_type("save_health_check", status, str)
        if latency is not None:
            expect_type("save_health_check", latency, (int, float))
        if error_message is not None:
            expect_type("save_health_check", error_message, str)
        if status not in _STATUSES:
            raise ValueError(
                f"save_health_check: status must be one of {sorted(_STATUSES)}, not {status!r}"
            )
        if not provider or (latency is not None and latency < 0):
            field = "provider must be non-empty" if not provider else "latency must be >= 0"
            raise ValueError(f"save_health_check: {field}")
        # Constructed, not validated: a user's adapter may have any provider name.
        health = ProviderHealth.model_construct(
            provider=provider,
            status=status,
            latency=None if latency is None else float(latency),
            rate_limit_remaining=None,
            rate_limit_reset=None,
            last_checked=now_ms(),
            error=error_message,
        )
        await self.store.save_health_check(health)
