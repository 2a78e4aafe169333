"""A streamed request's own transitions: :class:`StreamRun`, the ``Run`` of ``stream()``.

The stream wrapper (``stream.py``) does the I/O and hands each chunk in (:meth:`deliver`,
:meth:`deliver_tool_call`) and the stream's end (:meth:`streamed`); the run keeps the chunks,
the restart marks and the machine. Everything else is :class:`~automatosx._routing.run.Run`'s.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from automatosx._clock import now_ms
from automatosx._core import Event
from automatosx._routing.run import Run
from automatosx.schemas import ProviderResponse, StreamChunk, ToolCall

if TYPE_CHECKING:
    from automatosx._routing.plan import Candidate, Deployment, Plan
    from automatosx.observe import RequestInfo
    from automatosx.providers.base import StreamEnd
    from automatosx.schemas import ProviderRequest

__all__ = ["StreamRun"]

_CHUNK = Event.receive_stream_chunk  # positional: PyO3 parses keywords at ~0.25 us
_COMPLETE = Event.stream_complete
_clock = time.time_ns
_chunk_of = StreamChunk._chunk


Source = tuple[str | None, str | None, int | None]
_NO_SOURCE: Source = (None, None, None)
_BASE: dict[str, Any] = dict(StreamChunk._chunk("", 0, "", False, 0).__dict__)
_FIELDS = frozenset(_BASE)  # every field is set: each chunk and response gets its own copy
_RESPONSE_FIELDS = frozenset(ProviderResponse.model_fields)
_new = object.__new__
_setattr = object.__setattr__


class StreamRun(Run):
    """The Run of a streamed request. ``source`` is the current attempt's (deployment,
    model, number) that its chunks carry, built once per attempt."""

    __slots__ = ("source", "template")

    def __init__(
        self,
        plan: Plan,
        request: ProviderRequest,
        cands: tuple[Candidate, ...],
        labels: list[str],
        stream: bool,
        info: RequestInfo | None,
    ) -> None:
        Run.__init__(self, plan, request, cands, labels, stream, info)  # no *args repacking
        self.source: Source = _NO_SOURCE
        self.template = _BASE  # the current attempt's chunk fields (deliver copies them)

    def _from(self, source: Source) -> None:
        self.source = source
        template = self.template = _BASE.copy()
        template["request_id"] = self.request.request_id
        template["deployment"], template["model"], template["attempt"] = source

    def begin(self, dep: Deployment) -> int:
        started = Run.begin(self, dep)  # (super() makes an object a call)
        source = self.source = (dep.name, self.model, self.n)
        template = self.template = _BASE.copy()
        template["request_id"] = self.request.request_id
        template["deployment"], template["model"], template["attempt"] = source
        return started

    async def hedge_won(self, first: Deployment, error: BaseException | None) -> None:
        side = self.side
        assert side is not None
        number = self.n  # the hedge began last: nothing else started since
        await super().hedge_won(first, error)
        self._from((side[0].name, side[1], number))

    def completion(self, response: ProviderResponse) -> Event:
        usage = response.tokens
        return _COMPLETE(
            usage.input_tokens,
            usage.output_tokens,
            usage.total_tokens,
            (time.perf_counter_ns() - self.started_ns) // 1_000_000,
        )

    def deliver(self, text: str) -> StreamChunk:
        """A chunk of text (or, empty, a tool call's place) reaches the caller."""
        index = self.delivered
        self.machine.transition(_CHUNK(text, index))
        ts = _clock() // 1_000_000
        chunks = self.chunks
        chunks.append((len(chunks), text, ts))
        self.delivered = index + 1
        if self.restarting:
            self.restarting = False
            self.restarts += 1
            return StreamChunk._restarted(self.request.request_id, index, text, ts, self.source)
        if self.source is _NO_SOURCE:  # no attempt: a pre-request step's answer
            return _chunk_of(self.request.request_id, index, text, False, ts, _NO_SOURCE)
        data = self.template.copy()  # what StreamChunk._chunk makes, minus two calls a chunk
        data["index"] = index
        data["chunk"] = text
        data["timestamp"] = ts
        chunk = _new(StreamChunk)
        _setattr(chunk, "__dict__", data)
        _setattr(chunk, "__pydantic_fields_set__", set(_FIELDS))
        _setattr(chunk, "__pydantic_extra__", None)
        _setattr(chunk, "__pydantic_private__", None)
        return chunk

    def deliver_tool_call(self, call: ToolCall) -> StreamChunk:
        """A completed tool call as a chunk of its own: empty text, the next index (the
        machine and the recorded chunks count it as empty text, so indices stay contiguous)."""
        chunk = self.deliver("")
        chunk.__dict__["tool_call"] = call
        return chunk

    async def streamed(self, dep: Deployment, end: StreamEnd) -> ProviderResponse:
        """The stream at ``dep`` reached its end: the request completes (the response built
        in place, as ``ProviderResponse._trusted`` would, and priced once)."""
        self.done_inflight()
        m = self.machine
        usage = end.usage
        total = usage.total_tokens
        duration = (time.perf_counter_ns() - self.started_ns) // 1_000_000
        m.transition(_COMPLETE(usage.input_tokens, usage.output_tokens, total, duration))
        ctx = m.context
        model = end.model or ctx.model
        prices = self.plan.prices
        calls = end.tool_calls
        response = _new(ProviderResponse)
        _setattr(
            response,
            "__dict__",
            {  # every field, in order
                "request_id": self.request.request_id,
                "provider": dep.name,
                "model": model,
                "content": ctx.response,
                "tokens": usage,
                "finish_reason": end.finish_reason,
                "duration": duration,
                "cost": None if prices is None else prices.cost(dep.name, model, usage),
                "metadata": None,
                "created_at": _clock() // 1_000_000,
                "tool_calls": list(calls) if calls else [],
                "parsed": None,
                "cached": False,
                "saved_cost": None,
            },
        )
        _setattr(response, "__pydantic_fields_set__", set(_RESPONSE_FIELDS))
        _setattr(response, "__pydantic_extra__", None)
        _setattr(response, "__pydantic_private__", None)
        self.succeeded(dep, response)  # priced already: it settles the guards alone
        if self.info is not None:
            await self.ended(dep, self.began, None)
            await self.finish(response)
        return response

    def final_texts(self) -> list[str]:
        """The texts of the attempt that finished the stream (after any restart)."""
        chunks = self.chunks
        return [text for _, text, _ in chunks[len(chunks) - self.delivered :]]

    def done_chunk(self) -> StreamChunk:
        if self.source is _NO_SOURCE:
            rid = self.request.request_id
            return StreamChunk._chunk(rid, self.delivered, "", True, now_ms(), _NO_SOURCE)
        data = self.template.copy()  # what StreamChunk._chunk makes, minus two calls
        data["index"] = self.delivered
        data["done"] = True
        data["timestamp"] = _clock() // 1_000_000
        chunk = _new(StreamChunk)
        _setattr(chunk, "__dict__", data)
        _setattr(chunk, "__pydantic_fields_set__", set(_FIELDS))
        _setattr(chunk, "__pydantic_extra__", None)
        _setattr(chunk, "__pydantic_private__", None)
        return chunk
