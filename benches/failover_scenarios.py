"""The 16 scenarios of the public failoverbench methodology (v0.1), run through the router.

failoverbench (github.com/failoverbench/failoverbench, ``scenarios/catalogue.yaml``) puts a
misbehaving OpenAI-compatible provider behind a system and scores how the caller fares:
**pass** (the complete answer, conduct clean), **partial** (rescued, an advisory check
failed), **safe** (not rescued, but a bounded clean error), **fail** (a hang, a truncated
answer presented as success, or a required check failed). This script re-implements that
scoring for automatosx (no code taken from it): the primary is the emulator's OpenAI wire
with the scenario's fault, the fallback its healthy Anthropic wire; every call streams.

Two faults the emulator has no kind for are made here, outside it: S05's connection reset
before any byte (a TCP forwarder that resets the first connection) and S11's stream without
``data: [DONE]`` (an ASGI middleware that drops the sentinel). The same middleware is the
"wall": it logs when each generation request arrived and whether it carried a prefill.

Times are the catalogue's where it gives the fault (20 s late first token, Retry-After 2 s,
silence until the client leaves) and the router is configured as a user would: provider
timeout 5 s, ``firstTokenTimeoutMs``/``streamIdleTimeoutMs`` 2 s. S15 (flapping primary) runs
scaled down: down 4 s, ten requests 0.8 s apart. Run: ``python benches/failover_scenarios.py``
(about a minute); exit status 1 when any scenario is not rescued (``safe`` included);
``tests/e2e/test_failover_scenarios.py`` runs it in the suite. One file over the usual length on
purpose: the wall, the catalogue and its scoring are read together, as the methodology is.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from automatosx import ProviderResponse, Router
from automatosx.emulator import EmulatorServer, Rule, Scenario, create_app
from automatosx.schemas import ProviderConfig

PROMPT = (
    "Explain in exactly sixty words why a gateway earns trust only when the provider "
    "behind it misbehaves."
)
PRIMARY, FALLBACK = "openai", "claude"
MODELS = {"openai": "gpt-4o-mini", "claude": "claude-sonnet-4-6"}
KEY = "sk-bench-failover-0123456789abcdef"
OPTIONS: dict[str, Any] = {
    "primaryProvider": PRIMARY,
    "fallbackProviders": [FALLBACK],
    "firstTokenTimeoutMs": 2_000,
    "streamIdleTimeoutMs": 2_000,
    "maxRetryWaitMs": 5_000,
}
GENERATION = ("/chat/completions", "/messages")


# -- the wall: what the misbehaving provider saw ---------------------------------------------


@dataclass
class Wall:
    """Arrivals per provider (monotonic seconds), prefills seen, and the S11 switch."""

    arrivals: dict[str, list[float]] = field(default_factory=lambda: {PRIMARY: [], FALLBACK: []})
    prefills: int = 0
    strip_done: bool = False

    def reset(self) -> None:
        self.arrivals = {PRIMARY: [], FALLBACK: []}
        self.prefills = 0
        self.strip_done = False


class WallMiddleware:
    """Pure ASGI: logs generation requests; drops ``data: [DONE]`` while ``strip_done``."""

    def __init__(self, app: Any, wall: Wall) -> None:
        self.app = app
        self.wall = wall

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.endswith(GENERATION):
            await self.app(scope, receive, send)
            return
        wall = self.wall
        provider = PRIMARY if path.endswith("/chat/completions") else FALLBACK
        wall.arrivals[provider].append(time.monotonic())
        body = bytearray()

        async def reading() -> Any:
            message = await receive()
            if message["type"] == "http.request":
                body.extend(message.get("body", b""))
                if not message.get("more_body") and _ends_with_assistant(bytes(body)):
                    wall.prefills += 1
            return message

        async def sending(message: Any) -> None:
            if wall.strip_done and message["type"] == "http.response.body":
                message = {
                    **message,
                    "body": message.get("body", b"").replace(b"data: [DONE]\n\n", b""),
                }
            await send(message)

        await self.app(scope, reading, sending)


def _ends_with_assistant(body: bytes) -> bool:
    try:
        messages = json.loads(body).get("messages") or []
    except (ValueError, AttributeError):
        return False
    return bool(messages) and messages[-1].get("role") == "assistant"


class ResettingForwarder:
    """A loopback TCP forwarder to the emulator that resets its first ``resets`` connections
    before any byte (SO_LINGER 0: an RST, as a load balancer restarting does)."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.resets = 0
        self.reset_times: list[float] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            if self.resets > 0:
                self.resets -= 1
                self.reset_times.append(time.monotonic())
                conn.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                )
                conn.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target))
            for a, b in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=_pipe, args=(a, b), daemon=True).start()


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


