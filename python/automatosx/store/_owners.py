"""Owners: which open store wrote a request, and whether it is still there.

Each open store registers a row in ``store_owners`` (host, pid, a lease its writer thread
renews every third of ``lease_ms``). An owner is *gone* when its lease lapsed, or when it is
on this host and its process no longer exists (a SIGKILL is seen at once, not after a lease).
When a store opens, the unfinished requests (``state`` not ``completed``/``failed``) of gone
owners, and of owners with no lease row (a store that closed while they were in flight), are
finalised: ``failed``, ``error_code`` :data:`INTERRUPTED`, ``failed`` appended to the
history. A live process's rows are never touched, however old.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["INTERRUPTED", "INTERRUPTED_ERROR", "gone_owners", "interrupted_history"]

INTERRUPTED = "INTERRUPTED"
INTERRUPTED_ERROR = "the process recording this request ended before it finished"


def gone_owners(
    owners: Iterable[Sequence[Any]], host: str, now_ms: int, *, exclude: str
) -> list[str]:
    """Of ``(owner, host, pid, heartbeat_at, lease_ms)`` rows, the owners that are gone."""
    gone = []
    for owner, owner_host, pid, heartbeat_at, lease_ms in owners:
        if owner == exclude:
            continue
        if int(heartbeat_at) + int(lease_ms) < now_ms or (
            owner_host == host and not _alive(int(pid))
        ):
            gone.append(str(owner))
    return gone


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def interrupted_history(history: str | None) -> str:
    """The history JSON with ``failed`` appended (a history that cannot be read: just it)."""
    try:
        states = json.loads(history) if history else []
        if not isinstance(states, list):
            states = []
    except ValueError:
        states = []
    return json.dumps([*states, "failed"], separators=(",", ":"))
