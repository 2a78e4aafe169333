"""``automatosx budgets --db ...``: each budget and scope value, from the database alone.

For every budget stored at ``open()`` (``budget_definitions``, the latest of each id), its
current window's spend per scope value (``budget_totals``): spent, limit, window, when it
resets, and a bar. ``--json`` prints the same as one JSON document for machines.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

from automatosx.budgets._config import parse_budgets
from automatosx.budgets._sql import connect, read_definitions, read_totals

__all__ = ["BudgetStatus", "read_status", "render_json", "render_text"]

_BAR = 20


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    """One budget's spend for one scope value in its current window."""

    budget_id: str
    scope: str
    window: str
    window_start: int
    resets_at: int | None
    limit_usd: float | None
    limit_tokens: int | None
    spent_usd: float
    spent_tokens: int
    attempts: int
    on_exceeded: str

    @property
    def used(self) -> float:
        """The larger fraction of its limits used (0 to 1+)."""
        fractions = [0.0]
        if self.limit_usd:
            fractions.append(self.spent_usd / self.limit_usd)
        if self.limit_tokens:
            fractions.append(self.spent_tokens / self.limit_tokens)
        if self.limit_usd == 0 or self.limit_tokens == 0:
            fractions.append(1.0)
        return max(fractions)


async def read_status(url: str, now: float | None = None) -> list[BudgetStatus]:
    """Every stored budget's current window, per scope value (one ``*`` row, zero, for a
    budget nothing was charged to yet)."""
    at = time.time() if now is None else now
    db = await connect(url)
    try:
        specs = parse_budgets(await read_definitions(db))
        out: list[BudgetStatus] = []
        for spec in specs:
            start, end = spec.window.bounds(at)
            rows = await read_totals(db, spec.id, start) or [("*", 0, 0, 0)]
            for scope, nusd, tokens, attempts in rows:
                out.append(
                    BudgetStatus(
                        spec.id,
                        scope,
                        spec.window.label,
                        start,
                        end,
                        spec.limit_usd,
                        spec.limit_tokens,
                        nusd / 1e9,
                        tokens,
                        attempts,
                        spec.on_exceeded,
                    )
                )
        return out
    finally:
        await db.close()


def render_json(statuses: list[BudgetStatus]) -> str:
    return json.dumps(
        {"budgets": [{**asdict(s), "used": round(s.used, 6)} for s in statuses]}, indent=2
    )


def render_text(statuses: list[BudgetStatus]) -> str:
    """One line per budget and scope value, at most 80 columns."""
    if not statuses:
        return "no budgets in this database (a router with RouterOptions.budgets records them)"
    lines = []
    for s in statuses:
        used = s.used
        filled = min(_BAR, round(used * _BAR))
        bar = "#" * filled + "." * (_BAR - filled)
        parts = []
        if s.limit_usd is not None:
            parts.append(f"{_usd(s.spent_usd, s.limit_usd)} / {_usd(s.limit_usd, s.limit_usd)}")
        if s.limit_tokens is not None:
            parts.append(f"{s.spent_tokens:,} / {s.limit_tokens:,} tok")
        resets = (
            "never resets"
            if s.resets_at is None
            else "resets "
            + datetime.fromtimestamp(s.resets_at, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        )
        lines.append(f"{s.budget_id}  {s.scope}  ({s.window}, {resets})")
        lines.append(f"  [{bar}] {used * 100:5.1f}%  " + ", ".join(parts))
    return "\n".join(lines)


def _usd(value: float, scale: float) -> str:
    """Cents for budgets of a dollar or more; six decimals for smaller ones."""
    return f"${value:,.2f}" if scale >= 1 else f"${value:.6f}"
