"""Record builders shared by the store tests (seed-shaped defaults, override any field)."""

from __future__ import annotations

import uuid
from typing import Any

from automatosx.schemas import ProviderResponse, TokenUsage
from automatosx.store import AttemptRecord, RequestRecord

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z in ms


def new_id() -> str:
    return str(uuid.uuid4())


def request_record(request_id: str | None = None, **changes: Any) -> RequestRecord:
    fields: dict[str, Any] = {
        "id": request_id or new_id(),
        "provider": "claude",
        "model": "claude-sonnet-4-5",
        "messages": '[{"role":"user","content":"Hello"}]',
        "max_tokens": 100,
        "temperature": 1.0,
        "stream": False,
        "state": "validating",
        "retry_count": 0,
        "history": ["idle", "validating"],
        "created_at": T0,
        "updated_at": T0,
        "metadata": None,
    }
    fields.update(changes)
    return RequestRecord(**fields)


def attempt_record(request_id: str, attempt: int = 1, **changes: Any) -> AttemptRecord:
    fields: dict[str, Any] = {
        "request_id": request_id,
        "attempt": attempt,
        "provider": "claude",
        "model": "claude-sonnet-4-5",
        "outcome": "success",
        "error_code": None,
        "error": None,
        "status_code": None,
        "duration": 120,
        "created_at": T0 + 1_000,
    }
    fields.update(changes)
    return AttemptRecord(**fields)


def response(request_id: str, **changes: Any) -> ProviderResponse:
    fields: dict[str, Any] = {
        "request_id": request_id,
        "provider": "claude",
        "model": "claude-sonnet-4-5",
        "content": "Hi there",
        "tokens": TokenUsage(input_tokens=10, output_tokens=5, total_tokens=15),
        "finish_reason": "stop",
        "duration": 120,
        "cost": 0.00042,
        "created_at": T0 + 1_000,
    }
    fields.update(changes)
    return ProviderResponse(**fields)
