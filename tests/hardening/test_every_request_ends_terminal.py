"""Every request that entered the router ends terminal, whatever cancels it and in both
durability modes: no row is left ``requesting``; abandoned streams are closed by
``aclose()`` without noise; a router never closed still lets the interpreter exit."""

from __future__ import annotations

import asyncio
import gc
import random
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from automatosx.emulator import Rule
from automatosx.store import SQLiteStore

from .conftest import TERMINAL

if TYPE_CHECKING:
    from .conftest import Bench


async def test_300_randomly_cancelled_requests_in_sync_mode_all_end_terminal(hx: Bench) -> None:
    hx.scenario.add(Rule(provider="claude", latency=0.05, chunk_latency=0.01))
    rng = random.Random(15)
    store = SQLiteStore(hx.db_path, durability="sync")
    outcomes: dict[str, str] = {}

    async with hx.router(store=store) as router:

        async def one(i: int) -> None:
            req = hx.request(f"request {i}")
            rid = req["requestId"]
            call = router.stream(req).text() if i % 3 == 0 else router.execute(req)
            task = asyncio.ensure_future(call)
            if rng.random() < 0.5:
                await asyncio.sleep(rng.random() * 0.1)
                task.cancel()
            try:
                await task
                outcomes[rid] = "completed"
            except asyncio.CancelledError:
                outcomes[rid] = "cancelled"

        await asyncio.gather(*(one(i) for i in range(300)))

    states = hx.states()
    assert len(outcomes) == 300
    for rid, outcome in outcomes.items():
        state = states.get(rid)
        if state is None:  # cancelled before it entered the router: nothing to record
            assert outcome == "cancelled"
            continue
        assert state[0] in TERMINAL, (rid, state)
        if outcome == "cancelled":
            assert state == ("failed", "CANCELLED"), (rid, state)
        else:
            assert state == ("completed", None), (rid, state)
    assert sum(o == "cancelled" for o in outcomes.values()) > 50
    assert not hx.rows("SELECT id FROM provider_requests WHERE state = 'requesting'")


async def _abandon_20_streams(hx: Bench, durability: str) -> list[str]:
    hx.scenario.add(Rule(provider="claude", chunk_latency=0.05))
    ids = []
    router = hx.router(store=SQLiteStore(hx.db_path, durability=durability))  # type: ignore[arg-type]
    await router.open()
    for i in range(20):
        req = hx.request(f"stream {i}")
        ids.append(req["requestId"])
        stream = router.stream(req)
        async for _ in stream:  # no `async with`, no aclose: the caller walks away
            break
        del stream
    await router.aclose()
    gc.collect()  # any finalizer would run now, after the store closed
    await asyncio.sleep(0)
    return ids


@pytest.mark.parametrize("durability", ["async", "sync"])
async def test_20_abandoned_streams_end_cancelled_at_aclose_without_noise(
    hx: Bench,
    durability: str,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    errors: list[dict[str, object]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    try:
        ids = await _abandon_20_streams(hx, durability)
    finally:
        loop.set_exception_handler(None)
    states = hx.states()
    assert [states[rid] for rid in ids] == [("failed", "CANCELLED")] * 20
    assert errors == []
    err = capfd.readouterr().err
    assert "never retrieved" not in err
    assert "StoreError" not in err
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


def test_a_router_never_closed_lets_the_interpreter_exit_and_flushes_its_rows(
    hx: Bench, tmp_path: Path
) -> None:
    script = textwrap.dedent(
        f"""
        import asyncio, warnings
        warnings.simplefilter("always")
        from automatosx import Router

        async def main():
            router = Router(
                {{"primaryProvider": "claude"}},
                [{{"name": "claude", "apiKey": "sk-test-0123456789abcdefghij",
                   "baseUrl": {hx.emulator.anthropic_base_url!r},
                   "defaultModel": "claude-sonnet-4-6", "models": ["claude-sonnet-4-6"],
                   "rateLimits": {{"requestsPerMinute": 100000}}, "maxRetries": 0}}],
                store={hx.store_url!r},
            )
            await router.open()
            for i in range(5):
                await router.execute({{"messages": [{{"role": "user", "content": "hi"}}]}})
            print("answered", flush=True)  # and never closes the router

        asyncio.run(main())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "answered" in done.stdout
    assert "ResourceWarning" in done.stderr
    assert "never closed" in done.stderr
    states = hx.states()
    assert len(states) == 5
    assert set(states.values()) == {("completed", None)}
