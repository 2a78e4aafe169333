"""The response cache's cost on ``execute`` (memory cache, no store), over the in-process stub.

* a **miss**: distinct requests (each misses, is sent, and its reply is stored) through a
  router with ``cache="memory"``, against equal requests through the same router without a
  cache, the two calls alternated one by one (so both see the same moment of a shared,
  noisy machine); the figure is p50(with) - p50(without). Budget: <= 3 us.
* a **hit**: the whole ``execute`` call for a request whose reply is stored, alternated with
  the misses. Budget: <= 15 us.

Requests are validated ``ProviderRequest`` objects built before timing (so both sides skip
the same validation), each carrying ``cache: {}``; each router gets its own objects. Run by
``make bench``: ``python benches/bench_cache.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from _budget import Result, summary
from _stub import PROMPT, StubProvider, percentile
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


async def measure(batch: int, rounds: int) -> tuple[float, float, float]:
    """(miss overhead p50, hit p50, no-cache p50) in us."""
    plain = Router({"primaryProvider": "claude"}, providers=[StubProvider()])
    cached = Router(
        {"primaryProvider": "claude", "cache": {"maxEntries": 1_000_000, "maxBytes": 2**34}},
        providers=[StubProvider()],
        cache="memory",
    )
    clock = time.perf_counter_ns
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
            same = requests(batch, f"round {r}")  # equal requests, objects of their own
            for a, b, w in zip(fresh, same, warm, strict=True):
                t0 = clock()
                await plain.execute(a)
                t1 = clock()
                await cached.execute(b)
                t2 = clock()
                await cached.execute(w)
                t3 = clock()
                without.append(t1 - t0)
                missed.append(t2 - t1)
                hit.append(t3 - t2)
        probe = await cached.execute(warm[0])
        assert probe.cached, "the hit path did not hit"
        assert not (await cached.execute(requests(1, "probe")[0])).cached
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
