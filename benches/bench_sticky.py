"""Prompt-cache-aware routing, measured: the share of the cacheable input billed as cache reads,
and the total cost, with ``stickyRouting`` and with weighted balancing alone, in one run.

A group of 4 deployments of the ``openai`` kind (each its own API key, so the emulator keeps a
prompt cache per deployment, like the service: automatic caching past 1,024 tokens), 50
conversations of 10 turns run concurrently (turns in order within each), each conversation
with its own ~2,000-token system prompt. The emulator is in-process (ASGI transport), spoken
to by the real OpenAI SDK.

*Cacheable input* of a turn is what a deployment could have seen before: the whole prompt of
the conversation's previous turn (0 for a first turn). *Read from cache* is the usage's
``cachedInputTokens``. Goal (issue 21): >= 90% with sticky routing, cost lower accordingly.
Run by ``make bench``: ``python benches/bench_sticky.py``; the same scenario is a test
(``tests/cache/test_sticky_savings.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import random
from dataclasses import dataclass, field
from typing import Any

import httpx2

from _budget import Result, summary
from automatosx import Router
from automatosx.emulator import Scenario, create_app

MODEL = "gpt-4o-mini"
WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "zeta",
    "eta",
    "theta",
    "iota",
    "kappa",
    "lambda",
    "mu",
    "nu",
    "xi",
]


@dataclass
class Tally:
    requests: int = 0
    cacheable: int = 0
    cached: int = 0
    cost: float = 0.0
    input_tokens: int = 0
    same_as_previous: int = 0
    served: dict[str, int] = field(default_factory=dict)

    @property
    def share(self) -> float:
        return self.cached / self.cacheable if self.cacheable else 0.0


def config(dep_id: str, key: str) -> dict[str, Any]:
    return {
        "name": "openai",
        "id": dep_id,
        "group": "pool",
        "apiKey": key,
        "baseUrl": "http://emulator.local/v1",
        "rateLimits": {"requestsPerMinute": 1_000_000},
        "models": [MODEL],
        "defaultModel": MODEL,
    }


def system_prompt(conversation: int, tokens: int = 2_000) -> str:
    """About ``tokens`` tokens (the emulator counts 4 characters a token), unique."""
    rng = random.Random(conversation)
    words = [f"Conversation {conversation}."]
    while sum(len(w) + 1 for w in words) < tokens * 4:
        words.append(rng.choice(WORDS))
    return " ".join(words)


async def conversation(router: Router, n: int, turns: int, tally: Tally) -> None:
    messages: list[dict[str, Any]] = [{"role": "system", "content": system_prompt(n)}]
    previous_input = 0
    previous_dep = None
    for turn in range(turns):
        messages.append({"role": "user", "content": f"Question {turn} of conversation {n}?"})
        reply = await router.execute({"messages": messages, "maxTokens": 40})
        usage = reply.tokens
        tally.requests += 1
        tally.cacheable += previous_input
        tally.cached += usage.cached_input_tokens or 0
        tally.input_tokens += usage.input_tokens
        tally.cost += reply.cost or 0.0
        tally.served[reply.provider] = tally.served.get(reply.provider, 0) + 1
        tally.same_as_previous += reply.provider == previous_dep
        previous_input, previous_dep = usage.input_tokens, reply.provider
        messages.append({"role": "assistant", "content": reply.content})


async def run(sticky: bool, conversations: int, turns: int, deployments: int = 4) -> Tally:
    app = create_app(Scenario())
    label = "sticky" if sticky else "weighted"
    providers = [config(f"d{i}", f"sk-bench-{label}-{i}-0123456789") for i in range(deployments)]
    options: dict[str, Any] = {"primaryProvider": "pool", "loadBalancing": "weighted"}
    if sticky:
        options["stickyRouting"] = {"key": "prefix"}
    tally = Tally()
    client = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app))
    async with client, Router(options, providers, http_client=client) as router:
        await asyncio.gather(*(conversation(router, n, turns, tally) for n in range(conversations)))
    return tally


async def both(conversations: int, turns: int) -> tuple[Tally, Tally]:
    return await run(True, conversations, turns), await run(False, conversations, turns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--conversations", type=int, default=50)
    parser.add_argument("--turns", type=int, default=10)
    args = parser.parse_args()
    sticky, weighted = asyncio.run(both(args.conversations, args.turns))
    for name, t in (("sticky", sticky), ("weighted alone", weighted)):
        print(
            f"{name:>15}: {t.share:6.1%} of {t.cacheable:,} cacheable input tokens read from "
            f"cache; cost ${t.cost:.4f}; a turn on the previous turn's deployment "
            f"{t.same_as_previous / max(1, t.requests - args.conversations):.0%}; "
            f"served {dict(sorted(t.served.items()))}"
        )
    saved = 1 - sticky.cost / weighted.cost if weighted.cost else 0.0
    print(f"sticky routing costs {saved:.1%} less than weighted balancing alone")
    # the goal (>= 90% read from cache) as an upper bound, the form budgets take
    missed = 100 * (1 - sticky.share)
    goal = Result("sticky routing: cacheable input not read from cache", missed, 10.0, "%")
    for line in summary([goal]):
        print(line)


if __name__ == "__main__":
    main()
