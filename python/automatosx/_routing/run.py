"""One request's state, and its only writer: :class:`Run`.

``Run`` holds the request's Rust ``ProviderStateMachine`` and all the request keeps; nothing
else drives the machine or writes those fields. The attempt loop (``attempt.py``), the stream
wrapper (``stream.py``) and the hedge race (``hedge.py``) do I/O and call its methods (each a
transition with its guard bookkeeping and observer events, ``notify.py``). A failure goes to
``policy.decide``, the decision to ``policy.machine_events``."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from automatosx._core import Event, InvalidTransitionError, ProviderStateMachine
from automatosx._routing import notify
from automatosx._routing.admission import NO_ADMISSIONS, Admissions, Held, Verdict, admit, admit_now
from automatosx._routing.estimate import delivered_tokens, prompt_estimate, token_estimate
from automatosx._routing.limits import retries_of
from automatosx._routing.lost import lost
from automatosx._routing.notify import tell
from automatosx._routing.policy import (
    RAISE,
    AttemptContext,
    Retry,
    decide,
    machine_events,
)
from automatosx._routing.waits import WAITED_NS, waited
from automatosx.errors import AllProvidersFailedError, Attempt, CircuitOpenError, ProviderError
from automatosx.guards import RejectRequest
from automatosx.observe import AttemptInfo, RequestEnd, RequestInfo
from automatosx.schemas import ProviderRequest, ProviderResponse

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from automatosx._routing.before import Answer
    from automatosx._routing.plan import Candidate, Deployment, Plan

__all__ = ["Run"]

log = logging.getLogger("automatosx")

_VALIDATION_PASSED = Event.validation_passed()
_SEND_REQUEST = Event.send_request()
_INITIATE = Event.initiate_request  # the per-request events, called with positional arguments
_RECEIVE = Event.receive_response
_CANCELLED = Event.request_failed(
    error="cancelled by the caller", code="CANCELLED", retryable=False
)


class Run:
    """One request's trip through the candidates: the only owner of its state."""

    __slots__ = (
        "admissions",
        "attempt_info",
        "attempts",
        "began",
        "cands",
        "chunks",
        "delivered",
        "estimate",
        "inflight",
        "info",
        "labels",
        "machine",
        "n",
        "plan",
        "pos",
        "recorded",
        "request",
        "restarting",
        "restarts",
        "sent",
        "side",
        "started_ns",
        "stream",
    )

    def __init__(
        self,
        plan: Plan,
        request: ProviderRequest,
        cands: tuple[Candidate, ...],
        labels: list[str],
        stream: bool,
        info: RequestInfo | None,
    ) -> None:
        first = cands[0][0]
        self.plan, self.cands, self.labels, self.pos = plan, cands, labels, 0
        self.stream = stream  # which call this is; the adapters ignore ``request.stream``
        self.request = request
        self.sent = request  # the request as sent to the current candidate
        mine = request.max_retries  # positional: PyO3 parses keywords at ~0.25 us a call
        self.machine = ProviderStateMachine(
            request.request_id, first.max_retries if mine is None else mine, labels
        )
        self.info = info
        self.attempts: list[Attempt] = []
        self.chunks: list[tuple[int, str, int]] = []
        self.estimate = 0
        self.inflight: Deployment | None = None
        self.attempt_info: AttemptInfo | None = None
        self.side: tuple[Deployment, str, int, AttemptInfo | None] | None = None  # a hedge
        self.admissions = Admissions() if plan.attempt_guards else NO_ADMISSIONS
        self.recorded = False  # the request's end went to the observers
        self.n = 0
        self.delivered = 0  # chunks of the current attempt that reached the caller
        self.restarting, self.restarts = False, 0  # restarting: after a failure mid-reply
        self.started_ns = time.perf_counter_ns()
        self.began = self.started_ns  # the current attempt's start

    # -- the request's start and end -----------------------------------------------------------

    async def start(self) -> None:
        req, m, first = self.request, self.machine, self.cands[0][0].name
        assert req.model is not None  # the intake set it
        n, tokens, temperature = len(req.messages), req.max_tokens, req.temperature
        m.transition(_INITIATE(first, req.model, n, tokens, temperature, self.stream))
        m.transition(_VALIDATION_PASSED)
        calls = self.plan.observers.request_started_calls
        if calls and self.info is not None and (told := tell(calls, self.info)):
            await told

    async def finish(
        self, response: ProviderResponse | None = None, answered_by: str | None = None
    ) -> None:
        self.recorded = True
        if self.info is not None and self.plan.observers.request_finished_calls:
            end = RequestEnd.of(
                self.machine, response, self.chunks, self.n, self.restarts, answered_by
            )
            if told := tell(self.plan.observers.request_finished_calls, self.info, end):
                await told

    async def all_failed(self) -> Exception:
        await self.finish()
        refusals = [getattr(a.error, "budget", None) for a in self.attempts]  # all: a budget's
        if refusals and None not in refusals:
            return refusals[0]  # type: ignore[return-value]
        return AllProvidersFailedError(self.attempts, self.request.request_id)

    async def admit(self, dep: Deployment, model: str, patience_ms: int, side: bool) -> bool:
        """Ask ``dep``'s admission chain for an attempt (``side``: a hedge). False: skip it
        (the main attempt's skip is recorded). An attempt guard's rejection ends the request
        at once: recorded failed with the guard's error, which is raised."""
        began, n = time.perf_counter_ns(), self.n + 1
        held: Held | None = None
        answer: Verdict = await dep.guard.admit(self.token_estimate, patience_ms)
        if answer is None and dep.extra_guards:  # then its attempt guards (admission.py)
            held = admit_now(dep, model, self.request, n)
            if held is None:  # the chain must be awaited
                answer, held = await admit(dep, model, self.request, n, self.token_estimate)
        if time.perf_counter_ns() - began >= WAITED_NS:  # a wait: told (waits.py)
            await waited(self.plan, self.info, dep, model, self.request, n, began, answer is None)
        if answer is None:
            if held:
                self.admissions.keep(held, side)
            return True
        if isinstance(answer, RejectRequest):
            error = answer.error
            code = getattr(error, "code", None) or "REJECTED"
            self.machine.transition(
                Event.request_failed(error=str(error), code=str(code), retryable=False)
            )
            await self.finish()
            raise error
        if not side:
            await self.skipped(dep, answer)
        return False

    async def cancelled(self) -> None:
        """The caller cancelled (or the router closed): the request ends CANCELLED; the
        attempt under way and a hedge beside it are recorded cancelled and their guards
        released."""
        m = self.machine
        if self.recorded:
            return
        if m.is_terminal:  # cancelled between its last transition and its record
            await self.finish()
            return
        m.transition(_CANCELLED)
        dep = self.done_inflight()
        if dep is not None:
            dep.guard.released()  # a cancel says nothing of the provider
            err = ProviderError("cancelled by the caller", provider=dep.name, code="CANCELLED")
            self.admissions.settle("cancelled", delivered=self.delivered_tokens())
            await self.ended(dep, self.began, err)
        if self.side is not None:
            await self.side_ended(None, cancelled=True)
        await self.finish()

    # -- one attempt ---------------------------------------------------------------------------

    @property
    def model(self) -> str:
        return self.machine.context.model

    def begin(self, dep: Deployment) -> int:
        """An attempt at ``dep`` starts now (in flight there); returns its start."""
        started = self.began = time.perf_counter_ns()
        self.n += 1
        self.inflight = dep
        dep.stats.in_flight += 1
        return started

    def attempt_began(self, dep: Deployment, started: int) -> Awaitable[None] | None:
        """Tell the observers (when observed) that the attempt begun at ``started`` starts:
        None when they are done, else what to await."""
        assert self.info is not None
        model = self.sent.model or self.model  # the current candidate's (as the machine has it)
        attempt = AttemptInfo(self.n, dep.name, model, started, self.restarting, kind=dep.kind)
        self.attempt_info = attempt
        calls = self.plan.observers.attempt_started_calls
        return tell(calls, self.info, attempt) if calls else None

    def done_inflight(self) -> Deployment | None:
        """The attempt under way has ended: no longer in flight at its deployment."""
        dep = self.inflight
        if dep is not None:
            self.inflight = None
            dep.stats.in_flight -= 1
        return dep

    def token_estimate(self) -> int:
        """Tokens to reserve (prompt chars / 4 + max_tokens), computed once, when asked."""
        if not self.estimate:  # with attempt guards: the walk a budget reads too
            walk = prompt_estimate if self.plan.attempt_guards else token_estimate
            self.estimate = walk(self.request)
        return self.estimate

    def delivered_tokens(self) -> int:  # the current attempt's delivered text, estimated
        return delivered_tokens(self.chunks, self.delivered) if self.delivered else 0

    def answered(self, dep: Deployment, started: int) -> None:
        """The attempt answered (a reply; a stream's first chunk)."""
        if self.plan.observes_latency:  # a latency balancer; sticky routing's pins
            self.plan.balancers[dep.group].observe(
                dep, (time.perf_counter_ns() - started) / 1e6, self.request
            )
        if not self.stream and (flying := self.inflight) is not None:  # done_inflight, inline
            self.inflight = None  # (a stream stays in flight while it streams)
            flying.stats.in_flight -= 1

    async def skipped(self, dep: Deployment, reason: ProviderError | CircuitOpenError) -> None:
        m = self.machine
        m.transition(Event.request_failed(error=str(reason), code=reason.code, retryable=False))
        self.attempts.append(Attempt(dep.name, m.context.model, reason, 0))
        log.debug("skipping %s: %s", dep.name, reason)
        if self.info is not None and (
            told := notify.candidate_skipped(self.plan, self.info, dep, m.context.model, reason)
        ):
            await told

    def advance(self) -> bool:
        """Next candidate (``fallback_to_provider``); False: none left, or the machine refuses."""
        self.pos += 1
        if self.pos >= len(self.cands):
            return False
        dep, model = self.cands[self.pos]
        label = self.labels[self.pos - 1]
        restart = {"restart": True} if self.delivered > 0 else {}
        retries = retries_of(self.request, dep)
        try:
            self.machine.transition(
                Event.fallback_to_provider(
                    provider=label, model=model, max_retries=retries, **restart
                )
            )
        except InvalidTransitionError:
            self.pos = len(self.cands)
            return False
        self.sent = self.request._rerouted(dep.name, model, self.request.stream)
        return True

    async def ended(
        self,
        dep: Deployment,
        started: int,
        error: BaseException | None,
        decision: str | None = None,
        delay_ms: int | None = None,
    ) -> None:
        """Tell the observers how the attempt ended."""
        info = self.attempt_info
        if info is None or self.info is None:
            return
        self.attempt_info = None
        if told := notify.attempt_ended(
            self.plan, self.info, dep, info, started, error, decision, delay_ms
        ):
            await told

    async def failed(self, dep: Deployment, err: ProviderError, started: int) -> bool:
        """Settle a failed attempt and act on the policy's decision: True to go on (after a
        retry delay, or at the next candidate), False when the candidates are used up.
        Raises ``err`` when the policy says so."""
        self.done_inflight()
        m = self.machine
        ctx = m.context
        duration = (time.perf_counter_ns() - started) // 1_000_000
        self.attempts.append(Attempt(dep.name, ctx.model, err, duration))
        streamed = self.delivered > 0
        received = streamed or bool(getattr(err, "received", False))
        self.admissions.settle(
            "failure", delivered=self.delivered_tokens(), before_any_byte=not received
        )
        decision = decide(
            err,
            AttemptContext(
                retry_count=ctx.retry_count,
                max_retries=retries_of(self.request, dep),
                backoff=self.plan.backoff,
                streamed=streamed,
                restart_streams=self.plan.restart_streams,
                fallback_on_content_filter=self.plan.fallback_on_content_filter,
            ),
        )
        cool = decision.cool_ms
        dep.guard.failed(decision.breaker == "failure", cool, cool is not None)
        for event in machine_events(decision, err, streamed):
            m.transition(event)
        action = decision.action
        if streamed and action is not RAISE:
            self.restarting = True
        if type(action) is Retry:
            await self.ended(dep, started, err, "retry", action.delay_ms)
            await asyncio.sleep(action.delay_ms / 1000)
            m.transition(_SEND_REQUEST)
            self.delivered = 0
            return True
        if action is RAISE:
            await self.ended(dep, started, err, "raise")
            await self.finish()
            raise err
        await self.ended(dep, started, err, "fallback")
        going_on = self.advance()
        self.delivered = 0
        return going_on

    def succeeded(self, dep: Deployment, response: ProviderResponse) -> None:
        """Settle a successful attempt: guards (breaker, limiter, reservations), price."""
        usage = response.tokens
        dep.guard.succeeded(self.estimate, usage.total_tokens)
        if response.cost is None:
            prices = self.plan.prices
            if prices is not None:  # a float or None: no validation needed (and ~1 us less)
                response.__dict__["cost"] = prices.cost(dep.name, response.model, usage)
        if self.admissions is not NO_ADMISSIONS:
            self.admissions.succeeded(usage)

    async def replied(self, dep: Deployment, response: ProviderResponse) -> ProviderResponse:
        """``execute``'s attempt at ``dep`` returned ``response``: the request completes."""
        self.succeeded(dep, response)
        self.machine.transition(self.completion(response))
        if self.info is not None:
            await self.ended(dep, self.began, None)
            await self.finish(response)
        return response

    def completion(self, response: ProviderResponse) -> Event:
        """The machine's event for the request's reply (a stream's is ``stream_complete``)."""
        usage = response.tokens
        return _RECEIVE(
            response.content,
            usage.input_tokens,
            usage.output_tokens,
            usage.total_tokens,
            response.duration,
        )

    async def answered_before(self, answer: Answer) -> ProviderResponse:
        """A pre-request step answered (a stream's chunks were delivered already): the
        request completes with no attempt."""
        response = answer.response
        rid = self.request.request_id
        if response.request_id != rid:
            response = response.model_copy(update={"request_id": rid})
        self.machine.transition(self.completion(response))
        if self.info is None:  # no observer to tell: finish's one effect, without its await
            self.recorded = True
        else:
            await self.finish(response, answer.answered_by)
        return response

    # -- a hedge beside the first attempt (hedge.py races; the bookkeeping is here) ------------

    async def side_began(self, dep: Deployment, model: str) -> ProviderRequest:
        """A hedge at ``dep`` starts beside the first attempt; returns what to send it."""
        started = time.perf_counter_ns()
        dep.stats.in_flight += 1
        self.n += 1
        info = None
        if self.info is not None:
            info = AttemptInfo(self.n, dep.name, model, started, kind=dep.kind)
        self.side = (dep, model, started, info)
        return self.request._rerouted(dep.name, model, self.request.stream)

    async def side_ended(self, error: BaseException | None, cancelled: bool = False) -> None:
        """The hedge lost the race (``error`` None: it was cancelled), failed, or the caller
        cancelled: recorded as an attempt of its own, its guards settled."""
        side = self.side
        if side is None:
            return
        self.side = None
        dep, model, started, info = side
        dep.stats.in_flight -= 1
        why = "cancelled by the caller" if cancelled else "another attempt answered first"
        err, outcome = lost(self.attempts, self.request, dep, model, started, error, why, cancelled)
        self.admissions.settle(outcome, side=True, before_any_byte=True)  # type: ignore[arg-type]
        if (
            info is not None
            and self.info is not None
            and (told := notify.side_attempt(self.plan, self.info, dep, info, err, outcome))
        ):
            await told

    async def hedge_won(self, first: Deployment, error: BaseException | None) -> None:
        """The hedge answered first: the first attempt is recorded (cancelled, or its
        failure) and the machine moves to the hedge's candidate as a fallback."""
        side = self.side
        assert side is not None
        self.side = None
        hedge, _, started_ns, hedge_info = side
        self.done_inflight()
        why = "the hedge answered first"
        err, outcome = lost(self.attempts, self.request, first, self.model, None, error, why)
        self.admissions.settle(outcome, before_any_byte=True)  # type: ignore[arg-type]
        self.machine.transition(
            Event.request_failed(error=str(err), code=err.code, retryable=False)
        )
        if self.info is not None and self.attempt_info is not None:
            self.attempt_info.outcome = outcome  # type: ignore[assignment]
            await self.ended(first, self.began, err, "fallback")
        self.advance()
        self.inflight = hedge  # already counted in flight when it began
        self.admissions.promote()
        self.began = started_ns
        self.attempt_info = hedge_info
        calls = self.plan.observers.attempt_started_calls
        if (
            hedge_info is not None
            and self.info is not None
            and (told := tell(calls, self.info, hedge_info))
        ):
            await told
