"""One process of the shared-cache test: a router with a Redis response cache, over the
real OpenAI SDK to the emulator. Run as ``python _cache_worker.py <redis_url> <openai_base_url>
<question>``; prints one JSON line: whether the reply was cached, its content and cost."""

from __future__ import annotations

import asyncio
import json
import sys

from automatosx import Router
from automatosx.cache import RedisCache


async def main(redis_url: str, base_url: str, question: str, prefix: str) -> None:
    config = {
        "name": "openai",
        "apiKey": "sk-test-cache-0123456789abcdef",
        "baseUrl": base_url,
        "maxRetries": 0,
        "rateLimits": {"requestsPerMinute": 1_000_000},
        "models": ["gpt-4o-mini"],
        "defaultModel": "gpt-4o-mini",
    }
    cache = RedisCache(redis_url, prefix=prefix)
    async with Router({"primaryProvider": "openai"}, [config], cache=cache) as router:
        reply = await router.execute(
            {"messages": [{"role": "user", "content": question}], "cache": {}}
        )
    out = {"cached": reply.cached, "content": reply.content, "cost": reply.cost}
    print(json.dumps({**out, "saved": reply.saved_cost}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
