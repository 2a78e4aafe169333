"""Sticky routing through the router, end to end: the real OpenAI SDK over real HTTP to the
emulator, a group of 4 deployments; pins followed, recorded, passed over when the pinned
deployment's breaker opens, and shared by a fleet of 2 router processes through a real
redis-server."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import API_KEY, Harness

from automatosx import Router
from automatosx.emulator import Rule
from automatosx.errors import AllProvidersFailedError
from automatosx.schemas import ProviderConfig

WORKER = Path(__file__).with_name("_sticky_worker.py")
MODEL = "gpt-4o-mini"


def pool(e2e: Harness, n: int = 4, key: str = "", **fields: Any) -> list[ProviderConfig]:
    """A group of ``n`` deployments of the openai kind, each its own API key (``key`` makes
    them another set: the emulator keeps a prompt cache per key and base URL)."""
    return [
        ProviderConfig.model_validate(
            {
                "name": "openai",
                "id": f"d{i}",
                "group": "pool",
                "api_key": f"{API_KEY}-{key}{i}",
                "base_url": e2e.base_url("openai"),
                "timeout": 30_000,
                "max_retries": 0,
                "rate_limits": {"requests_per_minute": 1_000_000},
                "models": [MODEL],
                "default_model": MODEL,
                **fields,
            }
        )
        for i in range(n)
    ]


def sticky_router(e2e: Harness, key: str = "prefix", **options: Any) -> Router:
    opts = {
        "primaryProvider": "pool",
        "backoffBaseMs": 1,
        "backoffCapMs": 5,
        "stickyRouting": {"key": key},
        **options,
    }
    return Router(opts, pool(e2e), store=e2e.store_url)


def system(n: int) -> dict[str, str]:
    return {"role": "system", "content": f"Conversation {n}. " + "Be helpful and precise. " * 80}


async def converse(router: Router, n: int, turns: int, **fields: Any) -> list[str]:
    """One conversation's turns, in order; the deployment that answered each."""
    messages: list[dict[str, Any]] = [system(n)]
    served = []
    for turn in range(turns):
        messages.append({"role": "user", "content": f"Question {turn}?"})
        reply = await router.execute({"messages": messages, "maxTokens": 20, **fields})
        served.append(reply.provider)
        messages.append({"role": "assistant", "content": reply.content})
    return served


async def test_every_turn_of_a_conversation_goes_to_one_deployment(e2e: Harness) -> None:
    async with sticky_router(e2e) as router:
        served = [await converse(router, n, 6) for n in range(8)]
    assert all(len(set(turns)) == 1 for turns in served), served
    assert len({turns[0] for turns in served}) == 4  # new conversations are still balanced


async def test_without_sticky_routing_turns_spread_over_the_group(e2e: Harness) -> None:
    async with Router({"primaryProvider": "pool"}, pool(e2e), store=None) as router:
        served = await converse(router, 0, 8)
    assert len(set(served)) == 4


async def test_each_attempt_records_whether_it_followed_a_pin(e2e: Harness) -> None:
    async with sticky_router(e2e) as router:
        await converse(router, 0, 3)
    rows = e2e.rows(
        "SELECT a.followed_pin FROM provider_attempts a JOIN provider_requests r "
        "ON r.id = a.request_id ORDER BY r.created_at, a.id"
    )
    assert [row["followed_pin"] for row in rows] == [0, 1, 1]


@pytest.mark.parametrize("key", ["user", "tenant"])
async def test_user_and_tenant_keys_pin_across_conversations(e2e: Harness, key: str) -> None:
    async with sticky_router(e2e, key) as router:
        served = [await converse(router, n, 2, **{key: "someone"}) for n in range(4)]
        others = [await converse(router, n, 1) for n in range(4)]  # no user/tenant: balanced
    assert len({dep for turns in served for dep in turns}) == 1
    assert len({turns[0] for turns in others}) > 1


async def test_a_pinned_deployment_whose_breaker_opens_is_passed_over_and_the_new_pin_holds(
    e2e: Harness,
) -> None:
    async with sticky_router(e2e, circuitBreakerThreshold=1, circuitBreakerTimeout=60_000) as r:
        messages: list[dict[str, Any]] = [system(0), {"role": "user", "content": "Hi?"}]
        first = (await r.execute({"messages": messages})).provider
        # the pinned deployment fails once, asked directly: its breaker opens
        e2e.scenario.add(Rule(provider="openai", request=e2e.count("openai") + 1, status=503))
        probe = {"messages": [{"role": "user", "content": "probe"}], "provider": first}
        with pytest.raises(AllProvidersFailedError):
            await r.execute(probe)
        assert r.breaker_state(first) == "open"
        moved = []
        for turn in range(5):
            messages.append({"role": "assistant", "content": "Hello."})
            messages.append({"role": "user", "content": f"And then {turn}?"})
            moved.append((await r.execute({"messages": messages})).provider)
    assert len(set(moved)) == 1
    assert moved[0] != first
    rows = e2e.rows("SELECT provider, followed_pin FROM provider_attempts ORDER BY id")
    assert [(row["provider"], row["followed_pin"]) for row in rows[-5:]] == [
        (moved[0], 0),  # the pin was passed over (open breaker): the group's balancing chose
        *[(moved[0], 1)] * 4,  # and the new pin holds
    ]


