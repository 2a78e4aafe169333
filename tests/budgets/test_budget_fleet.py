"""Fleet budgets against a real redis-server: leases taken atomically on the server, never
more outstanding than what is left, no round trip per reservation, unused leases given back
on idle and on close, four processes spending one budget (sum <= cap, >= 95% used), and a
bounded local share while Redis is down."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import redis.asyncio as aioredis

import _servers
from automatosx import BudgetExceededError
from automatosx.budgets import parse_budgets
from automatosx.budgets._fleet import BudgetFleet
from automatosx.budgets._gate import Budgets, Reservation
from automatosx.pricing import Rates
from automatosx.schemas import ProviderRequest, TokenUsage

WORKER = Path(__file__).with_name("_budget_worker.py")
RATES = Rates(1e-6, 4e-6)
REQUEST = ProviderRequest.model_validate(
    {"messages": [{"role": "user", "content": "Hello"}], "maxTokens": 100}
)
CLAIM_USD = (10 * 1e-6) + (100 * 4e-6)  # ceil(5 / 3) + 8 input tokens, 100 output


@pytest.fixture
def prefix() -> str:
    return f"b{uuid.uuid4().hex[:12]}:"


async def until(condition: Callable[[], bool], within_s: float = 10.0) -> None:
    """Wait for ``condition`` (polling state a background task changes); fail in time."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not condition():
        if loop.time() > deadline:
            pytest.fail(f"condition not met within {within_s} s")
        await asyncio.sleep(0.01)


def budgets(limit: float, **entry: object) -> Budgets:
    return Budgets(parse_budgets([{"id": "fleet", "limitUsd": limit, "window": "day", **entry}]))


async def window_hash(url: str, prefix: str, scope: str = "*") -> dict[str, int]:
    client = aioredis.Redis.from_url(url)
    try:
        keys = await client.keys(f"{prefix}fleet:{scope}:*")
        assert len(keys) == 1
        raw = await client.hgetall(keys[0])
    finally:
        await client.aclose()
    return {k.decode(): int(float(v)) for k, v in raw.items()}


async def test_reservations_spend_a_lease_with_no_round_trip_each(
    redis_url: str, prefix: str
) -> None:
    gate = budgets(1.0)
    fleet = BudgetFleet(gate, redis_url, prefix=prefix, poll_s=60)
    await fleet.attach()
    try:
        for _ in range(200):
            res = await gate.admit(REQUEST, "openai", "openai", "m", RATES)
            assert isinstance(res, Reservation)
            gate.settle(res, TokenUsage(input_tokens=5, output_tokens=50))
        assert fleet.calls <= 3  # the first lease is half the budget: ~2,400 claims
        state = await window_hash(redis_url, prefix)
        (acc,) = gate.ledger.accounts.values()
        assert state["taken_n"] == acc.lease + acc.spent  # leased = unused lease + charged
        assert state["taken_n"] <= 1_000_000_000
    finally:
        await fleet.aclose()
    state = await window_hash(redis_url, prefix)
    assert state["charged_n"] == acc.spent == 200 * (5 * 1000 + 50 * 4000)
    assert state["taken_n"] == acc.spent  # the unused lease came back on close


async def test_leases_outstanding_never_exceed_what_is_left(redis_url: str, prefix: str) -> None:
    limit = 40 * CLAIM_USD
    gates = [budgets(limit) for _ in range(3)]
    fleets = [BudgetFleet(g, redis_url, prefix=prefix, poll_s=60) for g in gates]
    for fleet in fleets:
        await fleet.attach()
    held: list[tuple[Budgets, Reservation]] = []
    try:
        for _ in range(30):  # 90 tries for room for 40, none settled yet
            for gate in gates:
                res = await gate.admit(REQUEST, "openai", "openai", "m", RATES)
                if isinstance(res, Reservation):
                    held.append((gate, res))
                else:
                    assert isinstance(res, BudgetExceededError)
                    assert "fleet-wide" in str(res)
        assert len(held) == 40
        state = await window_hash(redis_url, prefix)
        assert state["taken_n"] <= round(limit * 1e9)
    finally:
        for fleet in fleets:
            await fleet.aclose()


