"""2,000 requests (half streamed, 200 in flight) through claude -> gemini -> openai while the
emulator fails about 40 % of calls at random (429 with retry-after, 500, 503, 529, mid-stream
errors, dropped connections). Afterwards the database must tell exactly what the callers saw:
one terminal row per request, attempts that add up, metrics equal to the tables they are
derived from, and no task left behind."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from automatosx.emulator import Scenario
from automatosx.errors import AllProvidersFailedError, CircuitOpenError, ProviderError
from automatosx.errors import RateLimitError as RateLimit
from automatosx.schemas import ProviderResponse

if TYPE_CHECKING:
    from tests.e2e.conftest import Harness

TOTAL = 2_000
IN_FLIGHT = 200
ORDER = ("claude", "gemini", "openai")
MAX_RETRIES = 1


@dataclass
class Outcome:
    """What one caller saw."""

    request_id: str
    stream: bool
    response: ProviderResponse | None = None
    error: BaseException | None = None
    chunks: list[str] = field(default_factory=list)
    """The reply's chunks: those of the attempt that finished (a restart starts it over)."""
    delivered: list[str] = field(default_factory=list)
    """Every chunk the caller received, restarts included (what the database keeps)."""


def sent(attempt: Any) -> bool:
    """Whether an attempt in AllProvidersFailedError.attempts went out over HTTP (skips
    for an open breaker or a too-long limiter/cooldown wait did not)."""
    err = attempt.error
    if isinstance(err, CircuitOpenError):
        return False
    return not (isinstance(err, RateLimit) and err.status_code is None)


def final_run(providers: list[str]) -> int:
    """How many of the last entries name the same provider as the very last one."""
    n = 0
    while n < len(providers) and providers[-1 - n] == providers[-1]:
        n += 1
    return n


async def run_one(router: Any, gate: asyncio.Semaphore, req: dict[str, Any]) -> Outcome:
    out = Outcome(req["requestId"], stream=req["stream"])
    async with gate:
        try:
            if req["stream"]:
                stream = router.stream(req)
                async with stream:
                    async for chunk in stream:
                        if not chunk.done:
                            if chunk.restart:
                                out.chunks.clear()
                            out.chunks.append(chunk.chunk)
                            out.delivered.append(chunk.chunk)
                out.response = stream.response
            else:
                out.response = await router.execute(req)
        except (AllProvidersFailedError, ProviderError) as exc:
            out.error = exc
    return out


