"""PostgresStore shared by many writers: concurrent openers migrate once, and provider_metrics
equals the sums of the attempts and responses written by concurrent tasks and processes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import asyncpg
import pytest
from store_records import T0, attempt_record, new_id, request_record, response

from _servers import PostgresServer, RedisServer, create_database
from automatosx.errors import MigrationError
from automatosx.schemas import TokenUsage
from automatosx.store.postgres import PostgresStore
from automatosx.store.postgres._migrate import migrate_postgres, postgres_migration_files

SUMS = (
    "SELECT (SELECT COUNT(*) FROM provider_attempts),"
    " (SELECT COUNT(*) FILTER (WHERE outcome = 'success') FROM provider_attempts),"
    " (SELECT COALESCE(SUM(duration), 0) FROM provider_attempts),"
    " (SELECT COALESCE(SUM(total_tokens), 0) FROM provider_responses),"
    " (SELECT COALESCE(SUM(request_count), 0) FROM provider_metrics),"
    " (SELECT COALESCE(SUM(success_count), 0) FROM provider_metrics),"
    " (SELECT COALESCE(SUM(total_duration), 0) FROM provider_metrics),"
    " (SELECT COALESCE(SUM(total_tokens), 0) FROM provider_metrics)"
)


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> str:
    return create_database(postgres_server)


async def fetchrow(url: str, sql: str) -> tuple[int, ...]:
    conn = await asyncpg.connect(url)
    try:
        return tuple(int(v) for v in await conn.fetchrow(sql))
    finally:
        await conn.close()


async def write_requests(store: PostgresStore, worker: int, count: int) -> None:
    """``count`` requests: a failed attempt, a successful one on another model, a response."""
    for i in range(count):
        rid = new_id()
        at = T0 + worker * 100_000 + i
        await store.save_request(request_record(rid, created_at=at, updated_at=at))
        await store.save_attempt(attempt_record(rid, 1, outcome="failure", duration=3))
        await store.save_attempt(attempt_record(rid, 2, model="claude-haiku-4-5", duration=5))
        usage = TokenUsage(input_tokens=2, output_tokens=3, total_tokens=5)
        await store.save_response(response(rid, model="claude-haiku-4-5", tokens=usage))
        await store.update_request_state(
            rid, state="completed", retry_count=1, history=["idle", "completed"], updated_at=at
        )


async def test_eight_concurrent_openers_of_a_fresh_database_migrate_it_once(pg_url: str) -> None:
    stores = [PostgresStore(pg_url, pool_size=1) for _ in range(8)]
    await asyncio.gather(*(store.open() for store in stores))
    await asyncio.gather(*(store.close() for store in stores))
    applied = await fetchrow(
        pg_url, "SELECT COUNT(*), COUNT(DISTINCT version) FROM schema_migrations"
    )
    assert applied == (len(postgres_migration_files()), len(postgres_migration_files()))


async def test_edited_applied_migration_is_refused_naming_it(pg_url: str) -> None:
    async with PostgresStore(pg_url):
        pass
    files = postgres_migration_files()
    name, sql = files[0]
    conn = await asyncpg.connect(pg_url)
    try:
        with pytest.raises(MigrationError, match=rf"{name} was edited after it was applied"):
            await migrate_postgres(conn, [(name, sql + "\n-- edited"), *files[1:]])
        with pytest.raises(MigrationError, match="newer than any migration"):
            await migrate_postgres(conn, [])
        assert await migrate_postgres(conn) == []  # the lock was released each time
    finally:
        await conn.close()


async def test_failing_migration_is_rolled_back_and_named(pg_url: str) -> None:
    conn = await asyncpg.connect(pg_url)
    try:
        with pytest.raises(MigrationError, match=r"001_broken.sql: .*nope"):
            await migrate_postgres(
                conn, [("001_broken.sql", "CREATE TABLE t (a INT); SELECT nope;")]
            )
        assert await conn.fetchval("SELECT to_regclass('t') IS NULL")
        assert await conn.fetchval("SELECT COUNT(*) FROM schema_migrations") == 0
    finally:
        await conn.close()


async def test_metrics_equal_the_sums_under_four_concurrent_writer_tasks(pg_url: str) -> None:
    store = PostgresStore(pg_url, queue_size=256, batch_size=128)
    await store.open()
    await asyncio.gather(*(write_requests(store, w, 500) for w in range(4)))
    await store.close()
    attempts, successes, duration, tokens, *metrics = await fetchrow(pg_url, SUMS)
    assert (attempts, successes, duration, tokens) == (4_000, 2_000, 16_000, 10_000)
    assert metrics == [attempts, successes, duration, tokens]


def test_metrics_equal_the_sums_under_two_writer_processes(pg_url: str, tmp_path: Path) -> None:
    script = tmp_path / "writer.py"
    script.write_text(
        textwrap.dedent(
            """
            import asyncio, sys
            sys.path[:0] = [sys.argv[3], sys.argv[4]]
            from test_store_postgres_concurrency import write_requests
            from automatosx.store.postgres import PostgresStore

            async def main() -> None:
                async with PostgresStore(sys.argv[1], batch_size=64) as store:
                    await write_requests(store, int(sys.argv[2]), 300)

            asyncio.run(main())
            """
        )
    )
    here = Path(__file__).resolve().parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), pg_url, str(w), str(here), str(here.parent)],
            env=env,
            stderr=subprocess.PIPE,
        )
        for w in range(2)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=100)
        assert proc.returncode == 0, err.decode()[-2000:]
    attempts, successes, duration, tokens, *metrics = asyncio.run(fetchrow(pg_url, SUMS))
    assert (attempts, successes, duration, tokens) == (1_200, 600, 4_800, 3_000)
    assert metrics == [attempts, successes, duration, tokens]


async def test_nothing_is_lost_at_close_with_savers_blocked_on_a_full_queue(pg_url: str) -> None:
    store = PostgresStore(pg_url, queue_size=8, batch_size=4)
    await store.open()
    savers = [asyncio.create_task(store.save_request(request_record())) for _ in range(200)]
    await asyncio.sleep(0)  # one scheduling turn: 8 savers are queued, the rest wait for space
    await store.close()  # must also write the savers still waiting
    await asyncio.gather(*savers)
    assert await fetchrow(pg_url, "SELECT COUNT(*) FROM provider_requests") == (200,)


# -- the servers themselves ---------------------------------------------------------------


def test_redis_server_can_be_killed_and_restarted_on_the_same_port(
    redis_server: RedisServer, redis_url: str
) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        client.set("k", "v")
        redis_server.kill()
        assert not redis_server.running
        with pytest.raises(redis.ConnectionError):
            client.get("k")
        redis_server.restart()
        assert redis_server.url == redis_url
        assert client.get("k") is None  # a new, empty server: persistence is off
    finally:
        client.close()


def test_postgres_url_names_a_reachable_server(postgres_url: str) -> None:
    async def version() -> str:
        conn = await asyncpg.connect(postgres_url)
        try:
            return str(await conn.fetchval("SHOW server_version"))
        finally:
            await conn.close()

    assert asyncio.run(version()).split(".")[0].isdigit()