async def test_an_idle_lease_goes_back_to_the_fleet(redis_url: str, prefix: str) -> None:
    gate = budgets(1.0)
    fleet = BudgetFleet(gate, redis_url, prefix=prefix, poll_s=0.05, idle_s=0.2)
    await fleet.attach()
    try:
        res = await gate.admit(REQUEST, "openai", "openai", "m", RATES)
        assert isinstance(res, Reservation)
        gate.settle(res, TokenUsage(input_tokens=5, output_tokens=5))
        (acc,) = gate.ledger.accounts.values()
        assert acc.lease > 0
        await until(lambda: acc.lease == 0)
        assert acc.lease == 0
        state = await window_hash(redis_url, prefix)
        assert state["taken_n"] == state["charged_n"] == acc.spent
    finally:
        await fleet.aclose()


def test_four_processes_share_one_budget_under_the_cap_and_use_95_percent(
    redis_url: str, prefix: str
) -> None:
    limit = 400 * CLAIM_USD
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    workers = [
        subprocess.Popen(
            [sys.executable, str(WORKER), redis_url, prefix, repr(limit)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(4)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            line = worker.stdout.readline()
            assert line.strip() == "ready", worker.communicate(timeout=30)[1][-2000:]
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        outputs = [w.communicate(timeout=120) for w in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.communicate(timeout=30)
    results = []
    for (out, err), worker in zip(outputs, workers, strict=True):
        assert worker.returncode == 0, err[-2000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    state = asyncio.run(window_hash(redis_url, prefix))
    cap = round(limit * 1e9)
    spent = sum(r["spent"] for r in results)
    assert state["charged_n"] == spent  # every charge reached the fleet
    assert spent <= cap
    assert spent >= 0.95 * cap, (spent / cap, results)
    assert all(r["admitted"] > 0 for r in results)  # everyone was served
    admitted = sum(r["admitted"] for r in results)
    assert sum(r["calls"] for r in results) < admitted / 2  # no round trip per request


class _Messages(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


async def test_redis_down_spends_a_bounded_local_share_then_reports_it(prefix: str) -> None:
    logged = _Messages()
    logger = logging.getLogger("automatosx.budgets")
    logger.addHandler(logged)
    try:
        own = _servers.start_redis()
    except _servers.ServerStartError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        limit = 100 * CLAIM_USD
        gate = budgets(limit)
        fleet = BudgetFleet(gate, own.url, prefix=prefix, poll_s=0.05, lease_fraction=0.2)
        await fleet.attach()
        first = await gate.admit(REQUEST, "openai", "openai", "m", RATES)
        assert isinstance(first, Reservation)
        gate.settle(first, TokenUsage(input_tokens=10, output_tokens=100))
        (acc,) = gate.ledger.accounts.values()
        await until(lambda: acc.fleet_spent == acc.spent)  # Redis answered the report
        assert (await window_hash(own.url, prefix))["charged_n"] == acc.spent
        before, taken = acc.spent, acc.fleet_taken
        assert taken is not None
        share = (round(limit * 1e9) - taken[0]) // 1  # one live process: all of the rest
        lease_at_kill = acc.lease
        own.kill()
        await until(lambda: bool(fleet.degraded))
        assert fleet.degraded
        admitted = 1
        while True:  # spend until refused: the lease plus one share, never more than the cap
            res = await gate.admit(REQUEST, "openai", "openai", "m", RATES)
            if not isinstance(res, Reservation):
                break
            admitted += 1
            gate.settle(res, TokenUsage(input_tokens=10, output_tokens=100))
        assert 1 < admitted <= 100
        assert acc.spent - before <= lease_at_kill + share  # the lease and one share, no more
        assert acc.spent <= round(limit * 1e9)
        own.restart()
        await until(lambda: not fleet.degraded)
        assert not fleet.degraded
        await fleet.aclose()
        state = await window_hash(own.url, prefix)  # the restarted Redis started empty
        assert state["charged_n"] == acc.spent - before  # the outage's spend was reported
        assert state["taken_n"] <= round(limit * 1e9)
    finally:
        own.stop()
        logger.removeHandler(logged)
    assert [m for m in logged.messages if "unreachable" in m and "share" in m] != []
    assert [m for m in logged.messages if "is back" in m] != []