# Under this churn (30% faults, dropped connections, 200 in flight) httpx2's connection pool
# can hand a client socket to the garbage collector after a dropped connection; the
# ResourceWarning surfaces at GC, outside the router. Only that warning is let through.
@pytest.mark.filterwarnings(
    r"ignore:Exception ignored in. <(socket\.socket|function _SelectorTransport\.__del__)"
    r":pytest.PytestUnraisableExceptionWarning"
)
async def test_two_thousand_requests_200_in_flight_leave_a_consistent_record(
    e2e: Harness,
) -> None:
    e2e.emulator.app.state.scenario = e2e.scenario = Scenario.random(
        fault_rate=0.4, seed=20, retry_after_ms=20
    )
    reqs = [
        e2e.request(f"load request number {i}", stream=i % 2 == 1, maxTokens=40)
        for i in range(TOTAL)
    ]
    tasks_before = asyncio.all_tasks()

    router = e2e.router(
        "claude",
        ["gemini", "openai"],
        providers={name: {"max_retries": MAX_RETRIES} for name in ORDER},
        maxRetryWaitMs=1_000,
        circuitBreakerThreshold=5,
        circuitBreakerTimeout=100,
    )
    async with router:
        gate = asyncio.Semaphore(IN_FLIGHT)
        outcomes = await asyncio.gather(*(run_one(router, gate, r) for r in reqs))
    for _ in range(3):
        await asyncio.sleep(0)
    leaked = asyncio.all_tasks() - tasks_before
    assert not leaked, f"tasks left running after aclose(): {leaked}"

    seen = {o.request_id: o for o in outcomes}
    assert len(seen) == TOTAL
    # The faults really happened, and both outcomes are represented. At a 40 % fault rate
    # about 30-50 of 2,000 requests fail (all six tries, an open breaker, or a stream cut after
    # its first chunk); at 30 % it was 2-5, and a run with none failed this line in CI.
    served = sum(o.response is not None for o in outcomes)
    assert TOTAL * 0.5 < served < TOTAL

    requests = {r["id"]: r for r in e2e.rows("SELECT * FROM provider_requests")}
    assert len(requests) == TOTAL
    assert set(requests) == set(seen)
    attempts: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for a in e2e.rows("SELECT * FROM provider_attempts ORDER BY request_id, attempt"):
        attempts[a["request_id"]].append(a)
    responses = {r["request_id"]: r for r in e2e.rows("SELECT * FROM provider_responses")}
    chunks: dict[str, list[str]] = defaultdict(list)
    for c in e2e.rows(
        "SELECT request_id, chunk_content FROM stream_chunks ORDER BY request_id, chunk_index"
    ):
        chunks[c["request_id"]].append(c["chunk_content"])

    assert Counter(r["state"] for r in requests.values()).keys() <= {"completed", "failed"}
    failed_ids = {rid for rid, r in requests.items() if r["state"] == "failed"}
    assert failed_ids == {rid for rid, o in seen.items() if o.error is not None}
    assert set(responses) == {rid for rid, o in seen.items() if o.response is not None}

    for rid, row in requests.items():
        outcome, tries = seen[rid], attempts[rid]
        assert row["stream"] == int(outcome.stream)
        assert [a["attempt"] for a in tries] == list(range(1, len(tries) + 1))
        # Providers are tried in candidate order, each as one run of at most 1 + maxRetries.
        runs: list[tuple[str, int]] = []
        for a in tries:
            if runs and runs[-1][0] == a["provider"]:
                runs[-1] = (a["provider"], runs[-1][1] + 1)
            else:
                runs.append((a["provider"], 1))
        names = [name for name, _ in runs]
        assert names == sorted(names, key=ORDER.index)
        assert len(set(names)) == len(names)
        assert all(n <= MAX_RETRIES + 1 for _, n in runs)
        assert all(a["outcome"] == "failure" for a in tries[:-1])

        if row["state"] == "completed":
            assert outcome.response is not None
            assert len(tries) >= 1
            assert tries[-1]["outcome"] == "success"
            assert runs[-1][1] == row["retry_count"] + 1
            assert row["error_code"] is None
            stored = responses[rid]
            assert stored["provider"] == outcome.response.provider == tries[-1]["provider"]
            assert stored["model"] == outcome.response.model
            assert stored["content"] == outcome.response.content
            assert stored["total_tokens"] == outcome.response.tokens.total_tokens
            if outcome.stream:
                assert "".join(outcome.chunks) == outcome.response.content
                assert chunks[rid] == outcome.delivered
            else:
                assert rid not in chunks
        else:
            err = outcome.error
            assert err is not None
            assert rid not in responses
            assert all(a["outcome"] == "failure" for a in tries)
            if isinstance(err, AllProvidersFailedError):
                assert err.request_id == rid
                assert row["error_code"] == err.attempts[-1].error.code  # type: ignore[union-attr]
                went_out = [a for a in err.attempts if sent(a)]
                assert [(a["provider"], a["error_code"]) for a in tries] == [
                    (a.provider, a.error.code)  # type: ignore[union-attr]
                    for a in went_out
                ]
                # retry_count counts the retries decided at the last candidate, including one
                # that its breaker then refused to send.
                assert row["retry_count"] <= final_run([a.provider for a in err.attempts]) - 1
                if not tries:  # every candidate skipped: only open breakers do that
                    assert row["error_code"] == "CIRCUIT_OPEN"
                    assert all(isinstance(a.error, CircuitOpenError) for a in err.attempts)
            else:  # a stream that failed after its first chunk: no retry, no fallback
                assert isinstance(err, ProviderError)
                assert outcome.stream
                assert outcome.chunks
                assert row["error_code"] == err.code
                assert tries[-1]["provider"] == err.provider
                assert tries[-1]["error_code"] == err.code
                assert row["retry_count"] <= runs[-1][1] - 1
            assert chunks.get(rid, []) == outcome.delivered
    # Every HTTP request the emulator received is one attempt row, per provider. An attempt
    # whose connection failed before the server read it (a pooled connection the server had
    # just dropped) is recorded too, as CONNECTION_ERROR: those are the only extra rows.
    per_provider = Counter(a["provider"] for tries in attempts.values() for a in tries)
    unseen = Counter(
        a["provider"]
        for tries in attempts.values()
        for a in tries
        if a["error_code"] == "CONNECTION_ERROR"
    )
    received = e2e.scenario.counts()
    for name, count in per_provider.items():
        assert received[name] <= count <= received[name] + unseen[name], name
    assert {n for n, c in received.items() if c} <= set(per_provider)

    # provider_metrics (trigger-maintained) equals the tables it summarises, per provider/model.
    metrics = {
        (m["provider"], m["model"]): m
        for m in e2e.rows(
            "SELECT provider, model, SUM(request_count) AS requests,"
            " SUM(success_count) AS ok, SUM(failure_count) AS ko,"
            " SUM(total_duration) AS duration, SUM(total_input_tokens) AS input,"
            " SUM(total_output_tokens) AS output, SUM(total_tokens) AS tokens,"
            " SUM(total_cost) AS cost FROM provider_metrics GROUP BY provider, model"
        )
    }
    from_attempts = {
        (a["provider"], a["model"]): a
        for a in e2e.rows(
            "SELECT provider, model, COUNT(*) AS requests,"
            " SUM(outcome = 'success') AS ok, SUM(outcome = 'failure') AS ko,"
            " SUM(duration) AS duration FROM provider_attempts GROUP BY provider, model"
        )
    }
    from_responses = {
        (r["provider"], r["model"]): r
        for r in e2e.rows(
            "SELECT provider, model, SUM(input_tokens) AS input, SUM(output_tokens) AS output,"
            " SUM(total_tokens) AS tokens, SUM(COALESCE(cost, 0)) AS cost"
            " FROM provider_responses GROUP BY provider, model"
        )
    }
    assert set(metrics) == set(from_attempts) | set(from_responses)
    for key, m in metrics.items():
        a = from_attempts.get(key, {"requests": 0, "ok": 0, "ko": 0, "duration": 0})
        r = from_responses.get(key, {"input": 0, "output": 0, "tokens": 0, "cost": 0.0})
        assert (m["requests"], m["ok"], m["ko"], m["duration"]) == (
            a["requests"],
            a["ok"],
            a["ko"],
            a["duration"],
        ), key
        assert (m["input"], m["output"], m["tokens"]) == (r["input"], r["output"], r["tokens"])
        assert m["cost"] == pytest.approx(r["cost"], rel=1e-9, abs=1e-12), key
    assert sum(m["ok"] for m in metrics.values()) == served
