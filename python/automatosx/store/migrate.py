"""The migration runner: applies ``automatosx/migrations/sqlite/NNN_name.sql`` to SQLite.

Migrations are package data, one folder per dialect (``migrations/sqlite``,
``migrations/postgresql``), read with :mod:`importlib.resources`, so an installed wheel carries
the same files as the source tree. ``schema_migrations`` records each applied migration's
version, file name and SHA-256 checksum; the runner is idempotent, applies each pending
migration in its own transaction, and refuses a database whose applied migrations were edited
since, or that is newer than this library.

A SQLite migration runs with foreign-key enforcement off (SQLite's documented way to rebuild
a table: dropping a parent table would otherwise cascade into its children) and is committed
only if ``PRAGMA foreign_key_check`` then finds no violation.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import aiosqlite

from automatosx.errors import MigrationError

__all__ = ["Migration", "checksum", "load_migrations", "migrate", "migration_files"]

_FILE_NAME = re.compile(r"^(\d+)_\w+\.sql$")

_CREATE_SCHEMA_MIGRATIONS = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    checksum    TEXT NOT NULL,
    applied_at  BIGINT NOT NULL
)
"""


@dataclass(frozen=True, slots=True)
class Migration:
    """One migration file: ``version`` is its number, ``name`` its file name."""

    version: int
    name: str
    sql: str
    checksum: str


def checksum(sql: str) -> str:
    """SHA-256 (hex) of a migration's SQL, line endings normalised to ``\\n``."""
    return hashlib.sha256(sql.replace("\r\n", "\n").encode()).hexdigest()


def migration_files(dialect: str = "sqlite") -> list[tuple[str, str]]:
    """The ``(file name, sql)`` pairs shipped for ``dialect``, in file-name order.

    Raises :class:`MigrationError` for a dialect with no migrations folder.
    """
    folder = resources.files("automatosx").joinpath("migrations", dialect)
    if not folder.is_dir():
        raise MigrationError(
            f"no migrations for dialect {dialect!r}: automatosx/migrations/{dialect}/ is missing"
        )
    entries = [entry for entry in folder.iterdir() if entry.name.endswith(".sql")]
    return [
        (entry.name, entry.read_text(encoding="utf-8"))
        for entry in sorted(entries, key=lambda e: e.name)
    ]


def load_migrations(
    files: Sequence[tuple[str, str]] | None = None, *, dialect: str = "sqlite"
) -> list[Migration]:
    """Parse ``(file name, sql)`` pairs (default: those shipped for ``dialect``), by version."""
    if files is None:
        files = migration_files(dialect)
    parsed: dict[int, Migration] = {}
    for name, sql in files:
        match = _FILE_NAME.match(name)
        if match is None:
            raise MigrationError(f"{name}: a migration file is named NNN_name.sql")
        version = int(match.group(1))
        if version in parsed:
            raise MigrationError(f"{name}: version {version} is also {parsed[version].name}")
        parsed[version] = Migration(version, name, sql, checksum(sql))
    return [parsed[v] for v in sorted(parsed)]


async def migrate(
    conn: aiosqlite.Connection, migrations: Sequence[tuple[str, str]] | None = None
) -> list[str]:
    """Apply the pending migrations; return the file names applied (empty if up to date).

    Raises :class:`MigrationError` naming the file when a migration fails (its transaction is
    rolled back), when an applied migration was edited after it was applied, or when the
    database has a migration this library does not know.
    """
    known = load_migrations(migrations)
    try:
        await conn.execute(_CREATE_SCHEMA_MIGRATIONS)
        async with conn.execute(
            "SELECT version, name, checksum FROM schema_migrations ORDER BY version"
        ) as cursor:
            applied = {int(row[0]): (str(row[1]), str(row[2])) for row in await cursor.fetchall()}
    except sqlite3.Error as exc:
        raise MigrationError(f"cannot read schema_migrations: {exc}") from exc
    _check_applied(applied, known)
    done: list[str] = []
    for migration in known:
        if migration.version not in applied and await _apply(conn, migration):
            done.append(migration.name)
    return done


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
        _check_checksum(migration, digest)


def _check_checksum(migration: Migration, applied_checksum: str) -> None:
    if applied_checksum != migration.checksum:
        raise MigrationError(
            f"{migration.name} was edited after it was applied to this database (checksum "
            f"{applied_checksum[:12]}... applied, {migration.checksum[:12]}... now); "
            "add a new migration instead of editing an applied one"
        )


async def _apply(conn: aiosqlite.Connection, migration: Migration) -> bool:
    """Apply one migration in its own transaction, foreign keys off (restored after); False
    if another process just did."""
    rows = await conn.execute_fetchall("PRAGMA foreign_keys")
    enforced = bool(next(iter(rows))[0])
    if enforced:
        await conn.execute("PRAGMA foreign_keys = OFF")
    try:
        return await _apply_in_transaction(conn, migration)
    finally:
        if enforced:
            await conn.execute("PRAGMA foreign_keys = ON")


async def _apply_in_transaction(conn: aiosqlite.Connection, migration: Migration) -> bool:
    try:
        await conn.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as exc:
        raise MigrationError(f"{migration.name}: cannot start a transaction: {exc}") from exc
    try:
        async with conn.execute(
            "SELECT checksum FROM schema_migrations WHERE version = ?", (migration.version,)
        ) as cursor:
            row = await cursor.fetchone()
        if row is not None:
            await conn.execute("ROLLBACK")
            _check_checksum(migration, str(row[0]))
            return False
        for statement in _split_statements(migration.sql):
            await conn.execute(statement)
        violations = list(await conn.execute_fetchall("PRAGMA foreign_key_check"))
        if violations:
            await conn.execute("ROLLBACK")
            raise MigrationError(
                f"{migration.name}: would break {len(violations)} foreign key(s) (first in "
                f"table {violations[0][0]!r}); rolled back"
            )
        await conn.execute(
            "INSERT INTO schema_migrations (version, name, checksum, applied_at)"
            " VALUES (?, ?, ?, ?)",
            (migration.version, migration.name, migration.checksum, time.time_ns() // 1_000_000),
        )
        await conn.execute("COMMIT")
    except sqlite3.Error as exc:
        if conn.in_transaction:
            await conn.execute("ROLLBACK")
        raise MigrationError(f"{migration.name}: {exc}") from exc
    return True


def _split_statements(sql: str) -> list[str]:
    """Split a script into complete statements (trigger bodies stay whole)."""
    statements: list[str] = []
    start = 0
    for end, char in enumerate(sql):
        if char == ";" and sqlite3.complete_statement(sql[start : end + 1]):
            statements.append(sql[start : end + 1].strip())
            start = end + 1
    rest = sql[start:].strip()
    if rest and not all(line.lstrip().startswith("--") for line in rest.splitlines() if line):
        statements.append(rest)
    return [s for s in statements if s.strip(" \t\r\n;")]
