"""A fleet: 10,000 requests from 4 OS processes, each running its own Router (real SDKs over
real HTTP to an EmulatorServer failing ~10 % of calls with 500/503), all recording into ONE
PostgreSQL database. Afterwards every request is one terminal row, exactly once (each process
reports the ids it got a response for and the ids that raised), and provider_metrics equals
the sums of the attempts and responses the processes wrote concurrently."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap

import asyncpg
import pytest

from _servers import PostgresServer, create_database

PROCESSES = 4
PER_PROCESS = 2_500
IN_FLIGHT = 32

WORKER = textwrap.dedent(
    """
    import asyncio, json, sys, uuid
    from automatosx import Router
    from automatosx.emulator import EmulatorServer, Scenario
    from automatosx.errors import AllProvidersFailedError, ProviderError
    from automatosx.schemas import ProviderConfig

    url = sys.argv[1]
    worker, total, in_flight = (int(arg) for arg in sys.argv[2:5])
    MODELS = {"claude": "claude-sonnet-4-6", "openai": "gpt-4o-mini"}

    async def main(server):
        bases = {"claude": server.anthropic_base_url, "openai": server.openai_base_url}
        configs = [
            ProviderConfig.model_validate({
                "name": name, "api_key": "sk-test-fleet-0123456789abcdef",
                "base_url": bases[name], "timeout": 10_000, "max_retries": 0,
                "rate_limits": {"requests_per_minute": 10_000_000},
                "models": [model], "default_model": model,
            })
            for name, model in MODELS.items()
        ]
        options = {"primaryProvider": "claude", "fallbackProviders": ["openai"],
                   "backoffBaseMs": 1, "backoffCapMs": 2, "maxRetryWaitMs": 1_000}
        ok, raised = [], []
        gate = asyncio.Semaphore(in_flight)

        async def one(i):
            rid = str(uuid.uuid4())
            request = {"requestId": rid, "messages": [{"role": "user", "content": f"hi {i}"}]}
            async with gate:
                try:
                    reply = await router.execute(request)
                    assert reply.request_id == rid
                    ok.append(rid)
                except (AllProvidersFailedError, ProviderError):
                    raised.append(rid)

        async with Router(options, configs, store=url) as router:
            await asyncio.gather(*(one(i) for i in range(total)))
        print(json.dumps({"ok": ok, "raised": raised}))

    scenario = Scenario.random(0.1, seed=worker, kinds=("500", "503"))
    with EmulatorServer(scenario) as server:
        asyncio.run(main(server))
    """
)


def fetch(url: str, sql: str) -> list[asyncpg.Record]:
    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(url)
        try:
            return list(await conn.fetch(sql))
        finally:
            await conn.close()

    return asyncio.run(run())


@pytest.mark.filterwarnings(
    r"ignore:Exception ignored in. <(socket\\.socket|function _SelectorTransport\\.__del__)"
    ":pytest.PytestUnraisableExceptionWarning"
)
def test_four_processes_record_ten_thousand_requests_exactly_once(
    postgres_server: PostgresServer,
) -> None:
    url = create_database(postgres_server)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, url, str(n), str(PER_PROCESS), str(IN_FLIGHT)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for n in range(PROCESSES)
    ]
    ok: list[str] = []
    raised: list[str] = []
    for worker in workers:
        out, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err[-3000:]
        report = json.loads(out.strip().splitlines()[-1])
        ok += report["ok"]
        raised += report["raised"]
    assert len(ok) + len(raised) == PROCESSES * PER_PROCESS
    assert len(set(ok) | set(raised)) == PROCESSES * PER_PROCESS

    rows = fetch(url, "SELECT id, state FROM provider_requests")
    states = {str(row["id"]): str(row["state"]) for row in rows}
    assert len(rows) == len(states) == PROCESSES * PER_PROCESS  # no duplicate, none missing
    assert {rid for rid, state in states.items() if state == "completed"} == set(ok)
    assert {rid for rid, state in states.items() if state == "failed"} == set(raised)

    [counts] = fetch(
        url,
        "SELECT (SELECT COUNT(*) FROM provider_responses) AS responses,"
        " (SELECT COUNT(DISTINCT request_id) FROM provider_responses) AS answered,"
        " (SELECT COUNT(*) FROM provider_attempts) AS attempts",
    )
    assert counts["responses"] == counts["answered"] == len(ok)
    assert counts["attempts"] >= PROCESSES * PER_PROCESS

    by_metrics = fetch(
        url,
        "SELECT provider, model, SUM(request_count) AS tries, SUM(success_count) AS ok,"
        " SUM(failure_count) AS bad, SUM(total_duration) AS duration,"
        " SUM(total_tokens) AS tokens FROM provider_metrics GROUP BY 1, 2 ORDER BY 1, 2",
    )
    by_tables = fetch(
        url,
        "SELECT a.provider, a.model, a.tries, a.ok, a.bad, a.duration,"
        " COALESCE(r.tokens, 0) AS tokens FROM"
        " (SELECT provider, model, COUNT(*) AS tries,"
        "  COUNT(*) FILTER (WHERE outcome = 'success') AS ok,"
        "  COUNT(*) FILTER (WHERE outcome = 'failure') AS bad, SUM(duration) AS duration"
        "  FROM provider_attempts GROUP BY 1, 2) a"
        " LEFT JOIN (SELECT provider, model, SUM(total_tokens) AS tokens"
        "  FROM provider_responses GROUP BY 1, 2) r USING (provider, model) ORDER BY 1, 2",
    )
    assert [tuple(r) for r in by_metrics] == [tuple(r) for r in by_tables]
    assert {str(r["provider"]) for r in by_metrics} == {"claude", "openai"}
