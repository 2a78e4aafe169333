"""Applying migrations to SQLite (the files and checks are ``store/migrate.py``'s).

Synchronous, on the connection's own thread. A migration runs with foreign-key enforcement
off (SQLite's documented way to rebuild a table: dropping a parent table would otherwise
cascade into its children), in its own ``BEGIN IMMEDIATE`` transaction, and is committed only
if ``PRAGMA foreign_key_check`` then finds no violation.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence

from automatosx.errors import MigrationError
from automatosx.store.migrate import (
    CREATE_SCHEMA_MIGRATIONS,
    Migration,
    check_applied,
    check_checksum,
    load_migrations,
)

__all__ = ["migrate_sqlite"]


def migrate_sqlite(
    conn: sqlite3.Connection, migrations: Sequence[tuple[str, str]] | None = None
) -> list[str]:
    """Apply the pending migrations; return the file names applied (empty if up to date).

    Raises :class:`MigrationError` naming the file when a migration fails (its transaction is
    rolled back), when an applied migration was edited after it was applied, or when the
    database has a migration this library does not know.
    """
    known = load_migrations(migrations, dialect="sqlite")
    try:
        conn.execute(CREATE_SCHEMA_MIGRATIONS)
        rows = conn.execute(
            "SELECT version, name, checksum FROM schema_migrations ORDER BY version"
        ).fetchall()
    except sqlite3.Error as exc:
        raise MigrationError(f"cannot read schema_migrations: {exc}") from exc
    check_applied({int(r[0]): (str(r[1]), str(r[2])) for r in rows}, known)
    applied = {int(r[0]) for r in rows}
    return [m.name for m in known if m.version not in applied and _apply(conn, m)]


def _apply(conn: sqlite3.Connection, migration: Migration) -> bool:
    """Apply one migration, foreign keys off (restored after); False if another process
    just did."""
    enforced = bool(conn.execute("PRAGMA foreign_keys").fetchone()[0])
    if enforced:
        conn.execute("PRAGMA foreign_keys = OFF")
    try:
        return _apply_in_transaction(conn, migration)
    finally:
        if enforced:
            conn.execute("PRAGMA foreign_keys = ON")


def _apply_in_transaction(conn: sqlite3.Connection, migration: Migration) -> bool:
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as exc:
        raise MigrationError(f"{migration.name}: cannot start a transaction: {exc}") from exc
    try:
        row = conn.execute(
            "SELECT checksum FROM schema_migrations WHERE version = ?", (migration.version,)
        ).fetchone()
        if row is not None:
            conn.execute("ROLLBACK")
            check_checksum(migration, str(row[0]))
            return False
        for statement in _split_statements(migration.sql):
            conn.execute(statement)
        violations = conn.execute("PRAGMA foreign_key_check").fetchall()
        if violations:
            conn.execute("ROLLBACK")
            raise MigrationError(
                f"{migration.name}: would break {len(violations)} foreign key(s) (first in "
                f"table {violations[0][0]!r}); rolled back"
            )
        conn.execute(
            "INSERT INTO schema_migrations (version, name, checksum, applied_at)"
            " VALUES (?, ?, ?, ?)",
            (migration.version, migration.name, migration.checksum, time.time_ns() // 1_000_000),
        )
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
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
