"""A router process for the budget tests: ``python _budget_process.py spend <base_url> <db>
<limit> <n>`` sends n requests through a budget recording into the SQLite file and prints the
costs; ``fleet <base_url> <redis_url> <prefix> <limit>`` shares the budget through Redis,
prints ``ready``, waits for a line, keeps 4 requests in flight until refused 40 times in a row
(25 ms apart), and prints what it was charged."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from automatosx import BudgetExceededError, Router
from automatosx.shared import SharedState

PRICES = {"gpt-4o-mini": {"inputCostPerToken": 1e-9, "outputCostPerToken": 4e-6}}
REQUEST = {"messages": [{"role": "user", "content": "Hello there"}], "maxTokens": 20}


def config(base_url: str) -> dict[str, Any]:
    return {
        "name": "openai",
        "id": "east",
        "apiKey": "sk-test-e2e-0123456789abcdefghij",
        "baseUrl": base_url,
        "timeout": 10_000,
        "maxRetries": 0,
        "rateLimits": {"requestsPerMinute": 1_000_000},
        "models": ["gpt-4o-mini"],
        "defaultModel": "gpt-4o-mini",
        "prices": PRICES,
    }


def options(limit: float) -> dict[str, Any]:
    budget = {"id": "cap", "limitUsd": limit, "window": "month"}
    return {"primaryProvider": "east", "budgets": [budget]}


async def spend(base_url: str, db: str, limit: float, n: int) -> None:
    async with Router(options(limit), [config(base_url)], store=f"sqlite:///{db}") as r:
        costs = [(await r.execute(REQUEST)).cost for _ in range(n)]
    print(json.dumps({"costs": costs}))


async def fleet(base_url: str, url: str, prefix: str, limit: float) -> None:
    shared = SharedState(url, prefix=prefix)
    async with Router(options(limit), [config(base_url)], shared=shared) as r:
        warm = (await r.execute({**REQUEST, "maxTokens": 1})).cost  # warm the SDK's connection
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        costs: list[float] = []
        refused = streak = 0

        async def loop() -> None:
            nonlocal refused, streak
            while streak < 40:
                try:
                    costs.append((await r.execute(REQUEST)).cost or 0.0)
                    streak = 0
                except BudgetExceededError:
                    refused += 1
                    streak += 1
                    await asyncio.sleep(0.025)

        await asyncio.gather(*(loop() for _ in range(4)))
    print(json.dumps({"costs": costs, "refused": refused, "warm": warm}))


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "spend":
        asyncio.run(spend(args[0], args[1], float(args[2]), int(args[3])))
    else:
        asyncio.run(fleet(args[0], args[1], args[2], float(args[3])))
