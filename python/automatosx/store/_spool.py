"""The spool: where write-behind writes go while the database does not take them.

When a caller has waited ``max_wait_ms`` for the writer (a frozen server, a partition), the
queue starts *spooling*: that write and every later one (so each request's writes keep their
order) are appended to a local file (``0600``, one JSON line each) and to an in-memory copy,
and the caller goes on at once. The writer thread drains the spool after the writes queued
before it, when the database takes writes again; once the spool is empty the file is emptied
and spooling stops. A process that dies while spooling leaves its file behind: the next store
opened on the same database (``SQLStore.open``) replays the files of owners that are gone,
then deletes them. Nothing is dropped silently: a spooled write the database then refuses is
reported like any other write failure.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import threading
from collections import deque
from collections.abc import Iterator
from typing import Any, TextIO

from automatosx.store._schema import REPLAYS, Write

__all__ = ["Spool", "spool_prefix", "spooled_files", "read_spool"]


def spool_prefix(directory: str, database: str) -> str:
    """The spool files' path prefix for one database (``database``: its identity, e.g. the
    URL without its password, or the SQLite file's absolute path)."""
    digest = hashlib.sha256(database.encode()).hexdigest()[:16]
    return os.path.join(directory, f"automatosx-spool-{digest}-")


def spooled_files(prefix: str) -> list[tuple[str, int]]:
    """``(path, pid)`` of the spool files left for a database, oldest first."""
    found = []
    for path in sorted(glob.glob(prefix + "*.jsonl"), key=os.path.getmtime):
        pid = path[len(prefix) :].split("-", 1)[0]
        if pid.isdigit():
            found.append((path, int(pid)))
    return found


def read_spool(path: str) -> Iterator[tuple[Write, Any, bool, str | None]]:
    """The writes of a spool file, in order, in their replay form (some may have been
    committed before the process died: they are skipped, not written twice); a torn last
    line is skipped."""
    with open(path, encoding="utf-8") as file:
        for line in file:
            try:
                label, row, many, key = json.loads(line)
            except ValueError:
                continue
            write = REPLAYS.get(label)
            if write is not None:
                yield write, [tuple(r) for r in row] if many else tuple(row), bool(many), key


class Spool:
    """One store's spool: ``ops`` (drained by the writer thread) and its file copy."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.lock = threading.Lock()  # the caller appends, the writer drains
        self.active = False
        self.ops: deque[Any] = deque()
        self.total = 0  # writes ever spooled
        self._file: TextIO | None = None

    def append(self, op: Any, write: Write, row: Any, many: bool, key: str | None) -> None:
        """Under ``lock``, with ``active`` set: keep the op and its line in the file."""
        if self._file is None:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self._file = os.fdopen(fd, "a", encoding="utf-8")
        self._file.write(json.dumps([write.label, row, many, key]) + "\n")
        self._file.flush()
        self.ops.append(op)
        self.total += 1

    def take(self, limit: int) -> list[Any]:
        with self.lock:
            return [self.ops.popleft() for _ in range(min(limit, len(self.ops)))]

    def drained(self) -> None:
        """After the writer committed what it took: if nothing is left, stop spooling."""
        with self.lock:
            if self.ops:
                return
            self.active = False
            self.close(remove=True)

    def close(self, *, remove: bool) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None
        if remove:
            with contextlib.suppress(OSError):
                os.unlink(self.path)
