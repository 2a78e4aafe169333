"""``automatosx demo``: the whole router, offline, on the emulator and a SQLite file.

Claude is primary, Gemini and OpenAI are fallbacks. The emulator injects periodic 429s with
retry-after on Claude, 503s on Gemini, a little random trouble everywhere (500s, 503s,
dropped connections), latency, and a Claude outage of about 1.5 s in the middle of the run:
its breaker opens, the traffic falls back, a half-open probe finds it healthy again and the
breaker closes.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from automatosx._chat import StreamView
from automatosx.emulator import EmulatorServer, Rule, Scenario
from automatosx.router import Router
from automatosx.schemas import ProviderConfig, ProviderName, RouterOptions

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["demo_configs", "demo_options", "demo_scenario", "emulator_configs", "run_demo"]

_PROVIDERS: tuple[ProviderName, ...] = ("claude", "gemini", "openai")
_MODELS = {"claude": "claude-sonnet-4-6", "gemini": "gemini-2.5-flash", "openai": "gpt-4o-mini"}
_QUESTIONS = [
    "What is a circuit breaker?",
    "Explain retry with full jitter.",
    "Why record every request?",
    "What does a rate limiter protect?",
    "Name three failure modes of an API.",
]


_OUTAGE = Rule(provider="claude", status=500, message="Internal server error (demo outage)")


def demo_scenario(seed: int = 7) -> Scenario:
    """The demo's standing faults: rate limits, Gemini 503s, random trouble, latency."""
    scenario = Scenario.random(fault_rate=0.03, seed=seed, kinds=("500", "503", "drop"))
    return scenario.add(
        Rule(provider="claude", every=23, status=429, retry_after_ms=150),
        Rule(provider="gemini", every=11, status=503),
        Rule(provider="*", latency=0.03, chunk_latency=0.04),
    )


async def _outage(scenario: Scenario, start_s: float, length_s: float) -> None:
    """Claude answers 500 to everything from ``start_s`` for ``length_s`` seconds."""
    await asyncio.sleep(start_s)
    scenario.add(_OUTAGE)
    await asyncio.sleep(length_s)
    scenario.remove(_OUTAGE)


def _base_url(server: EmulatorServer, name: str) -> str:
    from automatosx.providers._registry import provider_kind

    url: str = getattr(server, f"{provider_kind(name).wire}_base_url")
    return url


def emulator_configs(server: EmulatorServer) -> list[ProviderConfig]:
    """Claude, Gemini and OpenAI pointed at ``server`` with fake keys and default models:
    what ``chat --emulator`` and ``health --emulator`` route to, in the environment's order."""
    return [
        ProviderConfig.model_validate(
            {
                "name": name,
                "apiKey": f"emulated-{name}-key",
                "baseUrl": _base_url(server, name),
                "rateLimits": {"requestsPerMinute": 6_000},
                "models": [_MODELS[name]],
                "defaultModel": _MODELS[name],
            }
        )
        for name in ("claude", "openai", "gemini")
    ]


def demo_configs(server: EmulatorServer) -> list[ProviderConfig]:
    def base_url(name: str) -> str:
        return _base_url(server, name)

    return [
        ProviderConfig.model_validate(
            {
                "name": name,
                "apiKey": f"demo-{name}-key",
                "baseUrl": base_url(name),
                "timeout": 5_000,
                "maxRetries": 0 if name == "gemini" else 2,  # a Gemini 503 shows OpenAI
                "rateLimits": {"requestsPerMinute": 6_000, "tokensPerMinute": 2_000_000},
                "models": [_MODELS[name]],
                "defaultModel": _MODELS[name],
            }
        )
        for name in _PROVIDERS
    ]


def demo_options() -> RouterOptions:
    return RouterOptions(
        primary_provider="claude",
        fallback_providers=["gemini", "openai"],
        circuit_breaker_threshold=5,
        circuit_breaker_timeout=1_000,
        backoff_base_ms=20,
        backoff_cap_ms=200,
        max_retry_wait_ms=1_000,
    )


async def _stream_one(router: Router, out: Console) -> None:
    out.rule("[bold]1. one streamed answer[/]")
    stream = router.stream(
        {"messages": [{"role": "user", "content": "Stream a short answer about fallbacks."}]}
    )
    view = StreamView(out.file, sys.stderr)  # a restart mid-reply is erased or marked
    async with stream:
        async for chunk in stream:
            view.write(chunk)
    view.end()
    if stream.response is not None:
        r = stream.response
        out.print(
            f"[dim]  served by {r.provider}/{r.model}, {r.tokens.total_tokens} tokens, "
            f"{r.duration} ms[/]"
        )


async def _watch_breakers(router: Router, out: Console, stop: asyncio.Event) -> None:
    states = {name: router.breaker_state(name) for name in _PROVIDERS}
    start = time.perf_counter()
    while not stop.is_set():
        for name in _PROVIDERS:
            state = router.breaker_state(name)
            if state != states[name]:
                out.print(
                    f"  [{time.perf_counter() - start:5.2f}s] {name} breaker: "
                    f"{states[name]} -> [bold]{state}[/]"
                )
                states[name] = state
        await asyncio.sleep(0.01)


async def _route_many(router: Router, out: Console, requests: int, concurrency: int) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    out.rule(f"[bold]2. {requests} requests, claude -> gemini -> openai, with faults[/]")
    gate = asyncio.Semaphore(concurrency)
    failures = 0
    stop = asyncio.Event()
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=out,
    ) as progress:
        task = progress.add_task("routing", total=requests)
        watcher = asyncio.create_task(_watch_breakers(router, progress.console, stop))

        async def one(i: int) -> None:
            nonlocal failures
            async with gate:
                question = _QUESTIONS[i % len(_QUESTIONS)]
                try:
                    await router.execute({"messages": [{"role": "user", "content": question}]})
                except Exception:
                    failures += 1
                progress.advance(task)
                await asyncio.sleep(0.04)  # pace the load so the breaker's timeline is visible

        await asyncio.gather(*(one(i) for i in range(requests)))
        # Keep a trickle going until Claude's breaker has recovered, so its close is shown.
        deadline = time.perf_counter() + 5
        while router.breaker_state("claude") != "closed" and time.perf_counter() < deadline:
            progress.update(task, total=(progress.tasks[0].total or 0) + 1)
            await one(requests)
        stop.set()
        await watcher
    return failures


async def run_demo(
    *, requests: int = 300, concurrency: int = 8, db: str | None = None, seed: int = 7
) -> int:

    from automatosx._report import console, print_fitted, provider_table, read_report
    from automatosx.store import open_store

    out = console()
    db_path = Path(db) if db else Path(tempfile.mkdtemp(prefix="automatosx-demo-")) / "demo.db"
    scenario = demo_scenario(seed)
    async with EmulatorServer(scenario) as server:
        out.print(f"emulator on {server.base_url}; recording to {db_path}")
        async with Router(
            demo_options(), demo_configs(server), store=f"sqlite:///{db_path}"
        ) as router:
            await _stream_one(router, out)
            outage = asyncio.create_task(_outage(scenario, start_s=0.8, length_s=1.5))
            failures = await _route_many(router, out, requests, concurrency)
            await outage
    out.rule("[bold]3. from the database[/]")
    async with open_store(f"sqlite:///{db_path}") as store:
        report = await read_report(store)
    title = f"per provider ({db_path})"
    print_fitted(out, report, lambda width: provider_table(report, title=title, width=width))
    out.print(
        f"{failures} request(s) failed on every provider; "
        f"inspect with: automatosx stats --db {db_path}",
        soft_wrap=True,
    )
    return 0
