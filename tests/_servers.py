"""Throwaway PostgreSQL and Redis servers for tests and benches, no Docker.

``start_postgres()`` runs ``initdb`` into a temporary directory and ``pg_ctl start`` on a free
loopback port (unix socket in the same directory, fsync off); ``start_redis()`` runs
``redis-server`` on a free loopback port as a child process, with persistence off. Both return
a handle with ``.url`` and ``.stop()``; every handle is also stopped at interpreter exit, so a
crashed session leaves no server behind. A server that cannot start raises
:class:`ServerStartError` naming the server and quoting its log.

PostgreSQL refuses to run as root: when the tests run as root, the cluster is created and run
as the ``postgres`` user (``runuser -u postgres --``) in a directory chowned to it.

The binaries are looked up in PATH, then in ``/usr/lib/postgresql/*/bin`` (Debian's layout);
``scripts/ensure-servers.sh`` installs them on a bare machine.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

__all__ = [
    "PostgresServer",
    "RedisServer",
    "ServerStartError",
    "create_database",
    "free_port",
    "start_postgres",
    "start_redis",
]

_START_TIMEOUT_S = 60.0
_LOG_TAIL_LINES = 20


class ServerStartError(RuntimeError):
    """A test server could not start; the message names it and quotes its log tail."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(text: str) -> str:
    lines = text.strip().splitlines()[-_LOG_TAIL_LINES:]
    return "\n".join(lines) if lines else "(empty)"


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _find_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return candidates[0] if candidates else None


# -- PostgreSQL ---------------------------------------------------------------------------


class PostgresServer:
    """A running throwaway cluster. ``url`` connects as the superuser ``postgres`` (trust
    authentication on loopback) to the ``postgres`` database."""

    def __init__(self, data_dir: Path, port: int, as_user: list[str], pg_ctl: str) -> None:
        self.data_dir = data_dir
        self.port = port
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        self._as_user = as_user
        self.pg_ctl = pg_ctl
        self._stopped = False

    def url_for(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        """Stop the cluster (immediate shutdown) and delete its directory. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(
                [*self._as_user, self.pg_ctl, "stop", "-D", str(self.data_dir), "-m", "immediate"],
                capture_output=True,
                timeout=30,
                check=False,
            )
        shutil.rmtree(self.data_dir.parent, ignore_errors=True)


def start_postgres() -> PostgresServer:
    """Create and start a throwaway PostgreSQL cluster; raise ServerStartError if it fails."""
    initdb, pg_ctl = _find_binary("initdb"), _find_binary("pg_ctl")
    if initdb is None or pg_ctl is None:
        raise ServerStartError(
            "PostgreSQL: initdb/pg_ctl not found in PATH or /usr/lib/postgresql/*/bin;"
            " run scripts/ensure-servers.sh (or `make servers`) to install them"
        )
    root = Path(tempfile.mkdtemp(prefix="automatosx-pg-"))
    data_dir, log = root / "data", root / "server.log"
    as_user: list[str] = []
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(root, ignore_errors=True)
            raise ServerStartError(
                "PostgreSQL: running as root and there is no `postgres` user to run the"
                " cluster as (initdb refuses root); create one or run the tests as non-root"
            ) from None
        os.chown(root, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    init = subprocess.run(
        [
            *as_user,
            initdb,
            "-D",
            str(data_dir),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
            "--no-instructions",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if init.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise ServerStartError(
            f"PostgreSQL: initdb failed (exit {init.returncode}):\n{_tail(init.stderr)}"
        )
    last = ""
    for _ in range(3):  # the free port may be taken between the probe and the bind
        port = free_port()
        options = f"-k {root} -h 127.0.0.1 -p {port} -F -c max_connections=200"
        started = subprocess.run(
            [
                *as_user,
                pg_ctl,
                "start",
                "-w",
                "-t",
                str(int(_START_TIMEOUT_S)),
                "-D",
                str(data_dir),
                "-l",
                str(log),
                "-o",
                options,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if started.returncode == 0:
            server = PostgresServer(data_dir, port, as_user, pg_ctl)
            atexit.register(server.stop)
            return server
        last = f"{started.stderr.strip()}\n{_tail(_read(log))}"
    shutil.rmtree(root, ignore_errors=True)
    raise ServerStartError(f"PostgreSQL: pg_ctl start failed:\n{last}")


def create_database(server: PostgresServer, name: str | None = None) -> str:
    """Create an empty database on ``server`` (with ``createdb``) and return its URL, so each
    test starts from an empty schema and no state leaks between tests."""
    name = name or f"t_{uuid.uuid4().hex[:16]}"
    createdb = os.path.join(os.path.dirname(server.pg_ctl), "createdb")
    if not os.access(createdb, os.X_OK):
        createdb = _find_binary("createdb")
    if createdb is None:
        raise ServerStartError("PostgreSQL: createdb not found next to initdb")
    done = subprocess.run(
        [createdb, "-h", "127.0.0.1", "-p", str(server.port), "-U", "postgres", name],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise ServerStartError(f"PostgreSQL: createdb {name} failed: {_tail(done.stderr)}")
    return server.url_for(name)


# -- Redis --------------------------------------------------------------------------------


class RedisServer:
    """A ``redis-server`` child process on 127.0.0.1. ``kill()`` sends SIGKILL (a crash);
    ``restart()`` starts it again on the same port, empty."""

    def __init__(self, binary: str, port: int, workdir: Path) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self._binary = binary
        self._workdir = workdir
        self._log = workdir / "redis.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _spawn(self) -> None:
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(
                [
                    self._binary,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "no",
                    "--dir",
                    str(self._workdir),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self._workdir,
            )
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise ServerStartError(
                    f"Redis: redis-server exited with {self._process.returncode} on port"
                    f" {self.port}:\n{_tail(_read(self._log))}"
                )
            if _redis_pong(self.port):
                return
            time.sleep(0.02)
        self.kill()
        raise ServerStartError(
            f"Redis: no PONG on port {self.port} within {_START_TIMEOUT_S:.0f}s:\n"
            f"{_tail(_read(self._log))}"
        )

    def kill(self) -> None:
        """SIGKILL the server and reap it (a crash, for failure tests)."""
        process = self._process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)

    def restart(self) -> None:
        """Start the server again on the same port (after ``kill()``/``stop()``)."""
        self.kill()
        self._spawn()

    def stop(self) -> None:
        """Terminate the server and delete its directory. Idempotent."""
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        shutil.rmtree(self._workdir, ignore_errors=True)


def _redis_pong(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def start_redis() -> RedisServer:
    """Start ``redis-server`` on a free loopback port; raise ServerStartError if it fails."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise ServerStartError(
            "Redis: redis-server not found in PATH; run scripts/ensure-servers.sh"
            " (or `make servers`) to install it"
        )
    last: ServerStartError | None = None
    for _ in range(3):  # the free port may be taken between the probe and the bind
        server = RedisServer(
            binary, free_port(), Path(tempfile.mkdtemp(prefix="automatosx-redis-"))
        )
        try:
            server._spawn()
        except ServerStartError as exc:
            server.stop()
            last = exc
            continue
        atexit.register(server.stop)
        return server
    assert last is not None
    raise last
