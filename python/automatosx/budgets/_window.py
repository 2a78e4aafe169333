"""Budget windows: when a budget's spend starts again from zero.

``minute``, ``hour``, ``day`` and ``month`` are calendar windows in UTC (a ``day`` budget
resets at 00:00 UTC, a ``month`` one at 00:00 UTC on the 1st), ``{"seconds": N}`` is a fixed
window of N seconds aligned on the Unix epoch (so every process of a fleet agrees on its
bounds), and ``total`` never resets. Bounds are whole epoch seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

__all__ = ["Window"]

_FIXED = {"minute": 60, "hour": 3_600, "day": 86_400}


@dataclass(frozen=True, slots=True)
class Window:
    """One budget's window: ``kind`` is ``minute``, ``hour``, ``day``, ``month``, ``total``
    or ``seconds`` (then ``seconds`` is its length)."""

    kind: str
    seconds: int = 0

    @property
    def label(self) -> str:
        """How the window is shown and stored: ``day``, ``total``, ``3600s``."""
        return f"{self.seconds}s" if self.kind == "seconds" else self.kind

    def bounds(self, now: float) -> tuple[int, int | None]:
        """``(start, end)`` in epoch seconds of the window holding ``now``; ``end`` is None
        for ``total``."""
        length = self.seconds if self.kind == "seconds" else _FIXED.get(self.kind, 0)
        if length:
            start = int(now // length) * length
            return start, start + length
        if self.kind == "month":
            day = datetime.fromtimestamp(now, tz=timezone.utc)
            first = datetime(day.year, day.month, 1, tzinfo=timezone.utc)
            year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
            nxt = datetime(year, month, 1, tzinfo=timezone.utc)
            return int(first.timestamp()), int(nxt.timestamp())
        return 0, None

    def as_json(self) -> str | dict[str, int]:
        return {"seconds": self.seconds} if self.kind == "seconds" else self.kind
