"""One process of the fleet test: a router sharing its limits through Redis, saturating them.

Run as ``python _fleet_worker.py <redis_url> <prefix> <openai_base_url> <rpm> <concurrency>``.
It opens its router, prints ``ready``, reads ``<start> <stop>`` (wall-clock seconds) from
stdin, keeps ``concurrency`` requests in flight from start to stop, and prints one JSON line:
the wall-clock time each request was answered, and the errors.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from automatosx import Router
from automatosx.schemas import ProviderConfig
from automatosx.shared import SharedState


async def main(url: str, prefix: str, base_url: str, rpm: int, concurrency: int) -> None:
    config = ProviderConfig.model_validate(
        {
            "name": "openai",
            "api_key": "sk-test-shared-0123456789abcdef",
            "base_url": base_url,
            "timeout": 10_000,
            "max_retries": 0,
            "rate_limits": {"requests_per_minute": rpm},
            "models": ["gpt-4o-mini"],
            "default_model": "gpt-4o-mini",
        }
    )
    options = {"primaryProvider": "openai", "fallbackProviders": [], "maxRetryWaitMs": 10_000}
    request = {"messages": [{"role": "user", "content": "Hello"}], "maxTokens": 8}
    answered: list[float] = []
    errors: list[str] = []
    async with Router(options, [config], store=None, shared=SharedState(url, prefix=prefix)) as r:
        await r.execute(request)  # warm the SDK's connection before the clock starts
        print("ready", flush=True)
        start, stop = map(float, (await asyncio.to_thread(sys.stdin.readline)).split())
        await asyncio.sleep(max(0.0, start - time.time()))

        async def keep_sending() -> None:
            while time.time() < stop:
                try:
                    await r.execute(request)
                    answered.append(time.time())
                except Exception as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")

        await asyncio.gather(*(keep_sending() for _ in range(concurrency)))
    print(json.dumps({"answered": answered, "errors": errors}), flush=True)


if __name__ == "__main__":
    url, prefix, base_url, rpm, concurrency = sys.argv[1:6]
    asyncio.run(main(url, prefix, base_url, int(rpm), int(concurrency)))
