"""What both telemetry backends share: turning a request's events into measurements.

:class:`MetricsObserver` is an :class:`~automatosx.Observer` that keeps a little state per
request (when it started, its first chunk, the deployment last tried) and hands each
measurement to a :class:`Sink` (OpenTelemetry instruments, or Prometheus collectors). Its
subclass in ``_otel.py`` adds the spans. Every event catches its own errors and logs them:
telemetry never fails a request.

Waits at admission (a limiter's or a cool-down's sleep before an attempt) are the
``automatosx.limiter.wait`` histogram (``limiter_waited``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from automatosx.observe import AttemptInfo, Observer, RequestEnd, RequestInfo, SkipInfo, WaitInfo
from automatosx.telemetry._bound import Attributes, Ending, Record, Table
from automatosx.telemetry._names import (
    ATTEMPTS,
    BUDGET_EXCEEDED,
    CACHE_HITS,
    CACHE_MISSES,
    FALLBACKS,
    LIMITER_WAIT,
    OPERATION,
    RESTARTS,
    USAGE_CACHE_READ,
    USAGE_CACHE_WRITE,
    USAGE_REASONING,
    MetricSpec,
    Server,
    modality,
    provider_name,
    server_of,
)

if TYPE_CHECKING:
    from automatosx.schemas import ProviderResponse

__all__ = ["Attributes", "Live", "MetricsObserver", "Sink"]

log = logging.getLogger("automatosx.telemetry")


class Sink(Protocol):
    """Where measurements go."""

    def bind(self, spec: MetricSpec, attributes: Attributes) -> Record:
        """``spec``'s instrument under ``attributes`` (None values left out): a function of
        the value that adds to a counter or records into a histogram."""

    def add(self, spec: MetricSpec, value: float, attributes: Attributes) -> None:
        """Add to a counter."""

    def record(self, spec: MetricSpec, value: float, attributes: Attributes) -> None:
        """Record a histogram value."""

    def watch_breaker(self, deployment: str, state: Callable[[], str | None]) -> None:
        """Report ``deployment``'s breaker state as read by ``state`` (None: breakers off)."""

    def watch_budgets(self, read: Callable[[], list[tuple[str, str, str, float, float]]]) -> None:
        """Report the budgets' gauges as read by ``read``: (id, scope, unit, spent, left)."""


class Live:
    """One request under way, as the telemetry observers track it (spans: see ``_otel``)."""

    __slots__ = (
        "attempt_chunk",
        "attempt_span",
        "attempt_started_ns",
        "deployment",
        "first_chunk_ns",
        "parent",
        "span",
        "task",
        "token",
    )

    def __init__(self, deployment: str) -> None:
        self.deployment = deployment
        self.first_chunk_ns: int | None = None
        self.attempt_started_ns = 0
        self.attempt_chunk = False
        self.span: Any = None
        self.parent: Any = None
        self.attempt_span: Any = None
        self.token: Any = None
        self.task: asyncio.Task[Any] | None = None


def _guarded(name: str, fn: Callable[..., object], *args: Any) -> None:
    try:
        fn(*args)
    except Exception:  # telemetry must never fail a request
        log.warning("telemetry: the %s event failed", name, exc_info=True)


