"""A router process to crash: ``python crash_worker.py STORE_URL PROVIDER IN_FLIGHT BUSY_MS
BLOCK_AFTER [DURABILITY or store options as JSON]``.

It records into STORE_URL through the real router, IN_FLIGHT requests at a time for ever.
PROVIDER is an emulator's Anthropic base URL (the real SDK over HTTP), ``in-process`` (an
emulator in this process, competing for the GIL) or ``stub`` (an in-process adapter,
``benches/_stub.py``: as fast as a provider can answer). Before each request it prints
``sent <id>``; after each returns, ``ack <id>`` (the caller saw it succeed: it must be in the
database). With BUSY_MS > 0 a task keeps the event loop CPU-bound, yielding only every
BUSY_MS ms (a loop that rarely yields, as under real load). With BLOCK_AFTER > 0, once that
many requests are acknowledged the loop stops yielding at all (a CPU-bound callback: it
prints ``busy`` and spins for a minute). The parent SIGKILLs it.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from automatosx import Router
from automatosx.schemas import ProviderConfig


async def hog(busy_s: float) -> None:
    while True:
        until = time.perf_counter() + busy_s
        while time.perf_counter() < until:
            pass
        await asyncio.sleep(0)


async def main(
    store_url: str, base_url: str, in_flight: int, busy_ms: float, block_after: int, durability: str
) -> None:
    config = ProviderConfig.model_validate(
        {
            "name": "claude",
            "api_key": "sk-test-crash-0123456789abcdef",
            "base_url": base_url if base_url.startswith("http") else "http://127.0.0.1:9",
            "timeout": 30_000,
            "max_retries": 0,
            "rate_limits": {"requests_per_minute": 100_000_000},
            "models": ["claude-sonnet-4-6"],
            "default_model": "claude-sonnet-4-6",
        }
    )
    from automatosx.store import create_store

    kwargs = json.loads(durability) if durability.startswith("{") else {}
    if durability and not kwargs:
        kwargs = {"durability": durability}
    store = create_store(store_url, **kwargs)
    out = sys.stdout
    acked = 0

    def block() -> None:
        out.write("busy\n")
        out.flush()
        until = time.perf_counter() + 60
        while time.perf_counter() < until:
            pass

    async def worker() -> None:
        nonlocal acked
        while True:
            rid = str(uuid.uuid4())
            out.write(f"sent {rid}\n")
            out.flush()
            await router.execute(
                {"requestId": rid, "messages": [{"role": "user", "content": "hi"}]}
            )
            out.write(f"ack {rid}\n")
            out.flush()
            acked += 1
            if acked == block_after:
                asyncio.get_running_loop().call_soon(block)

    providers: list[Any] = [config]
    if base_url == "stub":  # an in-process adapter (benches/_stub.py): thousands of requests/s
        sys.path.insert(0, str(Path(__file__).parents[2] / "benches"))
        from _stub import StubProvider

        providers = [StubProvider()]
    async with Router({"primaryProvider": "claude"}, providers, store=store) as router:
        if busy_ms > 0:
            asyncio.get_running_loop().create_task(hog(busy_ms / 1000))
        out.write("ready\n")
        out.flush()
        await asyncio.gather(*(worker() for _ in range(in_flight)))


if __name__ == "__main__":
    url, base, flight, busy = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    block_after = int(sys.argv[5])
    durability = sys.argv[6] if len(sys.argv) > 6 else ""
    if base == "in-process":  # the emulator in this process: it competes for the GIL too
        from automatosx.emulator import EmulatorServer, Scenario

        with EmulatorServer(Scenario()) as server:
            asyncio.run(main(url, server.anthropic_base_url, flight, busy, block_after, durability))
    else:
        asyncio.run(main(url, base, flight, busy, block_after, durability))
