"""``automatosx migrate`` and ``automatosx stats`` against a real PostgreSQL server: the same
commands as for SQLite, a ``postgresql://`` URL for ``--db``, and the password never echoed."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import asyncpg
import pytest
from store_records import attempt_record, new_id, request_record, response

from _servers import PostgresServer, create_database
from automatosx.cli import main
from automatosx.schemas import TokenUsage
from automatosx.store.postgres import PostgresStore


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> str:
    """A fresh database, its URL carrying a password (trust auth on loopback ignores it)."""
    return create_database(postgres_server).replace("postgres@", "postgres:hunter2@", 1)


def migrations_applied(url: str) -> list[str]:
    async def read() -> list[str]:
        conn = await asyncpg.connect(url)
        try:
            return [row[0] for row in await conn.fetch("SELECT name FROM schema_migrations")]
        finally:
            await conn.close()

    return asyncio.run(read())


def record_two_requests(url: str) -> None:
    async def record() -> None:
        async with PostgresStore(url) as store:
            a, b = new_id(), new_id()
            await store.save_request(request_record(a, state="completed"))
            await store.save_attempt(attempt_record(a, 1, outcome="failure", duration=20))
            await store.save_attempt(attempt_record(a, 2, duration=80))
            usage = TokenUsage(input_tokens=2, output_tokens=3, total_tokens=5)
            await store.save_response(response(a, tokens=usage, cost=0.5))
            await store.save_request(request_record(b, state="failed"))
            await store.save_attempt(attempt_record(b, 1, outcome="failure", duration=10))

    asyncio.run(record())


def test_migrate_creates_the_schema_once_and_hides_the_password(
    pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate", "--db", pg_url]) == 0
    assert main(["migrate", "--db", pg_url]) == 0  # idempotent
    out, err = capsys.readouterr()
    assert out.splitlines() == ["migrated postgresql://...", "migrated postgresql://..."]
    assert "hunter2" not in out + err
    from automatosx.store.postgres._migrate import postgres_migration_files

    expected = [name for name, _ in postgres_migration_files()]
    assert expected[0] == "001_initial.sql"
    assert migrations_applied(pg_url) == expected


def test_stats_json_reads_summaries_and_states_from_postgresql(
    pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    record_two_requests(pg_url)
    assert main(["stats", "--db", pg_url, "--json"]) == 0
    out, err = capsys.readouterr()
    document = json.loads(out)
    [row] = document["providers"]
    assert (row["provider"], row["attempts"], row["successes"], row["requests"]) == (
        "claude",
        3,
        1,
        2,
    )
    assert (row["retries"], row["p50_ms"], row["total_tokens"], row["cost"]) == (1, 80, 5, 0.5)
    assert document["requests_by_state"] == {"completed": 1, "failed": 1}
    assert "hunter2" not in out + err


def test_stats_table_through_python_dash_m_automatosx_cli(pg_url: str) -> None:
    record_two_requests(pg_url)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-m", "automatosx.cli", "stats", "--db", pg_url],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "claude" in done.stdout
    assert "completed 1, failed 1" in done.stdout
    assert "hunter2" not in done.stdout + done.stderr


def test_an_unreachable_server_is_a_one_line_error_without_the_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["migrate", "--db", "postgresql://u:hunter2@127.0.0.1:1/db"]) == 2
    assert main(["stats", "--db", "postgresql://u:hunter2@127.0.0.1:1/db"]) == 2
    out, err = capsys.readouterr()
    assert "hunter2" not in out + err
    assert err.count("cannot open store 'postgresql://u:***@127.0.0.1:1/db'") == 2