class MetricsObserver(Observer):
    """Observer that reports the metrics of :mod:`automatosx.telemetry._names` to a sink.

    The attribute sets are built once per label set (:mod:`._bound`), and a request's own
    state (:class:`Live`) is made at its first attempt: the metrics need no
    ``request_started`` (the OpenTelemetry subclass adds it for its spans)."""

    def __init__(self, sink: Sink) -> None:
        self._sink = sink
        self._live: dict[str, Live] = {}
        self._servers: dict[str, Server] = {}
        self._breakers: dict[str, str] = {}
        self._ends: Table[Ending] = Table()
        """(deployment, request model, response model, error.type) -> its attribute sets."""
        self._attempt_counts: Table[Record] = Table()
        """(deployment, outcome, decision, error.type) -> the attempts counter."""

    # -- binding to a router's deployments (Router(..., telemetry=...) does it) ---------------

    def bind_deployments(self, deployments: Mapping[str, Any]) -> None:
        """Learn each deployment's provider kind, address and breaker (for ``server.*``,
        ``gen_ai.provider.name`` and the breaker gauge read live)."""
        for name, dep in deployments.items():
            provider = dep.provider
            config = getattr(provider, "config", None)
            kind = getattr(config, "name", None) or getattr(provider, "name", None) or name
            self._servers[name] = server_of(str(kind), getattr(config, "base_url", None))
            self._sink.watch_breaker(name, _breaker_reader(dep.guard))

    def bind_budgets(self, budgets: Any) -> None:
        """The router's budgets (``budgets._guard.BudgetGuard``): their gauges read live,
        and each refusal counted (``automatosx.budget.exceeded``)."""
        self._sink.watch_budgets(budgets.levels)
        sink = self._sink

        def refused(error: Any, deployment: str) -> None:
            attrs = {
                "automatosx.budget.id": error.budget_id,
                "automatosx.deployment": deployment,
                "error.type": type(error).__name__,
            }
            _guarded("budget_exceeded", sink.add, BUDGET_EXCEEDED, 1, attrs)

        budgets.refused.append(refused)

    def server(self, deployment: str) -> Server:
        server = self._servers.get(deployment)
        if server is None:  # not bound: a deployment is named after its kind by default
            server = self._servers[deployment] = Server(provider_name(deployment))
        return server

    def _breaker_seen(self, deployment: str, state: str | None) -> None:
        if state is not None and deployment not in self._breakers:
            breakers = self._breakers
            breakers[deployment] = state
            self._sink.watch_breaker(deployment, lambda: breakers.get(deployment))
        elif state is not None:
            self._breakers[deployment] = state

    def cache_looked_up(self, hit: bool, backend: str) -> None:
        """The response cache answered a request (``hit``) or sent it on (``Router(...,
        cache=...)`` calls it for every request that asks the cache)."""
        spec = CACHE_HITS if hit else CACHE_MISSES
        _guarded("cache", self._sink.add, spec, 1, {"automatosx.cache.backend": backend})

    # -- the events ------------------------------------------------------------------------
    # Each catches its own errors (telemetry never fails a request), inline: no wrapper call.
    # The router calls the ``*_now`` functions (no await); the coroutines do the same.

    def candidate_skipped_now(self, request: RequestInfo, skip: SkipInfo) -> None:
        try:
            self.on_candidate_skipped(request, skip)
        except Exception:
            _failed("candidate_skipped")

    def attempt_started_now(self, request: RequestInfo, attempt: AttemptInfo) -> None:
        try:
            self.on_attempt_started(request, attempt)
        except Exception:
            _failed("attempt_started")

    def chunk_now(self, request: RequestInfo, index: int, text: str) -> None:
        live = self._live.get(request.request_id)
        if live is not None and not live.attempt_chunk:
            try:
                self.on_first_chunk(request, live)
            except Exception:
                _failed("chunk")

    def attempt_ended_now(self, request: RequestInfo, attempt: AttemptInfo) -> None:
        try:
            self.on_attempt_ended(request, attempt)
        except Exception:
            _failed("attempt_ended")

    def request_finished_now(self, request: RequestInfo, outcome: RequestEnd) -> None:
        try:
            self.on_request_finished(request, outcome)
        except Exception:
            _failed("request_finished")

    def limiter_waited_now(self, request: RequestInfo, wait: WaitInfo) -> None:
        try:
            self.on_limiter_waited(request, wait)
        except Exception:
            _failed("limiter_waited")

    async def candidate_skipped(self, request: RequestInfo, skip: SkipInfo) -> None:
        self.candidate_skipped_now(request, skip)

    async def attempt_started(self, request: RequestInfo, attempt: AttemptInfo) -> None:
        self.attempt_started_now(request, attempt)

    async def chunk(self, request: RequestInfo, index: int, text: str) -> None:
        self.chunk_now(request, index, text)

    async def attempt_ended(self, request: RequestInfo, attempt: AttemptInfo) -> None:
        self.attempt_ended_now(request, attempt)

    async def request_finished(self, request: RequestInfo, outcome: RequestEnd) -> None:
        self.request_finished_now(request, outcome)

    async def limiter_waited(self, request: RequestInfo, wait: WaitInfo) -> None:
        self.limiter_waited_now(request, wait)

    # -- what they do (subclasses extend) ---------------------------------------------------

    def on_request_started(self, request: RequestInfo) -> Live:
        live = self._live[request.request_id] = Live(request.provider)
        return live

    def on_candidate_skipped(self, request: RequestInfo, skip: SkipInfo) -> None:
        self._breaker_seen(skip.provider, skip.breaker_state)
        attrs = {
            "automatosx.deployment": skip.provider,
            "automatosx.fallback.cause": "skip",
            "error.type": skip.code,
        }
        self._sink.add(FALLBACKS, 1, attrs)

    def on_limiter_waited(self, request: RequestInfo, wait: WaitInfo) -> None:
        attrs = {
            "gen_ai.provider.name": self.server(wait.provider).provider,
            "automatosx.deployment": wait.provider,
            "automatosx.wait.reason": wait.reason,
        }
        self._sink.record(LIMITER_WAIT, wait.waited_ms / 1000, attrs)

    def on_attempt_started(self, request: RequestInfo, attempt: AttemptInfo) -> None:
        live = self._live.get(request.request_id)
        if live is None:  # the request's first attempt
            live = self._live[request.request_id] = Live(attempt.provider)
        else:
            live.deployment = attempt.provider
            live.attempt_chunk = False
        live.attempt_started_ns = time.perf_counter_ns()

    def on_first_chunk(self, request: RequestInfo, live: Live) -> None:
        live.attempt_chunk = True
        if live.first_chunk_ns is None:
            live.first_chunk_ns = time.perf_counter_ns()

    def on_attempt_ended(self, request: RequestInfo, attempt: AttemptInfo) -> None:
        deployment, decision = attempt.provider, attempt.decision
        state = attempt.breaker_state
        if state is not None and self._breakers.get(deployment) != state:  # else: no news
            self._breaker_seen(deployment, state)
        err = None if attempt.error is None else type(attempt.error).__name__  # error_type
        key = (deployment, attempt.outcome, decision, err)
        count = self._attempt_counts.get(key)
        if count is None:
            attrs = {
                "gen_ai.provider.name": self.server(deployment).provider,
                "automatosx.deployment": deployment,
                "automatosx.attempt.outcome": attempt.outcome,
                "automatosx.attempt.decision": decision,
                "error.type": err,
            }
            count = self._attempt_counts.put(key, self._sink.bind(ATTEMPTS, attrs))
        count(1)
        if decision == "fallback":
            cause = {
                "automatosx.deployment": deployment,
                "automatosx.fallback.cause": "failure",
                "error.type": err,
            }
            self._sink.add(FALLBACKS, 1, cause)

    def on_stream_restarted(self, request: RequestInfo, attempt: AttemptInfo) -> None:
        return None  # counted from the outcome (``RequestEnd.restarts``) at the request's end

    def on_request_finished(self, request: RequestInfo, outcome: RequestEnd) -> Live | None:
        seconds = (time.perf_counter_ns() - request.started_ns) / 1e9
        live = self._live.pop(request.request_id, None)
        response = outcome.response
        if response is not None:
            deployment, response_model = response.provider, response.model
        else:
            deployment = request.provider if live is None else live.deployment
            response_model = None
        err = None if outcome.state == "completed" else (outcome.error_code or "_OTHER")
        key = (deployment, request.model, response_model, err)
        end = self._ends.get(key)
        if end is None:
            attrs = self._genai(deployment, request.model, response_model)
            end = self._ends.put(key, Ending(self._sink.bind, attrs, err))
        end.duration(seconds)
        if live is not None and live.first_chunk_ns is not None:
            end.first_chunk()((live.first_chunk_ns - request.started_ns) / 1e9)
        if outcome.restarts:
            self._sink.add(RESTARTS, outcome.restarts, {"automatosx.deployment": deployment})
        if request.request is None:
            return live
        if response is None:  # failed: 0 under the unknown modality, as the conventions say
            unknown = end.usage("unknown")
            unknown.input(0)
            unknown.output(0)
            return live
        tokens = response.tokens
        usage = end.usage(modality(request.request))
        usage.input(tokens.input_tokens)
        usage.output(tokens.output_tokens)
        if tokens.cached_input_tokens is not None:
            usage.extra(USAGE_CACHE_READ, tokens.cached_input_tokens)
        if tokens.cache_write_tokens is not None:
            usage.extra(USAGE_CACHE_WRITE, tokens.cache_write_tokens)
        if tokens.reasoning_tokens is not None:
            usage.extra(USAGE_REASONING, tokens.reasoning_tokens)
        op_input, op_output = end.operation or end.operation_tokens()
        op_input(tokens.input_tokens)
        op_output(tokens.output_tokens)
        return live

    def genai_attributes(
        self, request: RequestInfo, deployment: str, response: ProviderResponse | None
    ) -> Attributes:
        """The GenAI attributes a request's metrics carry."""
        return self._genai(deployment, request.model, None if response is None else response.model)

    def _genai(self, deployment: str, model: str, response_model: str | None) -> Attributes:
        server = self.server(deployment)
        return {
            "gen_ai.operation.name": OPERATION,
            "gen_ai.provider.name": server.provider,
            "gen_ai.request.model": model,
            "gen_ai.response.model": response_model,
            "server.address": server.address,
            "server.port": server.port,
        }


def _failed(event: str) -> None:
    log.warning("telemetry: the %s event failed", event, exc_info=True)


def _breaker_reader(guard: Any) -> Callable[[], str | None]:
    def read() -> str | None:
        state: str | None = guard.breaker_state
        return state

    return read
