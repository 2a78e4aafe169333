"""Every call that reaches ``execute`` or ``stream`` leaves exactly one terminal row (issue 19
item 2): 600 random and near-valid values — any JSON, non-mappings included, reused request
ids — each call one row, ``failed`` with the validation error under a generated id when the
input cannot be parsed, and only typed errors raised (``RequestValidationError``, or the
documented ``TypeError`` naming ``request:``). (``response_model`` errors, issue 19 item 10,
are pinned by the structured-output work: tests/e2e/test_structured_output.py.)"""

from __future__ import annotations

import math
import random
from typing import TYPE_CHECKING, Any

from automatosx.errors import AutomatosxError

from .conftest import TERMINAL

if TYPE_CHECKING:
    from .conftest import Bench

CALLS = 600
KEYS = ["requestId", "provider", "model", "messages", "maxTokens", "temperature", "metadata"]
SCALARS: list[Any] = [None, True, 0, -1, 2**64, 1.5, math.inf, "", "claude", "\ud800", "x" * 300]


def _value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(6 if depth < 3 else 2)
    if kind < 2:
        return rng.choice(SCALARS)
    if kind == 2:
        return [_value(rng, depth + 1) for _ in range(rng.randrange(3))]
    if kind == 3:
        return {rng.choice(KEYS): _value(rng, depth + 1) for _ in range(rng.randrange(4))}
    if kind == 4:
        return {"messages": [{"role": rng.choice(["user", "robot"]), "content": "hi"}]}
    return {"role": "user", "content": _value(rng, depth + 1)}


def _typed(exc: BaseException) -> bool:
    if isinstance(exc, AutomatosxError):
        return True
    return isinstance(exc, TypeError) and str(exc).startswith("request:")


async def test_600_random_calls_leave_600_terminal_rows(hx: Bench) -> None:
    rng = random.Random(2026)
    valid = {"messages": [{"role": "user", "content": "hi"}]}
    reused = hx.request("reused id")
    calls = 0
    untyped: list[str] = []
    async with hx.router() as router:
        for i in range(CALLS):
            roll = rng.random()
            body: Any = _value(rng) if roll < 0.8 else dict(valid)
            if roll >= 0.9:
                body = dict(reused)  # the first use is valid, the later ones are refused
            calls += 1
            try:
                if i % 2:
                    async with router.stream(body) as stream:
                        async for _ in stream:
                            pass
                else:
                    await router.execute(body)
            except Exception as exc:
                if not _typed(exc):
                    untyped.append(repr(exc)[:200])
    assert untyped == []
    rows = hx.rows("SELECT id, state, error_code FROM provider_requests")
    assert len(rows) == calls
    assert {row["state"] for row in rows} <= set(TERMINAL)
    assert any(row["error_code"] == "VALIDATION_ERROR" for row in rows)
