"""Sustained write rate of PostgresStore into a local throwaway server (target >= 20,000
records/s). A script, not a pytest benchmark: it starts its own server (tests/_servers.py).

    PYTHONPATH=python python benches/bench_store_postgres.py [--requests N] [--runs 3]

A "record" is one save: per request, a request row, two attempts, a response and a state
update (5 records). Each run writes N requests from 8 concurrent tasks into a fresh database
and times from the first save to the end of ``close()`` (everything committed). Prints each
run and the median.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _servers import PostgresServer, create_database, start_postgres
from automatosx.schemas import ProviderResponse, TokenUsage
from automatosx.store import AttemptRecord, RequestRecord
from automatosx.store.postgres import PostgresStore

T0 = 1_767_225_600_000
RECORDS_PER_REQUEST = 5
TASKS = 8
WRITERS = 2
HISTORY = ["idle", "validating", "requesting", "completed"]
USAGE = TokenUsage(input_tokens=10, output_tokens=5, total_tokens=15)


async def one_run(url: str, requests: int) -> float:
    """Records per second for ``requests`` requests, committed."""
    store = PostgresStore(url, queue_size=10_000, batch_size=2_048, writers=WRITERS)
    await store.open()

    async def worker(first: int, count: int) -> None:
        for i in range(first, first + count):
            rid = str(uuid.uuid4())
            at = T0 + i
            await store.save_request(
                RequestRecord(
                    rid,
                    "claude",
                    "claude-sonnet-4-5",
                    "[]",
                    100,
                    1.0,
                    False,
                    "validating",
                    0,
                    HISTORY[:2],
                    at,
                    at,
                    None,
                )
            )
            await store.save_attempt(
                AttemptRecord(
                    rid,
                    1,
                    "claude",
                    "claude-sonnet-4-5",
                    "failure",
                    "OVERLOADED",
                    "overloaded",
                    529,
                    50,
                    at,
                )
            )
            await store.save_attempt(
                AttemptRecord(rid, 2, "openai", "gpt-4o", "success", None, None, 200, 90, at)
            )
            await store.save_response(
                ProviderResponse(
                    request_id=rid,
                    provider="openai",
                    model="gpt-4o",
                    content="Hi",
                    tokens=USAGE,
                    finish_reason="stop",
                    duration=90,
                    cost=0.001,
                    created_at=at,
                )
            )
            await store.update_request_state(
                rid, state="completed", retry_count=1, history=HISTORY, updated_at=at
            )

    per_task = requests // TASKS
    started = time.perf_counter()
    await asyncio.gather(*(worker(t * per_task, per_task) for t in range(TASKS)))
    await store.close()
    elapsed = time.perf_counter() - started
    return per_task * TASKS * RECORDS_PER_REQUEST / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000, help="requests per run")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    server: PostgresServer = start_postgres()
    try:
        rates = []
        for run in range(1, args.runs + 1):
            url = create_database(server)
            rate = asyncio.run(one_run(url, args.requests))
            rates.append(rate)
            print(f"run {run}: {rate:,.0f} records/s")
        median = statistics.median(rates)
        verdict = "PASS" if median >= 20_000 else "MISS"
        print(f"median of {args.runs}: {median:,.0f} records/s (target >= 20,000: {verdict})")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
