"""One process of the budget fleet test: its own Budgets leased from Redis, spending until
the fleet's budget refuses it for a while.

Run as ``python _budget_worker.py <redis_url> <prefix> <limit_usd>``. It attaches, prints
``ready``, waits for a line on stdin, keeps 8 reservations in flight (each settled with 90-100%
of its maximum output), stops after 40 refusals in a row (25 ms apart, so idle leases of the
others come back to the fleet), closes (giving its lease back) and prints one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys

from automatosx.budgets import parse_budgets
from automatosx.budgets._fleet import BudgetFleet
from automatosx.budgets._gate import Budgets, Reservation
from automatosx.pricing import Rates
from automatosx.schemas import ProviderRequest, TokenUsage

RATES = Rates(1e-6, 4e-6)
REQUEST = ProviderRequest.model_validate(
    {"messages": [{"role": "user", "content": "Hello"}], "maxTokens": 100}
)


async def main(url: str, prefix: str, limit: float) -> None:
    budgets = Budgets(parse_budgets([{"id": "fleet", "limitUsd": limit, "window": "day"}]))
    fleet = BudgetFleet(budgets, url, prefix=prefix, poll_s=0.1, idle_s=0.3)
    await fleet.attach()
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    admitted = refused = streak = 0

    async def spend() -> None:
        nonlocal admitted, refused, streak
        while streak < 40:
            res = await budgets.admit(REQUEST, "openai", "openai", "m", RATES)
            if not isinstance(res, Reservation):
                refused += 1
                streak += 1
                await asyncio.sleep(0.025)
                continue
            streak = 0
            admitted += 1
            await asyncio.sleep(random.uniform(0.001, 0.005))  # the provider's reply
            budgets.settle(res, TokenUsage(input_tokens=5, output_tokens=random.randint(90, 100)))

    await asyncio.gather(*(spend() for _ in range(8)))
    spent = sum(acc.spent for acc in budgets.ledger.accounts.values())
    await fleet.aclose()
    print(
        json.dumps({"admitted": admitted, "refused": refused, "spent": spent, "calls": fleet.calls})
    )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
