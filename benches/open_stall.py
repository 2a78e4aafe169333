"""Opening a router must not stall the event loop: ``Router.open()`` imports the SDKs, builds
their clients and resolves prices in a worker thread.

Each run is a fresh interpreter (cold imports, as a service's first open): a ticker task wakes
every millisecond and keeps the longest gap between its wake-ups while ``open()`` runs with
the three SDK providers configured. Printed beside it: the open's wall time, and the SDKs' own
import time in a fresh interpreter. Run by ``make bench``: ``python benches/open_stall.py``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

from _budget import Result, summary

STALL_BUDGET_MS = 20.0

CHILD = r"""
import asyncio, json, time
from automatosx import Router

KEYS = {"claude": "sk-ant-bench-0123456789", "openai": "sk-bench-0123456789abcdefgh",
        "gemini": "AIzaBench0123456789abcdefghij"}
MODELS = {"claude": "claude-sonnet-4-6", "openai": "gpt-4o-mini", "gemini": "gemini-2.5-flash"}

async def main():
    providers = [{"name": n, "apiKey": KEYS[n], "rateLimits": {"requestsPerMinute": 60},
                  "models": [MODELS[n]], "defaultModel": MODELS[n]} for n in KEYS]
    router = Router({"primaryProvider": "claude", "fallbackProviders": ["openai", "gemini"]},
                    providers)
    longest = 0.0
    done = False
    async def tick():
        nonlocal longest
        last = time.perf_counter()
        while not done:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            longest = max(longest, now - last)
            last = now
    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0.01)
    started = time.perf_counter()
    await router.open()
    opened = time.perf_counter() - started
    done = True
    await ticker
    await router.aclose()
    print(json.dumps({"open_ms": opened * 1000, "stall_ms": longest * 1000}))

asyncio.run(main())
"""

IMPORTS = (
    "import time; t=time.perf_counter(); import anthropic, openai, google.genai; "
    "print((time.perf_counter()-t)*1000)"
)


def run(code: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=5, help="fresh interpreters per figure (5)")
    n = parser.parse_args().n
    opens, stalls, imports = [], [], []
    for _ in range(n):
        figures = json.loads(run(CHILD).splitlines()[-1])
        opens.append(figures["open_ms"])
        stalls.append(figures["stall_ms"])
        imports.append(float(run(IMPORTS).splitlines()[-1]))
    results = [
        Result("Router.open(): longest event-loop stall (median)", statistics.median(stalls),
               STALL_BUDGET_MS, "ms"),
        Result("Router.open() with the three SDKs: wall time (median)", statistics.median(opens),
               None, "ms"),
        Result("import anthropic, openai, google.genai: wall time (median)",
               statistics.median(imports), None, "ms"),
    ]  # fmt: skip
    print(f"\nopen_stall.py: {n} fresh interpreters each; worst stall {max(stalls):.1f} ms")
    for line in summary(results):
        print(line)


if __name__ == "__main__":
    main()
