"""The migration runner: new, up-to-date, tampered and newer databases."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite
import pytest

import automatosx
from automatosx.errors import MigrationError, StoreError
from automatosx.store import SQLiteStore, migrate
from automatosx.store.migrate import checksum, load_migrations, migration_files

MIGRATIONS_DIR = Path(automatosx.__file__).parent / "migrations" / "sqlite"
# What the runner of 0.1 (migrations compiled into _core) recorded for 001_initial.sql.
CHECKSUM_001_COMPILED_IN = "a120544b9f16dbd008916fe78dfed031b136d48c0a9f320e0b31abc169c3d6d2"

ONE = [("001_first.sql", "CREATE TABLE a (x INTEGER);")]
TWO = [*ONE, ("002_second.sql", "CREATE TABLE b (y TEXT);\nINSERT INTO b VALUES ('hi');")]


@pytest.fixture
async def conn(tmp_path: Path) -> AsyncIterator[aiosqlite.Connection]:
    async with aiosqlite.connect(tmp_path / "m.db", isolation_level=None) as connection:
        yield connection


async def tables(conn: aiosqlite.Connection) -> set[str]:
    rows = await conn.execute_fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {row[0] for row in rows}


async def applied(conn: aiosqlite.Connection) -> list[tuple[int, str, str]]:
    rows = await conn.execute_fetchall(
        "SELECT version, name, checksum FROM schema_migrations ORDER BY version"
    )
    return [(row[0], row[1], row[2]) for row in rows]


def test_shipped_migrations_are_the_package_folder() -> None:
    on_disk = [(p.name, p.read_text()) for p in sorted(MIGRATIONS_DIR.glob("[0-9]*_*.sql"))]
    assert [name for name, _ in on_disk][:2] == ["001_initial.sql", "002_any_provider_name.sql"]
    assert migration_files("sqlite") == on_disk


def test_001_keeps_the_checksum_the_compiled_in_runner_recorded() -> None:
    assert load_migrations()[0].checksum == CHECKSUM_001_COMPILED_IN


async def test_database_migrated_by_the_compiled_in_runner_opens_and_gets_002(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    sql_001 = migration_files()[0][1]
    async with aiosqlite.connect(path, isolation_level=None) as old:
        await migrate(old, [("001_initial.sql", sql_001)])
        await old.execute("UPDATE schema_migrations SET checksum = ?", (CHECKSUM_001_COMPILED_IN,))
    async with SQLiteStore(path):
        pass
    with sqlite3.connect(path) as raw:
        names = [row[0] for row in raw.execute("SELECT name FROM schema_migrations")]
    raw.close()
    assert names[:2] == ["001_initial.sql", "002_any_provider_name.sql"]


def test_unknown_dialect_is_a_clear_error() -> None:
    with pytest.raises(MigrationError, match="no migrations for dialect 'oracle'"):
        migration_files("oracle")


async def test_new_database_gets_every_migration(conn: aiosqlite.Connection) -> None:
    assert await migrate(conn, TWO) == ["001_first.sql", "002_second.sql"]
    assert {"a", "b", "schema_migrations"} <= await tables(conn)
    assert await applied(conn) == [
        (1, "001_first.sql", checksum(ONE[0][1])),
        (2, "002_second.sql", checksum(TWO[1][1])),
    ]


async def test_up_to_date_database_is_left_alone(conn: aiosqlite.Connection) -> None:
    await migrate(conn, TWO)
    before = await applied(conn)
    assert await migrate(conn, TWO) == []
    assert await applied(conn) == before
    rows = await conn.execute_fetchall("SELECT y FROM b")
    assert [row[0] for row in rows] == ["hi"]  # the INSERT was not run twice


async def test_only_pending_migrations_are_applied(conn: aiosqlite.Connection) -> None:
    assert await migrate(conn, ONE) == ["001_first.sql"]
    assert await migrate(conn, TWO) == ["002_second.sql"]


async def test_migration_edited_after_it_was_applied_is_refused(
    conn: aiosqlite.Connection,
) -> None:
    await migrate(conn, ONE)
    tampered = [("001_first.sql", "CREATE TABLE a (x INTEGER, z TEXT);")]
    with pytest.raises(MigrationError, match=r"001_first\.sql was edited after it was applied"):
        await migrate(conn, tampered)


async def test_database_newer_than_the_library_is_refused(conn: aiosqlite.Connection) -> None:
    await migrate(conn, TWO)
    with pytest.raises(MigrationError, match=r"002_second\.sql \(version 2\).*newer"):
        await migrate(conn, ONE)


async def test_failing_migration_is_rolled_back_and_named(conn: aiosqlite.Connection) -> None:
    broken = [*ONE, ("002_broken.sql", "CREATE TABLE c (x INTEGER);\nCREATE TABLE a (x INT);")]
    with pytest.raises(MigrationError, match=r"002_broken\.sql: table a already exists"):
        await migrate(conn, broken)
    assert "c" not in await tables(conn)  # the whole migration was rolled back
    assert [row[0] for row in await applied(conn)] == [1]
    assert not conn.in_transaction


async def test_trigger_bodies_are_not_split(conn: aiosqlite.Connection) -> None:
    sql = (
        "CREATE TABLE t (x INTEGER); -- a comment; with a semicolon\n"
        "CREATE TABLE log (x INTEGER);\n"
        "CREATE TRIGGER t_log AFTER INSERT ON t BEGIN INSERT INTO log VALUES (NEW.x); END;\n"
        "INSERT INTO t VALUES (';');"
    )
    await migrate(conn, [("001_trigger.sql", sql)])
    rows = await conn.execute_fetchall("SELECT x FROM log")
    assert [row[0] for row in rows] == [";"]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ([("first.sql", "SELECT 1;")], "named NNN_name.sql"),
        ([("001_a.sql", "SELECT 1;"), ("1_b.sql", "SELECT 1;")], "version 1 is also 001_a.sql"),
    ],
)
def test_badly_named_migrations_are_refused(files: list[tuple[str, str]], message: str) -> None:
    with pytest.raises(MigrationError, match=message):
        load_migrations(files)


def test_checksum_ignores_line_endings() -> None:
    assert checksum("SELECT 1;\r\nSELECT 2;\r\n") == checksum("SELECT 1;\nSELECT 2;\n")


async def test_default_migrations_create_every_table(conn: aiosqlite.Connection) -> None:
    assert await migrate(conn) == [name for name, _ in migration_files()]
    assert {
        "provider_requests",
        "provider_attempts",
        "provider_responses",
        "stream_chunks",
        "provider_health",
        "provider_metrics",
        "schema_migrations",
    } <= await tables(conn)


async def test_store_refuses_a_tampered_database(db_path: Path) -> None:
    async with SQLiteStore(db_path):
        pass
    with sqlite3.connect(db_path) as raw:
        raw.execute("UPDATE schema_migrations SET checksum = 'x' WHERE version = 1")
    raw.close()
    store = SQLiteStore(db_path)
    with pytest.raises(MigrationError, match="edited after it was applied"):
        await store.open()
    with pytest.raises(StoreError, match="not open"):
        await store.flush()
