"""Work a worker thread does while the event loop must keep running: with the cyclic garbage
collector paused.

Importing an SDK allocates hundreds of thousands of objects; each full collection that
triggers holds the GIL — and so stalls the event loop's thread — for 50-100 ms. Pausing the
collector for the import keeps the loop's longest stall to the import's own longest C call.
Afterwards the objects alive then (the SDKs' modules, classes and validators: they live as
long as the process) are moved to the collector's permanent generation (``gc.freeze()``, as
servers do after start-up), so the first full collection after the import does not walk them
all at once — that alone held the GIL for ~110 ms. Then the collector is re-enabled (unless
it was off already).
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import TypeVar

__all__ = ["without_gc"]

T = TypeVar("T")


def without_gc(fn: Callable[[], T]) -> T:
    """``fn()`` with automatic garbage collection paused."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return fn()
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
