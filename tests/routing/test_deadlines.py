"""Every attempt's deadline is an entry of the router's one ``Deadlines`` timer: each still
fires at its own time (a shorter one armed later re-sets the timer), a disarmed one never
fires, and a request's short ``timeoutMs`` expires while a longer one is still waiting."""

from __future__ import annotations

import asyncio

import pytest
from tests.router.conftest import REQUEST, ScriptedProvider

from automatosx import Router
from automatosx._routing.deadlines import EXPIRED, FIRED, Deadlines, Entry
from automatosx.errors import AllProvidersFailedError, ProviderTimeoutError


async def _wait_for_cancel(
    deadlines: Deadlines, seconds: float, armed: asyncio.Event, out: dict[float, float]
) -> Entry:
    task = asyncio.current_task()
    assert task is not None
    loop = task.get_loop()
    entry = deadlines.arm(task, seconds, None)
    began = loop.time()
    armed.set()
    with pytest.raises(asyncio.CancelledError, match=EXPIRED):
        await asyncio.Event().wait()  # never set: only the deadline ends this
    out[seconds] = loop.time() - began
    return entry


async def test_a_shorter_deadline_armed_later_fires_first_and_each_fires_after_its_time() -> None:
    deadlines = Deadlines()
    elapsed: dict[float, float] = {}
    tasks = {}
    for seconds in (0.4, 0.05, 0.2, 0.1):  # the timer is set for 0.4 first, then re-set
        armed = asyncio.Event()
        tasks[seconds] = asyncio.create_task(_wait_for_cancel(deadlines, seconds, armed, elapsed))
        await armed.wait()
    done = []
    for task in asyncio.as_completed(list(tasks.values())):
        entry = await task
        assert entry[FIRED]
        done.append(entry[2])
    assert done == [0.05, 0.1, 0.2, 0.4]
    for seconds, took in elapsed.items():
        assert took >= seconds - 1e-3  # never early (the loop's own timer precision)
    assert deadlines.buckets == {}


async def test_a_disarmed_deadline_never_fires_and_leaves_nothing_behind() -> None:
    deadlines = Deadlines()
    task = asyncio.current_task()
    assert task is not None
    quiet = [deadlines.arm(task, 0.05, None) for _ in range(100)]
    for entry in quiet:
        deadlines.disarm(entry)
    assert deadlines.buckets == {}
    elapsed: dict[float, float] = {}
    armed = asyncio.Event()
    entry = await asyncio.create_task(_wait_for_cancel(deadlines, 0.1, armed, elapsed))
    assert entry[FIRED]
    assert elapsed[0.1] >= 0.1 - 1e-3
    assert not any(e[FIRED] for e in quiet)  # this task was never cancelled by them
    deadlines.disarm(entry)  # after it fired: nothing to do
    assert deadlines.buckets == {}


async def test_a_thousand_attempts_in_flight_expire_exactly_those_not_disarmed() -> None:
    deadlines = Deadlines()
    gate = asyncio.Event()
    cancelled: list[int] = []

    async def one(i: int) -> None:
        task = asyncio.current_task()
        assert task is not None
        entry = deadlines.arm(task, (0.05, 0.08, 0.12)[i % 3], None)
        try:
            if i % 2:
                await gate.wait()  # answered before its deadline
                deadlines.disarm(entry)
            else:
                await asyncio.Event().wait()
        except asyncio.CancelledError:
            assert entry[FIRED]
            cancelled.append(i)

    tasks = [asyncio.create_task(one(i)) for i in range(1000)]
    await asyncio.sleep(0)
    gate.set()
    await asyncio.gather(*tasks)
    assert sorted(cancelled) == list(range(0, 1000, 2))
    assert deadlines.buckets == {}


def test_deadlines_follow_the_router_to_a_new_event_loop() -> None:
    deadlines = Deadlines()
    elapsed: dict[float, float] = {}

    async def main() -> Entry:
        return await _wait_for_cancel(deadlines, 0.05, asyncio.Event(), elapsed)

    for _ in range(2):  # each asyncio.run is a new loop; the second arms there afresh
        elapsed.clear()
        entry = asyncio.run(main())
        assert entry[FIRED]
        assert elapsed[0.05] >= 0.05 - 1e-3


async def test_a_short_request_timeout_expires_while_a_longer_one_still_waits() -> None:
    hang = asyncio.Event()
    sent = asyncio.Event()

    async def silent() -> None:
        sent.set()
        await hang.wait()

    provider = ScriptedProvider("claude", [silent, silent])
    async with Router(
        {"primaryProvider": "claude", "fallbackProviders": []}, providers=[provider]
    ) as router:
        slow = asyncio.create_task(router.execute({**REQUEST, "timeoutMs": 60_000}))
        await sent.wait()  # the long deadline is armed first
        with pytest.raises(AllProvidersFailedError) as failed:
            await router.execute({**REQUEST, "timeoutMs": 100})
        error = failed.value.attempts[-1].error
        assert isinstance(error, ProviderTimeoutError)
        assert "within 0.1s" in str(error)
        assert not slow.done()  # its own deadline is a minute away
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
