"""Hedged requests against slow replies: p99 latency with and without hedging, and the extra
requests hedging sent.

The emulator runs in-process (ASGI transport, real OpenAI SDK); 5% of its replies are 2 s
late (every 20th request). Two deployments of the ``openai`` kind: the request goes to the
first, hedging may start the second. Run by ``make bench``: ``python benches/bench_hedging.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

import httpx2

from _budget import Result, summary
from automatosx import Router
from automatosx.emulator import Rule, Scenario, create_app

KEY = "sk-bench-hedging-0123456789"


def config(dep_id: str) -> dict[str, Any]:
    return {
        "name": "openai",
        "id": dep_id,
        "apiKey": KEY,
        "baseUrl": "http://emulator.local/v1",
        "rateLimits": {"requestsPerMinute": 1_000_000},
        "models": ["gpt-4o-mini"],
        "defaultModel": "gpt-4o-mini",
    }


async def run(
    requests: int, concurrency: int, hedging: dict[str, Any] | None
) -> tuple[list[float], int]:
    scenario = Scenario([Rule(provider="openai", every=20, latency=2.0)])
    app = create_app(scenario)
    options: dict[str, Any] = {"primaryProvider": "a", "fallbackProviders": ["b"]}
    if hedging is not None:
        options["hedging"] = hedging
    latencies: list[float] = []
    client = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app))
    async with client, Router(options, [config("a"), config("b")], http_client=client) as router:
        gate = asyncio.Semaphore(concurrency)

        async def one() -> None:
            async with gate:
                started = time.perf_counter()
                await router.execute({"messages": [{"role": "user", "content": "hello"}]})
                latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(one() for _ in range(requests)))
    return latencies, scenario.count("openai") - requests


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    plain, _ = asyncio.run(run(args.requests, args.concurrency, None))
    hedged, extra = asyncio.run(
        run(args.requests, args.concurrency, {"afterMs": 100, "maxExtraPercent": 10})
    )
    results = [
        Result("hedging: p99 latency without hedging", p99(plain), None, "ms"),
        Result("hedging: p99 latency with hedging (afterMs 100)", p99(hedged), None, "ms"),
        Result(
            "hedging: extra requests sent (% of requests)", 100 * extra / args.requests, 10.0, "%"
        ),
    ]
    print(f"\nbench_hedging.py: {args.requests} requests, 5% of replies 2 s late")
    for line in summary(results):
        print(line)


if __name__ == "__main__":
    main()
