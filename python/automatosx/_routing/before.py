"""Pre-request steps: between intake and the attempt loop, a step may answer the request.

A :class:`PreRequest` (a response cache) is handed to the plan (``Plan.before``). After the
request started (its row exists), each step's :meth:`~PreRequest.lookup` is asked in order;
the first :class:`Answer` ends the request without an attempt: ``execute`` returns its
response, ``stream`` replays its chunks (or the response's text as one chunk) then the done
chunk. The request is recorded ``completed`` with ``RequestEnd.answered_by`` naming the step
and no attempt. After a request that ran its attempts completes, every step is told
(:meth:`~PreRequest.completed`) with the response and, for a stream, the texts of the
attempt that finished, so it can store them; a failed or cancelled request tells nobody.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from automatosx.schemas import ProviderRequest, ProviderResponse

__all__ = ["Answer", "PreRequest", "answer_before", "tell_after"]


@dataclass(frozen=True, slots=True)
class Answer:
    """A step's answer to a request (a cache hit)."""

    response: ProviderResponse
    chunks: Sequence[str] | None = None
    """For a stream: the texts to replay (None: the response's content as one chunk)."""
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


async def answer_before(
    steps: Sequence[PreRequest], request: ProviderRequest, stream: bool
) -> Answer | None:
    """The first step's answer, or None (send the request)."""
    for step in steps:
        answer = await step.lookup(request, stream)
        if answer is not None:
            return answer
    return None


async def tell_after(
    steps: Sequence[PreRequest],
    request: ProviderRequest,
    response: ProviderResponse,
    chunks: Sequence[str] | None,
) -> None:
    """The request completed after its attempts: every step may store the answer."""
    for step in steps:
        await step.completed(request, response, chunks)
