"""The response cache's cost on ``execute`` (memory cache, no store), over the in-process stub.

* a **miss**: distinct requests (each misses, is sent, and its reply is stored) through a
  router with ``cache="memory"``, against the same requests through a router without a cache,
  batches interleaved; the figure is p50(with) - p50(without). Budget: <= 3 us.
* a **hit**: the whole ``execute`` call for a request whose reply is stored. Budget: <= 15 us.

Requests are validated ``ProviderRequest`` objects built before timing (so both sides skip
the same validation), each carrying ``cache: {}``. Run by ``make bench``:
``python benches/bench_cache.py``.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from _budget import Result, summary
from _stub import PROMPT, StubProvider, percentile, time_calls
from automatosx import Router
from automatosx.schemas import ProviderRequest


def requests(n: int, tag: str) -> list[ProviderRequest]:
    base: dict[str, Any] = {**PROMPT, "cache": {}}
    out = []
    for i in range(n):
        msgs = [dict(m) for m in base["messages"]]
        msgs[-1]["content"] = f"{msgs[-1]['content']} ({tag} {i})"
        out.append(ProviderRequest.model_validate({**base, "messages": msgs}))
    return out


def _each(router: Router, reqs: list[ProviderRequest]) -> Callable[[], Awaitable[Any]]:
    """A call that executes the next request of ``reqs`` each time."""
    it = iter(reqs)
    return lambda: router.execute(next(it))


async def measure(batch: int, rounds: int) -> tuple[float, float, float]:
    """(miss overhead p50, hit p50, no-cache p50) in us."""
    plain = Router({"primaryProvider": "claude"}, providers=[StubProvider()])
    cached = Router(
        {"primaryProvider": "claude", "cache": {"maxEntries": 1_000_000, "maxBytes": 2**34}},
        providers=[StubProvider()],
        cache="memory",
    )
    without: list[int] = []
    missed: list[int] = []
    hit: list[int] = []
    async with plain, cached:
        warm = requests(batch, "warm")
        for req in warm:
            await cached.execute(req)
            await plain.execute(req)
        for r in range(rounds):
            fresh = requests(batch, f"round {r}")
            await time_calls(_each(plain, fresh), batch, without)
            await time_calls(_each(cached, fresh), batch, missed)
            await time_calls(_each(cached, warm), batch, hit)
        probe = await cached.execute(warm[0])
        assert probe.cached, "the hit path did not hit"
    base = percentile(without, 50)
    return (percentile(missed, 50) - base) / 1000, percentile(hit, 50) / 1000, base / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    miss, hit, base = asyncio.run(measure(args.batch, args.rounds))
    print(f"execute without a cache: p50 {base:.2f} us ({args.batch * args.rounds} calls each)")
    rows = [
        Result("response cache: a miss adds (memory, execute, p50)", miss, 3.0, "us"),
        Result("response cache: a hit is served in (memory, execute, p50)", hit, 15.0, "us"),
    ]
    for line in summary(rows):
        print(line)


if __name__ == "__main__":
    main()
