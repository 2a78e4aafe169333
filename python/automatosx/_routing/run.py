"""One request's trip through its candidates: the attempt loop that execute and stream share.

``Run`` drives one Rust ``ProviderStateMachine`` from ``initiate_request`` to ``completed`` or
``failed``. :meth:`Run.attempt` is the one attempt loop: admission through each deployment's
guard, each attempt under its deadline, and on failure the policy's decision
(:func:`~automatosx._routing.policy.decide`) — retry after a delay, fall back to the next
candidate, or raise. The machine is told what the policy decided and checks its invariants.
Observers (the store's recording among them) see every step; with none, no work is done for
them.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from automatosx._core import Event, InvalidTransitionError, ProviderStateMachine
from automatosx._routing.hedge import race
from automatosx._routing.plan import Candidate, Deployment, Plan
from automatosx._routing.policy import RAISE, AttemptContext, Retry, decide, machine_events
from automatosx.errors import (
    AllProvidersFailedError,
    Attempt,
    CircuitOpenError,
    ProviderError,
    ProviderTimeoutError,
)
from automatosx.observe import AttemptInfo, Outcome, RequestInfo, SkipInfo
from automatosx.schemas import ProviderRequest, ProviderResponse

__all__ = ["Run", "as_provider_error"]

log = logging.getLogger("automatosx")
T = TypeVar("T")

_VALIDATION_PASSED = Event.validation_passed()
_SEND_REQUEST = Event.send_request()
_EXPIRED = "automatosx: attempt deadline"
_PY311 = sys.version_info >= (3, 11)


def as_provider_error(exc: BaseException, dep: Deployment) -> ProviderError:
    """Any exception of an attempt as a ProviderError (adapters raise mapped ones)."""
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, TimeoutError):
        return ProviderTimeoutError(f"no reply within {dep.timeout_s:g}s", provider=dep.name)
    # An adapter that broke its contract (raised something unmapped): fall back, never retry.
    return ProviderError(
        f"adapter raised {type(exc).__name__}: {exc}", provider=dep.name, code="PROVIDER_ERROR"
    )


def _expire(task: asyncio.Task[Any], run: Run) -> None:
    run.expired = True
    task.cancel(_EXPIRED)


def _our_cancel(task: asyncio.Task[Any], exc: asyncio.CancelledError) -> bool:
    """Whether a CancelledError is our deadline alone, not (also) the caller's cancel."""
    if _PY311:
        return task.uncancel() == 0
    # 3.10 has no cancel count: the error carries the first cancel's message. A caller's
    # cancel that came second is kept by the task itself (it cancels again at the next await).
    return exc.args == (_EXPIRED,)


