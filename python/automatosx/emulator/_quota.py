"""A fixed one-minute window per provider, for the rate-limit headers on every response."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from automatosx.emulator._wire import Quota

__all__ = ["RateWindow"]


@dataclass
class _Window:
    start: float
    requests: int = 0
    tokens: int = 0


class RateWindow:
    """Counts requests and tokens per provider per minute; never refuses anything itself
    (script a 429 to see one), it only makes the headers move like the real ones."""

    def __init__(
        self,
        requests_limit: int = 4_000,
        tokens_limit: int = 2_000_000,
        period: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.requests_limit = requests_limit
        self.tokens_limit = tokens_limit
        self.period = period
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: dict[str, _Window] = {}

    def record(self, provider: str, tokens: int) -> Quota:
        now = self._clock()
        with self._lock:
            window = self._windows.get(provider)
            if window is None or now >= window.start + self.period:
                window = self._windows[provider] = _Window(start=now)
            window.requests += 1
            window.tokens += tokens
            reset_at = window.start + self.period
            return Quota(
                requests_limit=self.requests_limit,
                requests_remaining=max(0, self.requests_limit - window.requests),
                tokens_limit=self.tokens_limit,
                tokens_remaining=max(0, self.tokens_limit - window.tokens),
                reset_in=max(0.0, reset_at - now),
                reset_at=reset_at,
            )