# -- scenarios ------------------------------------------------------------------------------


@dataclass
class Run:
    """What one call (or one sequence) produced, as the checks read it."""

    outcome: str  # "success" | "error" | "hang"
    elapsed: float
    primary: list[float]
    fallback: list[float]
    response: ProviderResponse | None = None
    text: str = ""
    error: BaseException | None = None
    prefills: int = 0
    alive_after: bool | None = None
    sequence: dict[str, Any] = field(default_factory=dict)


Check = tuple[str, Callable[[Run], bool], str]  # (id, predicate, "required" | "advisory")


@dataclass
class Case:
    id: str
    title: str
    rules: list[Rule] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    max_wall_s: float = 45
    ideal: str = "success"
    strip_done: bool = False
    resets: int = 0
    alive_after: bool = False
    sequence: bool = False


def primary_between(lo: int | None = None, hi: int | None = None) -> Callable[[Run], bool]:
    return lambda r: (lo is None or len(r.primary) >= lo) and (hi is None or len(r.primary) <= hi)


def gap_at_least(seconds: float) -> Callable[[Run], bool]:
    return lambda r: len(r.primary) >= 2 and r.primary[1] - r.primary[0] >= seconds


def within(window: float, most: int) -> Callable[[Run], bool]:
    return lambda r: not r.primary or sum(t - r.primary[0] <= window for t in r.primary) <= most


def wall_max(seconds: float) -> Callable[[Run], bool]:
    return lambda r: r.elapsed <= seconds


def ok(name: str) -> Callable[[Run], bool]:
    return {
        "alive_after": lambda r: bool(r.alive_after),
        "fallback_used": lambda r: bool(r.fallback),
        "fallback_model": lambda r: r.response is not None and r.response.model == MODELS[FALLBACK],
        "usage": lambda r: r.response is not None and r.response.tokens.total_tokens > 0,
        "no_prefill_masking": lambda r: not (r.outcome == "error" and r.prefills),
    }[name]


P = Rule  # the primary's rules all name the OpenAI wire


def cases() -> list[Case]:
    adv, req = "advisory", "required"
    return [
        Case(
            "S01",
            "429 with Retry-After",
            [P(provider=PRIMARY, request=1, status=429, retry_after=2)],
            [
                ("retried", primary_between(2), adv),
                ("retry_after_honoured", gap_at_least(1.8), adv),
                ("no_hammer", within(1.5, 2), req),
            ],
            20,
        ),
        Case(
            "S02",
            "429 without Retry-After, persistent",
            [P(provider=PRIMARY, status=429)],
            [("no_hammer", within(3, 4), req), ("bounded_attempts", primary_between(None, 6), req)],
            40,
        ),
        Case(
            "S03",
            "500 once, then healthy",
            [P(provider=PRIMARY, request=1, status=500)],
            [("same_provider_retry", primary_between(2), adv)],
            20,
        ),
        Case(
            "S04",
            "503 persistent",
            [P(provider=PRIMARY, status=503)],
            [("bounded_attempts", primary_between(None, 6), req)],
            40,
        ),
        Case("S05", "TCP reset before headers", [], [], 20, resets=1),
        Case(
            "S06",
            "No response at all",
            [P(provider=PRIMARY, silence=True)],
            [
                ("within_budget", wall_max(100), req),
                ("silent_route_not_retried", primary_between(None, 1), adv),
            ],
            130,
        ),
        Case(
            "S07",
            "Slow first token (20 s)",
            [P(provider=PRIMARY, late_first_token_ms=20_000)],
            [("ttft_limit", wall_max(15), adv)],
            60,
        ),
        Case("S08", "Stream cut mid-answer", [P(provider=PRIMARY, cut_after=5)], [], 40),
        Case(
            "S09",
            "Stream stalls",
            [P(provider=PRIMARY, stall_after=5)],
            [("bounded", wall_max(45), req), ("alive_after", ok("alive_after"), req)],
            70,
            alive_after=True,
        ),
        Case(
            "S10",
            "Malformed chunk in the stream",
            [P(provider=PRIMARY, malformed_event="not_json", malformed_after=9)],
            [
                ("alive_after", ok("alive_after"), req),
                (
                    "recovered_in_place",
                    lambda r: r.response is not None and r.response.provider == PRIMARY,
                    adv,
                ),
            ],
            30,
            alive_after=True,
        ),
        Case(
            "S11",
            "Stream ends without [DONE]",
            [],
            [("prompt_finalise", wall_max(8), req), ("usage_reported", ok("usage"), adv)],
            30,
            strip_done=True,
        ),
        Case(
            "S12",
            "Context length exceeded",
            [P(provider=PRIMARY, refusal="context_length")],
            [("no_same_model_retry", primary_between(1, 1), req)],
            20,
        ),
        Case(
            "S13",
            "Content-filter rejection",
            [P(provider=PRIMARY, refusal="prompt_blocked")],
            [("no_same_model_retry", primary_between(1, 1), req)],
            20,
            ideal="error",
        ),
        Case(
            "S14",
            "Fallback target rejects prefill",
            [P(provider=PRIMARY, cut_after=5)],
            [
                ("no_prefill_masking", ok("no_prefill_masking"), req),
                ("no_prefill_sent", lambda r: r.prefills == 0, req),
            ],
            40,
        ),
        Case(
            "S15",
            "Primary flaps: down, then healthy",
            [P(provider=PRIMARY, status=503)],
            [
                (
                    "served_during_outage",
                    lambda r: r.sequence["served_down"] == r.sequence["down"],
                    req,
                ),
                (
                    "recovered",
                    lambda r: (
                        r.sequence["recovered_after"] is not None
                        and r.sequence["recovered_after"] <= 5
                    ),
                    req,
                ),
            ],
            60,
            sequence=True,
        ),
        Case(
            "S16",
            "Fail-over accounting",
            [P(provider=PRIMARY, status=503)],
            [
                ("reports_fallback_model", ok("fallback_model"), req),
                ("usage_present", ok("usage"), adv),
                ("bounded_attempts", primary_between(None, 6), req),
            ],
            40,
        ),
    ]


