"""One process of the sticky fleet test: a router over a group of 4 deployments with sticky
routing shared through Redis.

Run as ``python _sticky_worker.py <redis_url> <prefix> <openai_base_url>``. It opens its
router, prints ``ready``, then for each line of JSON messages on stdin sends one request and
prints the deployment that answered; an empty line ends it.
"""

from __future__ import annotations

import asyncio
import json
import sys

from automatosx import Router
from automatosx.schemas import ProviderConfig
from automatosx.shared import SharedState


def config(dep_id: str, base_url: str) -> ProviderConfig:
    return ProviderConfig.model_validate(
        {
            "name": "openai",
            "id": dep_id,
            "group": "pool",
            "api_key": f"sk-test-sticky-{dep_id}-0123456789",
            "base_url": base_url,
            "timeout": 30_000,
            "max_retries": 0,
            "rate_limits": {"requests_per_minute": 1_000_000},
            "models": ["gpt-4o-mini"],
            "default_model": "gpt-4o-mini",
        }
    )


async def main(url: str, prefix: str, base_url: str) -> None:
    options = {"primaryProvider": "pool", "stickyRouting": {"key": "prefix"}}
    providers = [config(f"d{i}", base_url) for i in range(4)]
    shared = SharedState(url, prefix=prefix)
    async with Router(options, providers, store=None, shared=shared) as router:
        print("ready", flush=True)
        while True:
            line = (await asyncio.to_thread(sys.stdin.readline)).strip()
            if not line:
                break
            reply = await router.execute({"messages": json.loads(line)})
            print(reply.provider, flush=True)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
