"""The smoke test of one installed wheel, run by the interpreter that installed it.

    python scripts/wheel_smoke.py EMULATOR_URL [EXPECT_MACHINE]

Run from outside the source tree with the wheel installed (scripts/smoke-wheel.sh does that,
natively or under qemu-user for a foreign architecture). Checks, one line each:

* ``automatosx`` and its Rust core load from the installed wheel (not from a source tree) and
  the interpreter runs on the expected machine (``platform.machine()``);
* the Rust core's transitions: a ProviderStateMachine walk with a retry and a stream, a refused
  transition, and a CircuitBreaker going closed -> open -> half_open -> closed on a given clock;
* the migrations shipped as package data, applied to a fresh SQLite file;
* one request routed through the OpenAI SDK to the emulator at EMULATOR_URL (another process,
  possibly another architecture), recorded in that SQLite store.

Prints ``ok``/``FAIL`` lines and ends with ``wheel-smoke: PASS``/``FAIL``; exits 1 on failure.
Uses only what the wheel and its ``openai`` extra install (no test dependencies).
"""

from __future__ import annotations

import asyncio
import os
import platform
import sqlite3
import sys
import tempfile
import traceback
from collections.abc import Callable
from importlib import metadata, resources

failures = 0


def check(name: str, fn: Callable[[], str]) -> None:
    global failures
    try:
        detail = fn()
    except Exception as exc:
        failures += 1
        print(f"  FAIL  {name}: {type(exc).__name__}: {exc}", flush=True)
        if not isinstance(exc, AssertionError):
            traceback.print_exc(limit=-2, file=sys.stdout)
    else:
        print(f"  ok    {name}{': ' + detail if detail else ''}", flush=True)


def installed() -> str:
    import automatosx
    import automatosx._core as core

    dist = metadata.distribution("automatosx")
    recorded = {os.path.realpath(str(dist.locate_file(f))) for f in dist.files or ()}
    for mod in (automatosx, core):
        path = os.path.realpath(mod.__file__ or "")
        if path not in recorded:
            raise AssertionError(
                f"{mod.__name__} loads from {path}, which the installed automatosx "
                f"{dist.version} did not install (a source tree on sys.path?)"
            )
    tags = [
        ln.split(":", 1)[1].strip()
        for ln in (dist.read_text("WHEEL") or "").splitlines()
        if ln.startswith("Tag:")
    ]
    return f"{os.path.basename(core.__file__ or '')} from the wheel tagged {', '.join(tags)}"


def machine(expected: str) -> Callable[[], str]:
    def run() -> str:
        got = platform.machine()
        if expected and got != expected:
            raise AssertionError(f"platform.machine() is {got!r}, expected {expected!r}")
        return got

    return run


def state_machine() -> str:
    from automatosx import Event, InvalidTransitionError, ProviderStateMachine, State

    m = ProviderStateMachine("smoke-1", max_retries=2)
    m.transition(Event.initiate_request("openai", "gpt-4o-mini", 1, stream=True))
    m.transition(Event.validate_request())
    m.transition(Event.validation_passed())
    assert m.state == State.requesting, m.state
    m.transition(Event.request_failed("connection reset", code="CONNECTION", retryable=True))
    m.transition(Event.retry_request(attempt=1))
    m.transition(Event.send_request())
    for i, chunk in enumerate(("Hello", ", ", "arm")):
        m.transition(Event.receive_stream_chunk(chunk, i))
    m.transition(Event.stream_complete(input_tokens=3, output_tokens=3, total_tokens=6))
    assert m.state == State.completed, m.state
    assert m.is_terminal
    assert m.context.response == "Hello, arm", m.context.response
    assert m.context.retry_count == 1
    assert m.context.total_tokens == 6
    try:
        m.transition(Event.receive_stream_chunk("late", 3))
    except InvalidTransitionError:
        pass
    else:
        raise AssertionError("a chunk after completion was accepted")
    assert m.state == State.completed
    return " -> ".join(m.history)


def breaker() -> str:
    from automatosx import BreakerState, CircuitBreaker

    b = CircuitBreaker(failure_threshold=3, reset_timeout_ms=1_000)
    seen = [str(b.state_at(0))]
    for t in (1, 2, 3):
        assert b.allow_request(t)
        b.record_failure(t)
    seen.append(str(b.state_at(4)))
    assert b.state_at(4) == BreakerState.open
    assert not b.allow_request(4)
    assert b.state_at(1_003) == BreakerState.half_open
    assert b.allow_request(1_003)
    assert not b.allow_request(1_003), "a second probe was let through"
    seen.append("half_open")
    b.record_success(1_004)
    assert b.state_at(1_004) == BreakerState.closed
    seen.append(str(b.state_at(1_004)))
    return " -> ".join(seen)


def routed(base_url: str, db: str) -> Callable[[], str]:
    async def go() -> str:
        from automatosx import Router

        router = Router(
            {"primaryProvider": "openai"},
            [
                {
                    "name": "openai",
                    "apiKey": "sk-smoke-0123456789",
                    "baseUrl": base_url.rstrip("/") + "/v1",
                    "models": ["gpt-4o-mini"],
                    "defaultModel": "gpt-4o-mini",
                    "maxRetries": 0,
                    "rateLimits": {"requestsPerMinute": 600},
                }
            ],
            store=f"sqlite:///{db}",
        )
        await router.open()
        try:
            reply = await router.execute(
                {"messages": [{"role": "user", "content": "Say hello."}], "maxTokens": 32}
            )
        finally:
            await router.aclose()
        assert reply.content, "empty reply"
        return f"{reply.provider}/{reply.model}: {reply.content[:40]!r}"

    def run() -> str:
        return asyncio.run(go())

    return run


def recorded(db: str) -> Callable[[], str]:
    def run() -> str:
        con = sqlite3.connect(db)
        try:
            tables = {
                r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            versions = [r[0] for r in con.execute("SELECT version FROM schema_migrations")]
            rows = con.execute("SELECT state FROM provider_requests").fetchall()
        finally:
            con.close()
        assert "provider_requests" in tables, sorted(tables)
        assert [r[0] for r in rows] == ["completed"], rows
        shipped = sorted(
            f.name
            for f in resources.files("automatosx").joinpath("migrations", "sqlite").iterdir()
            if f.name.endswith(".sql")
        )
        assert shipped, "no SQLite migration in the installed package"
        assert len(versions) == len(shipped), (versions, shipped)
        return (
            f"the {len(shipped)} SQLite migrations shipped as package data applied "
            f"({shipped[0]} .. {shipped[-1]}); 1 request recorded, state completed"
        )

    return run


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    base_url = sys.argv[1]
    expected = sys.argv[2] if len(sys.argv) > 2 else ""
    print(f"wheel-smoke: {sys.executable} ({platform.machine()})", flush=True)
    check("import automatosx from the installed wheel", installed)
    check("machine", machine(expected))
    check("ProviderStateMachine walk (retry, stream, refused transition)", state_machine)
    check("CircuitBreaker closed -> open -> half_open -> closed", breaker)
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "smoke.db")
        check(f"one request routed to the emulator at {base_url}", routed(base_url, db))
        check("the request recorded in SQLite", recorded(db))
    print(f"wheel-smoke: {'FAIL' if failures else 'PASS'}", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
