"""Applying migrations to PostgreSQL (the files and checks are ``store/migrate.py``'s).

Many processes may open one database at once: the whole run holds a session-level
``pg_advisory_lock``, so exactly one applies a migration and the others then see it applied.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from automatosx.errors import MigrationError
from automatosx.store.migrate import (
    CREATE_SCHEMA_MIGRATIONS,
    Migration,
    check_applied,
    load_migrations,
    migration_files,
)

__all__ = ["ADVISORY_LOCK_KEY", "migrate_postgres", "postgres_migration_files"]

# An arbitrary constant that names "automatosx migrations" among a database's advisory locks.
ADVISORY_LOCK_KEY = 0x6175746F6D61  # "automa"


def postgres_migration_files() -> list[tuple[str, str]]:
    """``(file name, sql)`` of every migration shipped for PostgreSQL."""
    return migration_files("postgresql")


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
            await conn.execute(CREATE_SCHEMA_MIGRATIONS)
            rows = await conn.fetch(
                "SELECT version, name, checksum FROM schema_migrations ORDER BY version"
            )
        except asyncpg.PostgresError as exc:
            raise MigrationError(f"cannot read schema_migrations: {exc}") from exc
        applied = {int(row[0]): (str(row[1]), str(row[2])) for row in rows}
        check_applied(applied, known)
        done: list[str] = []
        for migration in known:
            if migration.version not in applied:
                await _apply(conn, migration, asyncpg.PostgresError)
                done.append(migration.name)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", ADVISORY_LOCK_KEY)


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
