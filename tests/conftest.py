"""Shared by every test package; keep it small.

`make build-dev` builds the extension in place (`maturin develop --skip-install`), so the
package is importable from `python/` without being installed; an installed automatosx (a
wheel under test) wins.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

if importlib.util.find_spec("automatosx") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))


# -- servers (tests/_servers.py): started on first use, stopped at session end ------------

from collections.abc import Iterator

import pytest

import _servers


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[_servers.PostgresServer]:
    """A throwaway PostgreSQL cluster for the session; FAILS (never skips) if it cannot start."""
    try:
        server = _servers.start_postgres()
    except _servers.ServerStartError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_url(postgres_server: _servers.PostgresServer) -> str:
    """The URL of the session's PostgreSQL server (database ``postgres``, user ``postgres``)."""
    return postgres_server.url


@pytest.fixture(scope="session")
def redis_server() -> Iterator[_servers.RedisServer]:
    """A throwaway redis-server for the session; FAILS (never skips) if it cannot start."""
    try:
        server = _servers.start_redis()
    except _servers.ServerStartError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_url(redis_server: _servers.RedisServer) -> str:
    """The URL of the session's Redis server (``redis://127.0.0.1:<port>/0``)."""
    return redis_server.url