class Run:
    """One request's trip through the candidates. Drives the machine; tells the observers."""

    __slots__ = (
        "attempt_info",
        "attempts",
        "began",
        "cands",
        "chunks",
        "delivered",
        "estimate",
        "expired",
        "inflight",
        "info",
        "labels",
        "machine",
        "n",
        "plan",
        "pos",
        "request",
        "restarting",
        "restarts",
        "sent",
        "started_ns",
        "stream",
        "waiting_since",
        "watchdog",
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
        self.plan = plan
        self.cands = cands
        self.labels = labels
        self.pos = 0
        self.stream = stream  # which call this is; the adapters ignore ``request.stream``
        self.request = request
        self.sent = request  # the request as sent to the current candidate
        self.machine = ProviderStateMachine(
            request.request_id,
            max_retries=first.max_retries,
            fallback_providers=labels,
        )
        self.info = info
        self.attempts: list[Attempt] = []
        self.chunks: list[tuple[int, str, int]] = []
        self.estimate = 0
        self.expired = False
        self.inflight: Deployment | None = None
        self.attempt_info: AttemptInfo | None = None
        self.n = 0
        self.delivered = 0  # chunks of the current attempt that reached the caller
        self.restarting = False  # the next attempt restarts a stream that failed mid-reply
        self.restarts = 0
        self.waiting_since: float | None = None  # loop time a stream began waiting for a chunk
        self.watchdog: asyncio.TimerHandle | None = None  # a stream's idle timer
        self.started_ns = time.perf_counter_ns()
        self.began = self.started_ns  # the current attempt's start

    async def start(self) -> None:
        req = self.request
        m = self.machine
        assert req.model is not None  # the intake set it
        m.transition(
            Event.initiate_request(
                provider=self.cands[0][0].name,
                model=req.model,
                message_count=len(req.messages),
                max_tokens=req.max_tokens,
                temperature=req.temperature,
                stream=self.stream,
            )
        )
        m.transition(_VALIDATION_PASSED)
        if self.info is not None:
            for obs in self.plan.observers.request_started:
                await obs.request_started(self.info)

    # -- the attempt loop ----------------------------------------------------------------------

    async def attempt(
        self,
        step: Callable[[Deployment, ProviderRequest], Awaitable[T]],
        limit_s: Callable[[Deployment], float],
        late: str,
    ) -> tuple[Deployment, T]:
        """Run attempts from the current candidate on until ``step`` succeeds; return the
        deployment that answered and what ``step`` returned. Raises the error the policy says
        to raise, or :class:`AllProvidersFailedError` when the candidates are used up."""
        patience = self.plan.options.max_retry_wait_ms
        cands = self.cands
        while self.pos < len(cands):
            dep = cands[self.pos][0]
            skip = await dep.guard.admit(self.token_estimate, patience)
            if skip is not None:
                await self.skipped(dep, skip)
                if not self.advance():
                    break
                continue
            started = self.began = time.perf_counter_ns()
            self.n += 1
            self.inflight = dep
            dep.stats.in_flight += 1
            if self.info is not None:
                await self.attempt_began(dep, started)
            hedging = self.plan.hedging
            try:
                if hedging is not None and self.n == 1 and self.pos + 1 < len(cands):
                    dep, result = await race(self, hedging, dep, step, limit_s, late)
                else:
                    result = await self.within(dep, limit_s(dep), step(dep, self.sent), late)
            except (asyncio.CancelledError, KeyboardInterrupt):
                raise
            except Exception as exc:  # mapped: adapters raise ProviderError
                self.inflight = None
                dep.stats.in_flight -= 1
                if await self.failed(dep, as_provider_error(exc, dep), started):
                    continue
                break
            if self.plan.observes_latency:
                self.plan.balancers[dep.group].observe(
                    dep, (time.perf_counter_ns() - started) / 1e6
                )
            if not self.stream:  # a stream stays in flight while it streams
                self.done_inflight()
            return dep, result
        raise await self.all_failed()

    async def hedge_won(
        self, first: Deployment, hedge: Deployment, error: BaseException | None, started_ns: int
    ) -> None:
        """The hedge answered first: the first attempt is recorded (cancelled, or its
        failure) and the machine moves to the hedge's candidate as a fallback."""
        m = self.machine
        model = m.context.model
        first.stats.in_flight -= 1
        if error is None:
            first.guard.released()
            err: ProviderError = ProviderError(
                "cancelled: the hedge answered first", provider=first.name, code="CANCELLED_HEDGE"
            )
            outcome = "cancelled_hedge"
        else:
            err = as_provider_error(error, first)
            verdict = decide(err, None)
            first.guard.failed(
                verdict.breaker == "failure", verdict.cool_ms, verdict.cool_ms is not None
            )
            self.attempts.append(Attempt(first.name, model, err, 0))
            outcome = "failure"
        m.transition(Event.request_failed(error=str(err), code=err.code, retryable=False))
        if self.info is not None and self.attempt_info is not None:
            info = self.attempt_info
            info.outcome = outcome  # type: ignore[assignment]
            await self.ended(first, self.began, err, "fallback")
        self.advance()
        self.inflight = hedge
        self.n += 1
        self.began = started_ns
        if self.info is not None:
            await self.attempt_began(hedge, started_ns)

    async def side_attempt(
        self, dep: Deployment, model: str, started_ns: int, err: BaseException, outcome: str
    ) -> None:
        """An attempt beside the main one (a hedge), for the observers."""
        if self.info is None:
            return
        info = AttemptInfo(self.n, dep.name, model, started_ns, kind=dep.kind)
        info.duration_ms = (time.perf_counter_ns() - started_ns) // 1_000_000
        info.error = err
        info.outcome = outcome  # type: ignore[assignment]
        info.breaker_state = dep.guard.breaker_state
        for obs in self.plan.observers.attempt_ended:
            await obs.attempt_ended(self.info, info)

    def done_inflight(self) -> Deployment | None:
        """The attempt under way has ended: no longer in flight at its deployment."""
        dep = self.inflight
        if dep is not None:
            self.inflight = None
            dep.stats.in_flight -= 1
        return dep

    def advance(self) -> bool:
        """Move to the next candidate (``fallback_to_provider``); False when none is left or
        the machine refuses."""
        self.pos += 1
        if self.pos >= len(self.cands):
            return False
        dep, model = self.cands[self.pos]
        label = self.labels[self.pos - 1]
        restart = self.delivered > 0
        try:
            if restart:
                self.machine.transition(
                    Event.fallback_to_provider(
                        provider=label, model=model, max_retries=dep.max_retries, restart=True
                    )
                )
            else:
                self.machine.transition(
                    Event.fallback_to_provider(
                        provider=label, model=model, max_retries=dep.max_retries
                    )
                )
        except InvalidTransitionError:
            self.pos = len(self.cands)
            return False
        self.sent = self.request._rerouted(dep.name, model, self.request.stream)
        return True

    def token_estimate(self) -> int:
        """Tokens to reserve before the call (prompt chars / 4 + max_tokens), computed the
        first time a limiter asks; the guard settles it with the real usage."""
        if not self.estimate:
            req = self.request
            chars = 0
            for msg in req.messages:
                content = msg.content
                chars += len(content) if type(content) is str else _text_len(content)
            self.estimate = chars // 4 + (req.max_tokens or 256)
        return self.estimate

    async def within(self, dep: Deployment, seconds: float, step: Awaitable[T], late: str) -> T:
        """Await ``step``, or raise ProviderTimeoutError("<late> within <seconds>") after
        ``seconds``: one loop timer that cancels this task, not a task per attempt."""
        task = asyncio.current_task()
        assert task is not None
        loop = task.get_loop()
        self.expired = False
        handle = loop.call_at(loop.time() + seconds, _expire, task, self)
        try:
            return await step
        except asyncio.CancelledError as exc:
            if self.expired and _our_cancel(task, exc):
                raise ProviderTimeoutError(
                    f"{late} within {seconds:g}s", provider=dep.name
                ) from None
            raise
        finally:
            handle.cancel()

    # -- outcomes ------------------------------------------------------------------------------

    async def attempt_began(self, dep: Deployment, started: int) -> None:
        info = AttemptInfo(
            number=self.n,
            provider=dep.name,
            model=self.machine.context.model,
            started_ns=started,
            restart=self.restarting,
            kind=dep.kind,
        )
        self.attempt_info = info
        assert self.info is not None
        for obs in self.plan.observers.attempt_started:
            await obs.attempt_started(self.info, info)

    async def skipped(self, dep: Deployment, reason: ProviderError | CircuitOpenError) -> None:
        m = self.machine
        m.transition(Event.request_failed(error=str(reason), code=reason.code, retryable=False))
        self.attempts.append(Attempt(dep.name, m.context.model, reason, 0))
        log.debug("skipping %s: %s", dep.name, reason)
        if self.info is not None:
            skip = SkipInfo(dep.name, m.context.model, reason, reason.code, dep.guard.breaker_state)
            for obs in self.plan.observers.candidate_skipped:
                await obs.candidate_skipped(self.info, skip)

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
        info.duration_ms = (time.perf_counter_ns() - started) // 1_000_000
        info.error = error
        if error is not None and info.outcome == "success":
            cancelled = getattr(error, "code", None) == "CANCELLED"
            info.outcome = "cancelled" if cancelled else "failure"
        info.decision = decision  # type: ignore[assignment]
        info.retry_delay_ms = delay_ms
        info.breaker_state = dep.guard.breaker_state
        for obs in self.plan.observers.attempt_ended:
            await obs.attempt_ended(self.info, info)

    async def failed(self, dep: Deployment, err: ProviderError, started: int) -> bool:
        """Settle a failed attempt and act on the policy's decision: True to go on (after a
        retry delay, or at the next candidate), False when the candidates are used up.
        Raises ``err`` when the policy says so."""
        m = self.machine
        ctx = m.context
        duration = (time.perf_counter_ns() - started) // 1_000_000
        self.attempts.append(Attempt(dep.name, ctx.model, err, duration))
        streamed = self.delivered > 0
        decision = decide(
            err,
            AttemptContext(
                retry_count=ctx.retry_count,
                max_retries=dep.max_retries,
                backoff=self.plan.backoff,
                streamed=streamed,
                restart_streams=self.plan.restart_streams,
                fallback_on_content_filter=self.plan.fallback_on_content_filter,
            ),
        )
        dep.guard.failed(
            decision.breaker == "failure", decision.cool_ms, decision.cool_ms is not None
        )
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
        """Settle a successful attempt: guard (breaker, limiter), price."""
        usage = response.tokens
        dep.guard.succeeded(self.estimate, usage.total_tokens)
        if response.cost is None:
            prices = self.plan.prices
            if prices is not None:  # a float or None: no validation needed (and ~1 us less)
                response.__dict__["cost"] = prices.cost(dep.name, response.model, usage)

    async def completed(self, dep: Deployment, response: ProviderResponse) -> ProviderResponse:
        """Record the successful attempt, its response and the final state."""
        if self.info is not None:
            await self.ended(dep, self.began, None)
            await self.finish(response)
        return response

    async def cancelled(self) -> None:
        """The caller cancelled (or the router closed): the request ends CANCELLED, the
        attempt under way (if any) is recorded as cancelled."""
        m = self.machine
        if m.is_terminal:
            return
        m.transition(
            Event.request_failed(error="cancelled by the caller", code="CANCELLED", retryable=False)
        )
        dep = self.done_inflight()
        if dep is not None:
            dep.guard.released()  # a cancel says nothing of the provider
            err = ProviderError("cancelled by the caller", provider=dep.name, code="CANCELLED")
            await self.ended(dep, self.began, err)
        await self.finish()

    async def finish(self, response: ProviderResponse | None = None) -> None:
        info = self.info
        if info is None:
            return
        m = self.machine
        ctx = m.context
        outcome = Outcome(
            state=str(m.state),
            history=m.history,
            retry_count=ctx.retry_count,
            error=ctx.error,
            error_code=ctx.error_code,
            response=response,
            chunks=self.chunks,
            attempts=self.n,
            restarts=self.restarts,
        )
        for obs in self.plan.observers.request_finished:
            await obs.request_finished(info, outcome)

    async def all_failed(self) -> AllProvidersFailedError:
        await self.finish()
        return AllProvidersFailedError(self.attempts, self.request.request_id)

    # -- non-streaming -------------------------------------------------------------------------

    async def execute(self) -> ProviderResponse:
        try:
            await self.start()
            dep, response = await self.attempt(_execute, _timeout, "no reply")
            self.succeeded(dep, response)
            usage = response.tokens
            self.machine.transition(
                Event.receive_response(
                    content=response.content,
                    input_tokens=usage.input_tokens,
                    output_tokens=usage.output_tokens,
                    total_tokens=usage.total_tokens,
                    duration_ms=response.duration,
                )
            )
            if self.info is not None:
                await self.completed(dep, response)
            return response
        except asyncio.CancelledError:
            await asyncio.shield(self.cancelled())
            raise


_IMAGE_TOKENS = 1_000  # a rough per-image reservation for the token limiter


def _text_len(content: object) -> int:
    if type(content) is str:
        return len(content)
    if isinstance(content, list):
        return sum(len(part.text) if part.type == "text" else _IMAGE_TOKENS * 4 for part in content)
    return 0


def _execute(dep: Deployment, request: ProviderRequest) -> Awaitable[ProviderResponse]:
    return dep.provider.execute(request)


def _timeout(dep: Deployment) -> float:
    return dep.timeout_s
