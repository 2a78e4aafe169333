"""Pre-request steps: between intake and the attempt loop, a step may answer the request.

A :class:`PreRequest` (a response cache) is handed to the plan (``Plan.before``). After the
request started (its row exists), each step's :meth:`~PreRequest.lookup` is asked in order;
the first :class:`Answer` ends the request without an attempt: ``execute`` returns its
response, ``stream`` replays its chunks (or the response's text as one chunk) then the done
chunk. The request is recorded ``completed`` with ``RequestEnd.answered_by`` naming the step
and no attempt. After a request that ran its attempts completes, every step is told
(:meth:`~PreRequest.completed`) with the response and, for a stream, the texts of the
attempt that finished, so it can store them (an empty text is a tool call's place: the
response's ``tool_calls`` in order). A request that was asked about and ends any other way —
failed, cancelled, or its reply refused by the caller's ``response_model`` — is told
:meth:`~PreRequest.abandoned` instead (a cache's single flight lets its waiters go on).
Chunks replayed from an answer are marked ``cached=True``.

A step may also answer without a coroutine (the memory cache does): ``lookup_now(request,
stream)`` returns an :class:`Answer`, None, or an awaitable of either (when it must wait), and
``completed_now(request, response, chunks)`` stores synchronously; when a step has them, they
are called instead of ``lookup``/``completed``, which must do the same.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, NamedTuple, Protocol, runtime_checkable

if TYPE_CHECKING:
    from automatosx.schemas import ProviderRequest, ProviderResponse, ToolCall

__all__ = [
    "Answer",
    "PreRequest",
    "answer_before",
    "answer_now",
    "tell_abandoned",
    "tell_after",
    "tell_now",
]


class Answer(NamedTuple):
    """A step's answer to a request (a cache hit)."""

    response: ProviderResponse
    chunks: Sequence[str | ToolCall] | None = None
    """For a stream: the texts and tool calls to replay, in order (None: the response's
    content as one chunk)."""
    answered_by: str = "cache"
    """Recorded as the request's ``answered_by``."""


@runtime_checkable
class PreRequest(Protocol):
    async def lookup(self, request: ProviderRequest, stream: bool) -> Answer | None:
        """An answer to ``request`` (``stream``: which call it is), or None to send it."""
        ...

    async def completed(
        self, request: ProviderRequest, response: ProviderResponse, chunks: Sequence[str] | None
    ) -> None:
        """``request`` completed with ``response`` (and, streamed, these chunk texts)."""
        ...

    def abandoned(self, request: ProviderRequest) -> None:
        """``request`` (asked about, not answered) ended without a reply to store."""
        ...


LookupNow = Callable[["ProviderRequest", bool], "Answer | Awaitable[Answer | None] | None"]
CompletedNow = Callable[["ProviderRequest", "ProviderResponse", "Sequence[str] | None"], None]


async def answer_before(
    steps: Sequence[PreRequest], request: ProviderRequest, stream: bool
) -> Answer | None:
    """The first step's answer, or None (send the request)."""
    for step in steps:
        now: LookupNow | None = getattr(step, "lookup_now", None)
        if now is None:
            answer = await step.lookup(request, stream)
        else:
            found = now(request, stream)
            answer = found if found is None or isinstance(found, Answer) else await found
        if answer is not None:
            return answer
    return None


def answer_now(
    steps: Sequence[PreRequest], request: ProviderRequest, stream: bool
) -> Answer | Awaitable[Answer | None] | None:
    """:func:`answer_before` without a coroutine when the one step answers at once (the
    memory cache): an answer, None, or an awaitable of either."""
    if len(steps) == 1:
        now: LookupNow | None = getattr(steps[0], "lookup_now", None)
        if now is not None:
            return now(request, stream)
    return answer_before(steps, request, stream)


def tell_now(
    steps: Sequence[PreRequest],
    request: ProviderRequest,
    response: ProviderResponse,
    chunks: Sequence[str] | None,
) -> Awaitable[None] | None:
    """:func:`tell_after`, done at once when the one step stores synchronously (None), else
    an awaitable to await."""
    if len(steps) == 1:
        now: CompletedNow | None = getattr(steps[0], "completed_now", None)
        if now is not None:
            now(request, response, chunks)
            return None
    return tell_after(steps, request, response, chunks)


async def tell_after(
    steps: Sequence[PreRequest],
    request: ProviderRequest,
    response: ProviderResponse,
    chunks: Sequence[str] | None,
) -> None:
    """The request completed after its attempts: every step may store the answer."""
    for step in steps:
        now: CompletedNow | None = getattr(step, "completed_now", None)
        if now is None:
            await step.completed(request, response, chunks)
        else:
            now(request, response, chunks)


def tell_abandoned(steps: Sequence[PreRequest], request: ProviderRequest) -> None:
    """The request ended without a reply to store (synchronous: safe under cancellation)."""
    for step in steps:
        step.abandoned(request)