# -- running --------------------------------------------------------------------------------


def configs(emulator: EmulatorServer, primary_url: str) -> list[ProviderConfig]:
    def one(name: str, base_url: str) -> ProviderConfig:
        return ProviderConfig(
            name=name,
            api_key=KEY,
            base_url=base_url,
            timeout=5_000,
            max_retries=2,
            models=[MODELS[name]],
            default_model=MODELS[name],
            rate_limits={"requests_per_minute": 100_000},
        )

    return [one(PRIMARY, primary_url), one(FALLBACK, emulator.anthropic_base_url)]


async def call(
    router: Router, limit: float
) -> tuple[str, ProviderResponse | None, str, BaseException | None]:
    async def streamed() -> tuple[ProviderResponse | None, str]:
        stream = router.stream({"messages": [{"role": "user", "content": PROMPT}]})
        async with stream:
            text = await stream.text()
        return stream.response, text

    try:
        response, text = await asyncio.wait_for(streamed(), limit)
    except TimeoutError as exc:
        return "hang", None, "", exc
    except Exception as exc:  # any error the caller sees is scored
        return "error", None, "", exc
    return "success", response, text, None


async def run_case(case: Case, emulator: EmulatorServer, wall: Wall, canon: dict[str, str]) -> Run:
    scenario: Scenario = emulator.scenario
    scenario.clear()
    scenario.reset()  # ``request=1`` is the case's first request
    scenario.add(*case.rules)
    wall.reset()
    wall.strip_done = case.strip_done
    forwarder = ResettingForwarder(emulator.port) if case.resets else None
    primary_url = emulator.openai_base_url
    if forwarder is not None:
        forwarder.resets = case.resets
        primary_url = primary_url.replace(f":{emulator.port}", f":{forwarder.port}")
    options = dict(OPTIONS)
    if case.sequence:
        options |= {"circuitBreakerThreshold": 2, "circuitBreakerTimeout": 1_500}
    async with Router(options, configs(emulator, primary_url)) as router:
        started = time.monotonic()
        if case.sequence:
            run = await run_sequence(router, scenario, case, started)
        else:
            outcome, response, text, error = await call(router, case.max_wall_s)
            run = Run(outcome, time.monotonic() - started, [], [], response, text, error)
        resets = forwarder.reset_times if forwarder is not None else []
        run.primary = sorted(resets + wall.arrivals[PRIMARY])
        run.fallback = list(wall.arrivals[FALLBACK])
        run.prefills = wall.prefills
        if case.alive_after:
            scenario.clear()
            run.alive_after = (await call(router, 30))[0] == "success"
    if forwarder is not None:
        forwarder.sock.close()
    return run