def test_a_fleet_of_two_processes_keeps_a_conversation_on_one_deployment(
    e2e: Harness, redis_url: str
) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}:"
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), redis_url, prefix, e2e.base_url("openai")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        for p in procs:
            assert p.stdout is not None
            assert p.stdout.readline().strip() == "ready"
        served: dict[int, list[str]] = {}
        for n in range(6):  # 6 conversations, their turns alternating between the processes
            messages: list[dict[str, Any]] = [system(n)]
            for turn in range(6):
                messages.append({"role": "user", "content": f"Question {turn}?"})
                p = procs[turn % 2]
                assert p.stdin is not None
                assert p.stdout is not None
                p.stdin.write(json.dumps(messages) + "\n")
                p.stdin.flush()
                served.setdefault(n, []).append(p.stdout.readline().strip())
                messages.append({"role": "assistant", "content": "ok"})
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("\n")
            p.stdin.flush()
            assert p.wait(timeout=60) == 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=30)
            for pipe in (p.stdin, p.stdout):
                if pipe is not None:
                    pipe.close()
    assert all(len(set(turns)) == 1 for turns in served.values()), served
    assert len({turns[0] for turns in served.values()}) > 1


async def test_a_pinned_deployment_cooling_after_a_429_is_passed_over(e2e: Harness) -> None:
    async with sticky_router(e2e, maxRetryWaitMs=1_000) as r:
        messages: list[dict[str, Any]] = [system(1), {"role": "user", "content": "Hi?"}]
        first = (await r.execute({"messages": messages})).provider
        count = e2e.count("openai")
        e2e.scenario.add(Rule(provider="openai", request=count + 1, status=429, retry_after=60))
        probe = {"messages": [{"role": "user", "content": "probe"}], "provider": first}
        with pytest.raises(AllProvidersFailedError):
            await r.execute(probe)  # the pinned deployment now cools for 60 s
        messages += [{"role": "assistant", "content": "Hello."}, {"role": "user", "content": "?"}]
        moved = [(await r.execute({"messages": messages})).provider for _ in range(3)]
    assert len(set(moved)) == 1
    assert moved[0] != first
    assert e2e.count("openai") == count + 1 + 3  # nothing was sent to the cooling one


async def test_in_a_fleet_new_conversations_never_wait_for_redis_and_reach_the_fleet(
    e2e: Harness, redis_url: str
) -> None:
    """Everything on (sticky routing shared by a fleet): 40 new conversations at once read
    nothing from Redis on their way; their pins are claimed in the background, in batches,
    and another process of the fleet follows them from its own copy."""
    from automatosx.shared import SharedState

    prefix = f"t{uuid.uuid4().hex[:8]}:"
    opts = {"primaryProvider": "pool", "stickyRouting": {"key": "prefix"}}
    a = Router(opts, pool(e2e), store=None, shared=SharedState(redis_url, prefix=prefix))
    b = Router(opts, pool(e2e), store=None, shared=SharedState(redis_url, prefix=prefix))
    async with a, b:
        fleet_a = a._extras._shared_map  # type: ignore[union-attr]
        fleet_b = b._extras._shared_map  # type: ignore[union-attr]
        assert fleet_a is not None
        assert fleet_b is not None
        openings = [[system(n), {"role": "user", "content": "Hi?"}] for n in range(40)]
        replies = await asyncio.gather(*(a.execute({"messages": m}) for m in openings))
        assert fleet_a.reads == 0  # openings: nothing to read
        assert fleet_a.round_trips < len(openings)  # the claims went in batches
        await fleet_a._flush()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while len(fleet_b.local) < len(openings):  # the fleet's messages reached b
            assert loop.time() < deadline, len(fleet_b.local)
            await asyncio.sleep(0.01)
        seconds = [
            await b.execute(
                {
                    "messages": [
                        *m,
                        {"role": "assistant", "content": "ok"},
                        {"role": "user", "content": "?"},
                    ]
                }
            )
            for m in openings
        ]
        assert fleet_b.reads == 0  # every pin was in b's own copy
    assert [r.provider for r in seconds] == [r.provider for r in replies]


async def test_streamed_turns_of_a_conversation_go_to_one_deployment(e2e: Harness) -> None:
    async with sticky_router(e2e) as router:
        served = []
        for n in range(4):
            messages: list[dict[str, Any]] = [system(n)]
            turns = []
            for turn in range(3):
                messages.append({"role": "user", "content": f"Question {turn}?"})
                handle = router.stream({"messages": messages, "maxTokens": 20})
                async for _ in handle:
                    pass
                turns.append(handle.response.provider)  # type: ignore[union-attr]
                messages.append({"role": "assistant", "content": "ok"})
            served.append(turns)
    assert all(len(set(turns)) == 1 for turns in served), served
    assert len({turns[0] for turns in served}) > 1
