"""The package's wall clock: epoch milliseconds, as every recorded timestamp is written.

One helper for the schemas' defaults, the router, the recording and the adapters (durations
use ``time.perf_counter_ns``; the Rust core's breakers and limiters use its own monotonic
clock).
"""

from __future__ import annotations

import time

__all__ = ["now_ms"]


def now_ms() -> int:
    """Milliseconds since the epoch (UTC)."""
    return time.time_ns() // 1_000_000