async def run_sequence(router: Router, scenario: Scenario, case: Case, started: float) -> Run:
    down_until = started + 4.0
    served_down = down = 0
    recovered_after: float | None = None
    hang = False
    for i in range(10):
        await asyncio.sleep(max(0.0, started + 0.8 * i - time.monotonic()))
        if time.monotonic() >= down_until:
            scenario.clear()
        is_down = time.monotonic() < down_until
        outcome, response, _, _ = await call(router, 10)
        hang = hang or outcome == "hang"
        if is_down:
            down += 1
            served_down += outcome == "success"
        elif recovered_after is None and response is not None and response.provider == PRIMARY:
            recovered_after = time.monotonic() - down_until
    seq = {"down": down, "served_down": served_down, "recovered_after": recovered_after}
    return Run("hang" if hang else "success", time.monotonic() - started, [], [], sequence=seq)


def verdict(case: Case, run: Run, canon: dict[str, str]) -> tuple[str, list[str]]:
    failed = [(cid, sev) for cid, pred, sev in case.checks if not pred(run)]
    if run.outcome == "hang" or run.elapsed > case.max_wall_s:
        return "fail", ["hang"]
    truncated = False
    if run.outcome == "success" and run.response is not None:
        truncated = run.text != canon[run.response.provider] or run.text != run.response.content
    if truncated:
        return "fail", ["truncated success"]
    if any(sev == "required" for _, sev in failed):
        return "fail", [cid for cid, _ in failed]
    rescued = run.outcome == case.ideal
    if case.ideal == "error" and run.error is not None:
        rescued = not isinstance(run.error, TimeoutError)
    if not rescued:
        return "safe", [f"{run.outcome}: {type(run.error).__name__}"]
    return ("partial" if failed else "pass"), [cid for cid, _ in failed]


def detail(run: Run) -> str:
    if run.sequence:
        s = run.sequence
        back = "never" if s["recovered_after"] is None else f"+{s['recovered_after']:.1f}s"
        return f"{s['served_down']}/{s['down']} served in outage, back on primary {back}"
    bits = [f"{len(run.primary)}p/{len(run.fallback)}f"]
    if len(run.primary) >= 2:
        bits.append(f"gap {run.primary[1] - run.primary[0]:.1f}s")
    bits.append(f"{run.elapsed:.1f}s")
    if run.response is not None:
        bits.append(f"by {run.response.provider}")
    elif run.error is not None:
        bits.append(type(run.error).__name__)
    return " · ".join(bits)


async def canonical(emulator: EmulatorServer) -> dict[str, str]:
    """Each provider's complete answer to PROMPT, with no fault."""
    emulator.scenario.clear()
    answers: dict[str, str] = {}
    for name in (PRIMARY, FALLBACK):
        opts = {"primaryProvider": name}
        async with Router(
            opts, [c for c in configs(emulator, emulator.openai_base_url) if c.name == name]
        ) as r:
            reply = await r.execute({"messages": [{"role": "user", "content": PROMPT}]})
            answers[name] = reply.content
    return answers


async def run_all() -> list[tuple[Case, str, list[str], Run]]:
    """Every scenario through a router, in order: (case, verdict, notes, run)."""
    wall = Wall()
    app = create_app(Scenario())
    app.add_middleware(WallMiddleware, wall=wall)
    with EmulatorServer(app) as emulator:
        canon = await canonical(emulator)
        rows: list[tuple[Case, str, list[str], Run]] = []
        for case in cases():
            run = await run_case(case, emulator, wall, canon)
            result, notes = verdict(case, run, canon)
            rows.append((case, result, notes, run))
            print(
                f"{case.id} {result:<7} {case.title}: {detail(run)}"
                + (f" [{', '.join(notes)}]" if notes else ""),
                flush=True,
            )
    return rows


RESCUED = ("pass", "partial")
"""The verdicts that rescued the caller; ``safe`` (a clean error) and ``fail`` did not."""


async def main() -> int:
    rows = await run_all()
    print()
    print("| scenario | verdict | detail |")
    print("|---|---|---|")
    for case, result, notes, run in rows:
        extra = f" ({', '.join(notes)})" if notes else ""
        print(f"| {case.id} {case.title} | {result}{extra} | {detail(run)} |")
    counts = {v: sum(r == v for _, r, _, _ in rows) for v in ("pass", "partial", "safe", "fail")}
    print()
    print("score: " + ", ".join(f"{n} {v}" for v, n in counts.items()) + f" of {len(rows)}")
    return 0 if all(result in RESCUED for _, result, _, _ in rows) else 1  # safe is a miss


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
