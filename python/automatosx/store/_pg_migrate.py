"""The PostgreSQL migration runner: ``automatosx/migrations/postgresql/NNN_name.sql``.

The files ship as package data (read with :mod:`importlib.resources`). Like the SQLite
runner, ``schema_migrations`` records each applied migration's version, file name and SHA-256
checksum; the runner is idempotent, applies each pending migration in its own transaction, and
refuses a database whose applied migrations were edited since, or that is newer than this
library. Many processes may open one database at once: the whole run holds a session-level
``pg_advisory_lock``, so exactly one applies a migration and the others then see it applied.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from importlib import resources
from typing import Any

from automatosx.errors import MigrationError
from automatosx.store.migrate import Migration, load_migrations

__all__ = ["ADVISORY_LOCK_KEY", "migrate_postgres", "postgres_migration_files"]

# An arbitrary constant that names "automatosx migrations" among a database's advisory locks.
ADVISORY_LOCK_KEY = 0x6175746F6D61  # "automa"

_CREATE_SCHEMA_MIGRATIONS = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    checksum    TEXT NOT NULL,
    applied_at  BIGINT NOT NULL
)
"""


def postgres_migration_files() -> list[tuple[str, str]]:
    """``(file name, sql)`` of every migration shipped for PostgreSQL."""
    folder = resources.files("automatosx").joinpath("migrations", "postgresql")
    return sorted(
        (entry.name, entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".sql")
    )


async def migrate_postgres(
    conn: Any, migrations: Sequence[tuple[str, str]] | None = None
) -> list[str]:
    """Apply the pending migrations on an asyncpg connection; return the names applied.

    Raises :class:`MigrationError` naming the file when a migration fails (its transaction is
    rolled back), when an applied migration was edited after it was applied, or when the
    database has a migration this library does not know.
    """
    import asyncpg

    known = load_migrations(postgres_migration_files() if migrations is None else migrations)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", ADVISORY_LOCK_KEY)
    except asyncpg.PostgresError as exc:
        raise MigrationError(f"cannot take the migration lock: {exc}") from exc
    try:
        try:
            await conn.execute(_CREATE_SCHEMA_MIGRATIONS)
            rows = await conn.fetch(
                "SELECT version, name, checksum FROM schema_migrations ORDER BY version"
            )
        except asyncpg.PostgresError as exc:
            raise MigrationError(f"cannot read schema_migrations: {exc}") from exc
        applied = {int(row[0]): (str(row[1]), str(row[2])) for row in rows}
        _check_applied(applied, known)
        done: list[str] = []
        for migration in known:
            if migration.version not in applied:
                await _apply(conn, migration, asyncpg.PostgresError)
                done.append(migration.name)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", ADVISORY_LOCK_KEY)


def _check_applied(applied: dict[int, tuple[str, str]], known: list[Migration]) -> None:
    by_version = {m.version: m for m in known}
    latest = known[-1].name if known else "none"
    for version, (name, digest) in sorted(applied.items()):
        migration = by_version.get(version)
        if migration is None:
            newer = not known or version > known[-1].version
            why = "is newer than any migration" if newer else "is not a migration"
            raise MigrationError(
                f"the database has migration {name} (version {version}), which {why} this "
                f"automatosx knows (latest: {latest}); use a matching automatosx version"
            )
        if digest != migration.checksum:
            raise MigrationError(
                f"{migration.name} was edited after it was applied to this database (checksum "
                f"{digest[:12]}... applied, {migration.checksum[:12]}... now); "
                "add a new migration instead of editing an applied one"
            )


async def _apply(conn: Any, migration: Migration, db_error: type[Exception]) -> None:
    """Apply one migration and record it, in one transaction (the lock is already held)."""
    try:
        async with conn.transaction():
            await conn.execute(migration.sql)  # no parameters: a multi-statement script
            await conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum, applied_at)"
                " VALUES ($1, $2, $3, $4)",
                migration.version,
                migration.name,
                migration.checksum,
                time.time_ns() // 1_000_000,
            )
    except db_error as exc:
        raise MigrationError(f"{migration.name}: {exc}") from exc
