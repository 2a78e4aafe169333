"""Budgets' cost on the request path, in memory and leased from Redis (issue 20, item 6).

Run: ``python benches/bench_budgets.py`` (starts a throwaway redis-server; prints PASS/MISS).

``execute`` over the in-process stub provider (``store=None``), four routers and the stub
called directly in one event loop, batches of each interleaved, p50 of each:

* ``direct``: the stub's own ``execute`` (so that an execute's overhead is ``plain - direct``);
* ``plain``: no budgets, no ``shared=`` (the baseline);
* ``budgets``: a USD budget and a per-user token budget, in memory;
* ``shared``: no budgets, ``shared="redis://..."`` (its deployment guards leased from Redis);
* ``shared+budgets``: the same with the budgets, leased from Redis too.

Reported: what budgets add to an execute's p50, in memory (``budgets - plain``, budget
<= 2 us) and with Redis leases (``shared+budgets - shared``, budget <= 3 us), and each as a
ratio of the router's own overhead, ``plain - direct`` (issue 23's row: <= 0.2x). On a busy
machine the microseconds stretch with everything else; the ratios are what one run can
compare. And whether a request makes a round trip to Redis: the commands the budgets'
own Redis client sent during the timed batches (counted at ``execute_command``: one per round
trip, no MONITOR), per request of that router (<= 0.01: none per request; the background
task's few per second remain); and, for information, every command each shared router's
server counted (``INFO commandstats``, each shared router on a server of its own, commands
run inside a Lua script included), per request.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import _servers
from _budget import Result, summary
from _stub import MODEL, PROMPT, StubProvider, percentile, time_calls
from automatosx import Router
from automatosx.budgets._guard import budgets_of
from automatosx.schemas import ProviderRequest
from automatosx.shared import SharedState

BATCH, ROUNDS = 1_000, 20
LOCAL_BUDGET_US, FLEET_BUDGET_US, RATIO, CALLS_PER_REQUEST = 2.0, 3.0, 0.2, 0.01
OPTIONS: dict[str, Any] = {"primaryProvider": "claude", "fallbackProviders": []}
BUDGETS = {
    "budgets": [
        {"id": "daily", "limitUsd": 1_000_000, "window": "day"},
        {"id": "per-user", "limitTokens": 10**15, "window": "month", "per": ["user"]},
    ]
}
REQUEST = {**PROMPT, "user": "alice"}
NAMES = ("direct", "plain", "budgets", "shared", "shared+budgets")


def commands(client: Any) -> int:
    """Commands the Redis server has run so far (every kind but INFO itself)."""
    stats = client.info("commandstats")
    return sum(v["calls"] for k, v in stats.items() if k != "cmdstat_info")


class Counted:
    """Counts the commands a redis-py asyncio client sends (one round trip each)."""

    def __init__(self, client: Any) -> None:
        self.calls = 0
        send = client.execute_command

        async def counted(*args: Any, **options: Any) -> Any:
            self.calls += 1
            return await send(*args, **options)

        client.execute_command = counted


async def measure(urls: dict[str, str]) -> tuple[dict[str, float], dict[str, float], float]:
    """p50 (us) of each router; the commands each shared router's server ran, per request;
    the round trips of the budgets' Redis client per request."""
    import redis

    def shared(name: str) -> SharedState:
        return SharedState(urls[name], prefix=f"bench{uuid.uuid4().hex[:8]}:")

    stub = StubProvider()
    validated = ProviderRequest.model_validate({**REQUEST, "model": MODEL})
    routers = {
        "plain": Router(OPTIONS, providers=[StubProvider()], store=None),
        "budgets": Router({**OPTIONS, **BUDGETS}, providers=[StubProvider()], store=None),
        "shared": Router(OPTIONS, providers=[StubProvider()], store=None, shared=shared("shared")),
        "shared+budgets": Router(
            {**OPTIONS, **BUDGETS},
            providers=[StubProvider()],
            store=None,
            shared=shared("shared+budgets"),
        ),
    }
    samples: dict[str, list[int]] = {name: [] for name in NAMES}
    clients = {name: redis.Redis.from_url(url) for name, url in urls.items()}
    async with (
        routers["plain"],
        routers["budgets"],
        routers["shared"],
        routers["shared+budgets"],
    ):
        calls = {"direct": lambda: stub.execute(validated)}
        for name, router in routers.items():
            calls[name] = lambda r=router: r.execute(REQUEST)
        for call in calls.values():  # warm up: leases, routes, prices
            await time_calls(call, BATCH, [])
        guard = budgets_of(routers["shared+budgets"])
        assert guard is not None
        assert guard.fleet is not None
        trips = Counted(guard.fleet._redis)
        before = {name: commands(client) for name, client in clients.items()}
        for _ in range(ROUNDS):
            for name in NAMES:
                await time_calls(calls[name], BATCH, samples[name])
        ran = {name: commands(client) - before[name] for name, client in clients.items()}
    for client in clients.values():
        client.close()
    p50 = {name: percentile(samples[name], 50) / 1000 for name in NAMES}
    per_request = {name: ran[name] / (BATCH * ROUNDS) for name in urls}
    return p50, per_request, trips.calls / (BATCH * ROUNDS)


def main() -> None:
    servers = {name: _servers.start_redis() for name in ("shared", "shared+budgets")}
    try:
        p50, per_request, trips = asyncio.run(
            measure({name: server.url for name, server in servers.items()})
        )
    finally:
        for server in servers.values():
            server.stop()
    for name in NAMES:
        print(f"execute p50, {name:<15} {p50[name]:8.2f} us")
    print(
        f"Redis commands per request (INFO commandstats, Lua's included): "
        f"{per_request['shared']:.4f} shared, {per_request['shared+budgets']:.4f} "
        "shared+budgets"
    )
    local = p50["budgets"] - p50["plain"]
    fleet = p50["shared+budgets"] - p50["shared"]
    overhead = p50["plain"] - p50["direct"]
    results = [
        Result("budgets: execute p50 added, in memory", local, LOCAL_BUDGET_US, "us"),
        Result("budgets: execute p50 added, Redis leases", fleet, FLEET_BUDGET_US, "us"),
        Result("budgets: in memory / execute overhead", local / overhead, RATIO, "x"),
        Result("budgets: Redis leases / execute overhead", fleet / overhead, RATIO, "x"),
        Result("budgets: Redis round trips per request", trips, CALLS_PER_REQUEST, "calls"),
    ]
    for line in summary(results):
        print(line)


if __name__ == "__main__":
    main()
