"""What a SQL backend supplies to the store engine (``_engine.py``): a :class:`Dialect`.

The engine does everything else once: the write-behind queue (``_queue.py``), the writer
thread that batches, groups, replays and reconnects (``_batch_writer.py``), the lifecycle,
the ``save_*`` methods and the reads (``_reads.py``). A dialect is SQL text, connecting,
writing one batch, and migrating. ``tests/store/test_store_engine.py`` runs the engine over a
dialect that keeps rows in memory.

Threads: ``open``, ``fetch``, ``claim`` and ``close`` run on the caller's event loop; the
others on the writer thread's own loop (a busy or frozen caller's loop never delays a commit).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from automatosx.store._schema import Write

__all__ = ["Dialect", "Group", "Op"]

Group = tuple[Write, list[Sequence[Any]]]
"""One write's rows in a batch, in FIFO order."""
Op = tuple[Write, Any, bool]
"""One queued write as replayed alone: the write, its row (or rows when ``many``), many."""


class Dialect(Protocol):
    """One database's SQL, connections and batch write."""

    name: str
    """The migrations folder (``automatosx/migrations/<name>/``) and the name in messages."""
    lanes: int
    """Writer connections that write one large batch together (split by request id)."""

    def mark(self, n: int) -> str:
        """The ``n``-th (1-based) query parameter's placeholder: ``?`` or ``$n``."""
        ...

    async def open(self) -> None:
        """Connect (for reads), migrate. Raise StoreError/MigrationError naming the cause."""
        ...

    async def close(self) -> None:
        """Release what ``open`` made (after the writer has stopped)."""
        ...

    async def fetch(self, queries: Sequence[tuple[str, Sequence[Any]]]) -> list[list[Any]]:
        """Run read queries (one consistent snapshot if the database has them)."""
        ...

    async def claim(self, owner: str, host: str, pid: int, lease_ms: int) -> int:
        """Register ``owner``'s lease, then finalise the unfinished requests of owners whose
        lease expired (or, on this host, whose process is gone): ``failed``, error code
        ``INTERRUPTED``, ``failed`` appended to the history. Return how many."""
        ...

    async def heartbeat(self, conn: Any, owner: str, lease_ms: int) -> None:
        """Renew ``owner``'s lease on a writer connection."""
        ...

    async def release(self, conn: Any, owner: str) -> None:
        """Drop ``owner``'s lease at a clean close, on a writer connection."""
        ...

    async def connect_writer(self) -> Any:
        """A connection for the writer thread."""
        ...

    async def close_writer(self, conn: Any) -> None: ...

    def drop_writer(self, conn: Any) -> None:
        """Abandon a writer connection that failed (no round trip)."""
        ...

    async def write(self, conn: Any, groups: Sequence[Group]) -> None:
        """Write the groups in ONE transaction, in order. On any error, roll back and raise."""
        ...

    async def replay(self, conn: Any, ops: Sequence[tuple[int, Op]]) -> dict[int, BaseException]:
        """Write each op in its own savepoint of one transaction; return the ops that failed
        by index. Raise only if the connection itself failed."""
        ...

    def lost(self, conn: Any, exc: BaseException) -> bool:
        """Whether ``exc`` means the connection is gone (reconnect, retry once)."""
        ...

    def transient(self, exc: BaseException) -> bool:
        """Whether the batch may simply be retried (a deadlock, a serialization failure)."""
        ...

    def scrub(self, exc: BaseException) -> BaseException:
        """``exc`` without the row values the driver or server echo in messages."""
        ...
