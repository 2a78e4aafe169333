"""Python 3.10 stand-ins for what 3.11's asyncio provides."""

from __future__ import annotations

import asyncio
from types import TracebackType

__all__ = ["timeout"]


class timeout:  # noqa: N801 - mirrors asyncio.timeout
    """``asyncio.timeout`` for 3.10: cancel the task after ``delay`` s, raise TimeoutError."""

    def __init__(self, delay: float | None) -> None:
        self._delay = delay
        self._handle: asyncio.TimerHandle | None = None
        self._expired = False

    async def __aenter__(self) -> timeout:
        task = asyncio.current_task()
        if self._delay is not None and task is not None:
            self._handle = asyncio.get_running_loop().call_later(self._delay, self._expire, task)
        return self

    def _expire(self, task: asyncio.Task[object]) -> None:
        self._expired = True
        task.cancel()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._handle is not None:
            self._handle.cancel()
        if self._expired and exc_type is asyncio.CancelledError:
            raise TimeoutError from exc
