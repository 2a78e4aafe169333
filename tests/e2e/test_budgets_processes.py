"""Budgets across processes, through the real SDK against the emulator: a router opened in a
new process resumes the window's spend from the store, and four processes sharing one budget
through a real redis-server spend at most the cap together and at least 95% of it."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from tests.e2e.conftest import Harness
from tests.e2e.test_budgets import CLAIM, MAX_TOKENS, TEXT, dep, nusd, options

from automatosx import BudgetExceededError, Router
from automatosx.budgets._guard import budgets_of

PROCESS = Path(__file__).with_name("_budget_process.py")
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}


def run(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(PROCESS), *args], capture_output=True, text=True, env=ENV, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


async def test_a_router_in_a_new_process_resumes_the_windows_spend(e2e: Harness) -> None:
    limit = 3.5 * CLAIM
    first = await asyncio.to_thread(
        run, "spend", e2e.base_url("openai"), str(e2e.db_path), repr(limit), "2"
    )
    assert len(first["costs"]) == 2
    cap = {"id": "cap", "limitUsd": limit, "window": "month"}
    async with Router(options(cap), [dep(e2e.base_url("openai"))], store=e2e.store_url) as r:
        guard = budgets_of(r)
        assert guard is not None
        (level,) = [x for x in guard.levels() if x[2] == "usd"]
        assert level[3] == sum(round(c * 1e9) for c in first["costs"]) / 1e9  # resumed
        await r.execute(e2e.request(TEXT, maxTokens=MAX_TOKENS))  # the third fits
        with pytest.raises(BudgetExceededError, match="budget 'cap'"):
            await r.execute(e2e.request(TEXT, maxTokens=MAX_TOKENS))
    assert e2e.count("openai") == 3


def test_four_router_processes_share_one_budget_under_the_cap(e2e: Harness, redis_url: str) -> None:
    limit = 200 * CLAIM
    prefix = f"b{uuid.uuid4().hex[:10]}:"
    base = e2e.base_url("openai")
    workers = [
        subprocess.Popen(
            [sys.executable, str(PROCESS), "fleet", base, redis_url, prefix, repr(limit)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
        )
        for _ in range(4)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            line = worker.stdout.readline()
            assert line.strip() == "ready", worker.communicate(timeout=30)[1][-2000:]
        warm = e2e.count("openai")
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        outputs = [w.communicate(timeout=180) for w in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.communicate(timeout=30)
    results = []
    for (out, err), worker in zip(outputs, workers, strict=True):
        assert worker.returncode == 0, err[-2000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    costs = [c for r in results for c in r["costs"]]
    warm_costs = [r["warm"] for r in results]  # each process's warm-up request (maxTokens 1)
    spent = sum(costs) + sum(warm_costs)
    assert spent <= limit * (1 + 1e-9)
    assert spent >= 0.95 * limit, (spent / limit, [len(r["costs"]) for r in results])
    assert e2e.count("openai") - warm == len(costs)  # every refused request sent nothing
    assert all(r["costs"] for r in results)

    async def charged() -> int:
        client = aioredis.Redis.from_url(redis_url)
        try:
            (key,) = await client.keys(f"{prefix}budget:cap:*")
            return int(float(await client.hget(key, "charged_n")))
        finally:
            await client.aclose()

    assert asyncio.run(charged()) == sum(nusd(c) for c in [*costs, *warm_costs])  # all reported
