"""Migrations, for every dialect: the files, their checksums, and the checks before applying.

Migrations are package data, one folder per dialect (``migrations/sqlite``,
``migrations/postgresql``), read with :mod:`importlib.resources`, so an installed wheel carries
the same files as the source tree. ``schema_migrations`` records each applied migration's
version, file name and SHA-256 checksum; the runner is idempotent, applies each pending
migration in its own transaction, and refuses a database whose applied migrations were edited
since, or that is newer than this library.

How a migration is applied is the dialect's (``sqlite/_migrate.py``, ``postgres/_migrate.py``);
:func:`migrate` is the SQLite runner over an ``aiosqlite`` connection (kept under this name).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import aiosqlite

from automatosx.errors import MigrationError

__all__ = [
    "CREATE_SCHEMA_MIGRATIONS",
    "Migration",
    "check_applied",
    "check_checksum",
    "checksum",
    "load_migrations",
    "migrate",
    "migration_files",
]

_FILE_NAME = re.compile(r"^(\d+)_\w+\.sql$")

CREATE_SCHEMA_MIGRATIONS = """
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


def check_applied(applied: dict[int, tuple[str, str]], known: list[Migration]) -> None:
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
        check_checksum(migration, digest)


def check_checksum(migration: Migration, applied_checksum: str) -> None:
    if applied_checksum != migration.checksum:
        raise MigrationError(
            f"{migration.name} was edited after it was applied to this database (checksum "
            f"{applied_checksum[:12]}... applied, {migration.checksum[:12]}... now); "
            "add a new migration instead of editing an applied one"
        )


async def migrate(
    conn: aiosqlite.Connection, migrations: Sequence[tuple[str, str]] | None = None
) -> list[str]:
    """Apply the pending SQLite migrations on an ``aiosqlite`` connection; return the file
    names applied (empty if up to date). See ``sqlite/_migrate.py``."""
    from automatosx.store.sqlite._migrate import migrate_sqlite

    raw = conn._conn  # aiosqlite runs calls on its own thread: the migration runs there too
    done: list[str] = await conn._execute(migrate_sqlite, raw, migrations)  # type: ignore[no-untyped-call]
    return done
