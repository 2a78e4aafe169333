"""The SQLite store's loss window under load: how old is a write when it is committed?

Many concurrent tasks record requests as the router does (request, attempt, response, final
state) through one write-behind store for a few seconds. The writer samples each write's lag
(queued -> committed); the bench prints the median, p99 and max, the commit rate, and how
often callers were held back by the lag bound (``max_lag_ms``). A crash loses at most the
writes younger than the lag, so p99/max lag is the loss window.

Run as a script (not part of the pytest benches)::

    PYTHONPATH=python python benches/bench_store_loss_window.py [--writers 200] [--seconds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections import deque
from pathlib import Path

from automatosx.schemas import ProviderResponse, TokenUsage
from automatosx.store import AttemptRecord, RequestRecord, SQLiteStore

T0 = 1_767_225_600_000
HISTORY = ["idle", "validating", "requesting", "completed"]


async def one_request(store: SQLiteStore) -> None:
    rid = str(uuid.uuid4())
    await store.save_request(
        RequestRecord(
            rid,
            "claude",
            "claude-sonnet-4-5",
            '[{"role":"user","content":"hi"}]',
            100,
            1.0,
            False,
            "requesting",
            0,
            HISTORY[:3],
            T0,
            T0,
            None,
        )
    )
    await store.save_attempt(
        AttemptRecord(rid, 1, "claude", "claude-sonnet-4-5", "success", None, None, None, 42, T0)
    )
    await store.save_response(
        ProviderResponse.model_construct(
            request_id=rid,
            provider="claude",
            model="claude-sonnet-4-5",
            content="hello",
            tokens=TokenUsage(input_tokens=3, output_tokens=5, total_tokens=8),
            finish_reason="stop",
            duration=42,
            cost=0.0001,
            metadata=None,
            created_at=T0,
        )
    )
    await store.update_request_state(
        rid, state="completed", retry_count=0, history=HISTORY, updated_at=T0 + 1
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(writers: int, seconds: float, max_lag_ms: float, commit_interval_ms: float) -> None:
    with tempfile.TemporaryDirectory(prefix="automatosx-loss-") as tmp:
        store = SQLiteStore(
            Path(tmp) / "bench.db", max_lag_ms=max_lag_ms, commit_interval_ms=commit_interval_ms
        )
        await store.open()
        writes, writer = store._queue, store._writer
        assert writes is not None
        assert writer is not None
        samples: deque[float] = deque(maxlen=5_000_000)
        writer.lag_samples = samples
        held = 0
        deadline = time.perf_counter() + seconds
        requests = 0

        async def writer() -> None:
            nonlocal held, requests
            while time.perf_counter() < deadline:
                if writes._blocked_puts or writes._room_waiters:
                    held += 1
                await one_request(store)
                requests += 1

        started = time.perf_counter()
        await asyncio.gather(*(writer() for _ in range(writers)))
        await store.close()
        elapsed = time.perf_counter() - started
    lags = list(samples)
    print(
        f"{writers} writers, {elapsed:.1f} s, max_lag_ms={max_lag_ms:g},"
        f" commit_interval_ms={commit_interval_ms:g}"
    )
    print(f"  requests recorded: {requests:,} ({len(lags) / elapsed:,.0f} writes/s committed)")
    print(
        f"  lag queued->committed: median {statistics.median(lags):.1f} ms,"
        f" p99 {percentile(lags, 0.99):.1f} ms, max {max(lags):.1f} ms"
    )
    print(f"  saves that found the writer behind (back-pressure): {held:,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--max-lag-ms", type=float, default=500.0)
    parser.add_argument("--commit-interval-ms", type=float, default=100.0)
    args = parser.parse_args()
    asyncio.run(run(args.writers, args.seconds, args.max_lag_ms, args.commit_interval_ms))


if __name__ == "__main__":
    main()
