"""The write queue's reports: each lost write (or left-out value) logged, counted, kept for
``drain_write_errors()`` and passed to ``on_write_error`` at once; the failures of
write-behind writes raised later by ``raise_failures()`` (``flush``/``close``)."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable

from automatosx.errors import StoreError, redact
from automatosx.store.base import WriteFailure

__all__ = ["Reports", "describe_error"]

logger = logging.getLogger("automatosx.store")

_MAX_KEPT_FAILURES = 10
_MAX_REPORTED = 1_000


def describe_error(exc: BaseException) -> str:
    """An exception as a failure report shows it: type and message, secrets redacted, short."""
    return f"{type(exc).__name__}: {redact(str(exc))[:300]}"


class Reports:
    """Mixed into :class:`~automatosx.store._queue.WriteQueue`."""

    def __init__(self, on_write_error: Callable[[WriteFailure], object] | None) -> None:
        self.write_errors = 0
        self._on_write_error = on_write_error
        self._failures: list[StoreError] = []
        self._failure_count = 0
        self._reported: deque[WriteFailure] = deque(maxlen=_MAX_REPORTED)

    def keep(self, error: StoreError) -> None:
        """A write-behind failure, raised by the next ``raise_failures``."""
        self._failure_count += 1
        if len(self._failures) < _MAX_KEPT_FAILURES:
            self._failures.append(error)

    def raise_failures(self) -> None:
        """Raise the failures kept since the last call (write-behind) as one StoreError."""
        if not self._failure_count:
            return
        count, first = self._failure_count, self._failures[0]
        self._failures, self._failure_count = [], 0
        raise StoreError(
            f"{count} write(s) failed since the last flush; the first: {first}"
        ) from first

    def drain_write_errors(self) -> list[WriteFailure]:
        reported = list(self._reported)
        self._reported.clear()
        return reported

    def report(self, key: str | None, kind: str, exc: BaseException) -> WriteFailure:
        """Report one lost write (or left-out value) at once: log, count, keep, call back."""
        failure = WriteFailure(
            request_id=key, kind=kind, error=describe_error(exc), at_ms=time.time_ns() // 10**6
        )
        self.write_errors += 1
        self._reported.append(failure)
        logger.error("store write failed: %s (request %s): %s", kind, key or "-", failure.error)
        if self._on_write_error is not None:
            try:
                self._on_write_error(failure)
            except Exception:
                logger.exception("the store's on_write_error callback raised")
        return failure
