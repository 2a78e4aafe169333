"""OpenTelemetry traces and metrics of routed requests (GenAI semantic conventions).

One ``CLIENT`` span per routed request, named ``chat {gen_ai.request.model}``, across all its
retries and fallbacks; one child span per attempt (``attempt {deployment}``) carrying the
deployment, model, outcome, the policy's decision, the retry delay, the breaker's state and
the error class; skipped candidates and stream restarts are events on the request span.

While an attempt's HTTP request is being sent, its span is the current span (attached to the
task's OpenTelemetry context from ``attempt_started`` until the attempt ends or its first
chunk arrives), so the propagation hook (``_propagate.py``) puts a ``traceparent`` whose
trace id is the request span's into the provider's HTTP headers. Known limit: when the caller
cancels ``execute``, the attempt's end is recorded from another task, and the cancelled task's
context keeps the ended attempt span as current.

Message content is recorded only with ``capture_content=True``, as the conventions' opt-in
attributes (``gen_ai.input.messages``, ``gen_ai.system_instructions``,
``gen_ai.output.messages``, JSON strings).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation
from opentelemetry.trace import SpanKind, Status, StatusCode, TracerProvider

from automatosx.observe import AttemptInfo, RequestEnd, RequestInfo, SkipInfo
from automatosx.telemetry._bound import Attributes, Record, Table
from automatosx.telemetry._metrics import Live, MetricsObserver, _failed
from automatosx.telemetry._names import (
    BREAKER_STATE,
    BREAKER_STATES,
    BUDGET_GAUGES,
    METRICS,
    OPERATION,
    MetricSpec,
)

if TYPE_CHECKING:
    from automatosx.schemas import Message, ProviderRequest, ProviderResponse

__all__ = ["OTelObserver"]

_BUDGET_KEYS = BUDGET_GAUGES[0].labels

_SCOPE = "automatosx"


def _clean(attributes: Attributes) -> Attributes:
    return {k: v for k, v in attributes.items() if v is not None}


class _OTelSink:
    """The metrics as OpenTelemetry instruments of one meter."""

    def __init__(self, meter_provider: MeterProvider | None) -> None:
        meter = self._meter = metrics.get_meter(_SCOPE, _version(), meter_provider=meter_provider)
        self._counters: dict[str, Any] = {}
        self._histograms: dict[str, Any] = {}
        self._breakers: dict[str, Callable[[], str | None]] = {}
        for spec in METRICS:
            if spec.kind == "counter":
                self._counters[spec.name] = meter.create_counter(
                    spec.name, spec.unit, spec.description
                )
            elif spec.kind == "histogram":
                self._histograms[spec.name] = meter.create_histogram(
                    spec.name,
                    spec.unit,
                    spec.description,
                    explicit_bucket_boundaries_advisory=spec.buckets,
                )
        meter.create_observable_gauge(
            BREAKER_STATE.name,
            [self._observe_breakers],
            BREAKER_STATE.unit,
            BREAKER_STATE.description,
        )

    def bind(self, spec: MetricSpec, attributes: Attributes) -> Record:
        cleaned = _clean(attributes)
        if spec.kind == "counter":
            return partial(self._counters[spec.name].add, attributes=cleaned)
        return partial(self._histograms[spec.name].record, attributes=cleaned)

    def add(self, spec: MetricSpec, value: float, attributes: Attributes) -> None:
        self._counters[spec.name].add(value, _clean(attributes))

    def record(self, spec: MetricSpec, value: float, attributes: Attributes) -> None:
        self._histograms[spec.name].record(value, _clean(attributes))

    def watch_breaker(self, deployment: str, state: Callable[[], str | None]) -> None:
        self._breakers[deployment] = state

    def watch_budgets(self, read: Callable[[], list[tuple[str, str, str, float, float]]]) -> None:
        for i, spec in enumerate(BUDGET_GAUGES):

            def observe(options: CallbackOptions, i: int = i) -> Iterable[Observation]:
                for budget, scope, unit, *values in read():
                    attrs = {_BUDGET_KEYS[0]: budget, _BUDGET_KEYS[1]: scope, _BUDGET_KEYS[2]: unit}
                    yield Observation(values[i], attrs)

            self._meter.create_observable_gauge(spec.name, [observe], spec.unit, spec.description)

    def _observe_breakers(self, options: CallbackOptions) -> Iterable[Observation]:
        for deployment, read in list(self._breakers.items()):
            current = read()
            if current is None:
                continue
            for state in BREAKER_STATES:
                yield Observation(
                    1 if state == current else 0,
                    {"automatosx.deployment": deployment, "automatosx.breaker.state": state},
                )


class OTelObserver(MetricsObserver):
    """Traces and metrics of every routed request, through the OpenTelemetry API.

    ``tracer_provider`` and ``meter_provider`` default to the global ones (so
    ``Router(..., telemetry=True)`` reports wherever the application's SDK is set up);
    ``capture_content=True`` adds the messages and the reply to the request span (opt-in:
    they may hold personal data). Needs ``opentelemetry-api`` (``automatosx[otel]``).
    """

    propagates = True
    """Tells the router to install the ``traceparent`` hook on the providers' HTTP clients."""

    def __init__(
        self,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        capture_content: bool = False,
    ) -> None:
        super().__init__(_OTelSink(meter_provider))
        self._tracer = trace.get_tracer(_SCOPE, _version(), tracer_provider=tracer_provider)
        self._capture = capture_content
        # per label set, built once (cleaned of None values): the spans' fixed attributes
        self._request_starts: Table[tuple[str, Attributes]] = Table()
        """(deployment asked for, model) -> the request span's name and GenAI attributes."""
        self._attempt_starts: Table[tuple[str, Attributes]] = Table()
        """(deployment, model) -> an attempt span's name and fixed attributes."""
        self._servers_of: Table[Attributes] = Table()
        """deployment -> the request span's ``gen_ai.provider.name``, ``server.*`` and
        ``automatosx.deployment`` at its end."""

    # -- the events the spans add (the metrics' are in MetricsObserver) ----------------------

    async def request_started(self, request: RequestInfo) -> None:
        try:
            self.on_request_started(request)
        except Exception:
            _failed("request_started")

    async def stream_restarted(self, request: RequestInfo, attempt: AttemptInfo) -> None:
        try:
            self.on_stream_restarted(request, attempt)
        except Exception:
            _failed("stream_restarted")

    # -- the request span --------------------------------------------------------------------

    def on_request_started(self, request: RequestInfo) -> Live:
        live = super().on_request_started(request)
        parent = otel_context.get_current()
        name, attrs = self._request_attributes(request)
        live.span = self._tracer.start_span(
            name,
            context=parent,
            kind=SpanKind.CLIENT,
            attributes=attrs,
            start_time=_epoch_ns(request.started_ns),
        )
        live.parent = trace.set_span_in_context(live.span, parent)
        return live

    def _request_attributes(self, request: RequestInfo) -> tuple[str, Attributes]:
        """The request span's name and its attributes at the start (no None values)."""
        key = (request.provider, request.model)
        start = self._request_starts.get(key)
        if start is None:
            genai = _clean(self.genai_attributes(request, request.provider, None))
            start = self._request_starts.put(key, (f"{OPERATION} {request.model}", genai))
        attrs = {
            **start[1],
            "gen_ai.request.stream": request.stream,
            "automatosx.request.id": request.request_id,
        }
        req = request.request
        if req is not None:
            if req.max_tokens is not None:
                attrs["gen_ai.request.max_tokens"] = req.max_tokens
            if req.temperature is not None:
                attrs["gen_ai.request.temperature"] = req.temperature
            if req.top_p is not None:
                attrs["gen_ai.request.top_p"] = req.top_p
            if req.stop_sequences:
                attrs["gen_ai.request.stop_sequences"] = list(req.stop_sequences)
            if self._capture:
                attrs.update(_input_messages(req))
        return start[0], attrs

    def on_candidate_skipped(self, request: RequestInfo, skip: SkipInfo) -> None:
        super().on_candidate_skipped(request, skip)
        live = self._live.get(request.request_id)
        if live is None or live.span is None:
            return
        event = {
            "automatosx.deployment": skip.provider,
            "gen_ai.request.model": skip.model,
            "automatosx.skip.code": skip.code,
            "automatosx.skip.reason": str(skip.reason),
            "automatosx.breaker.state": skip.breaker_state,
        }
        live.span.add_event("automatosx.candidate_skipped", _clean(event))

    def on_stream_restarted(self, request: RequestInfo, attempt: AttemptInfo) -> None:
        super().on_stream_restarted(request, attempt)
        live = self._live.get(request.request_id)
        if live is not None and live.span is not None:
            event = {
                "automatosx.deployment": attempt.provider,
                "automatosx.attempt.number": attempt.number,
            }
            live.span.add_event("automatosx.stream_restarted", event)

    def on_request_finished(self, request: RequestInfo, outcome: RequestEnd) -> Live | None:
        live = super().on_request_finished(request, outcome)
        if live is None:  # invalid input: no request_started, one span all the same
            name, attrs = self._request_attributes(request)
            span = self._tracer.start_span(
                name,
                kind=SpanKind.CLIENT,
                attributes=attrs,
                start_time=_epoch_ns(request.started_ns),
            )
        else:
            if live.token is not None:
                _release(live)
            if live.attempt_span is not None:  # an attempt the router did not end
                live.attempt_span.end()
            span = live.span
            if span is None:
                return live
        span.set_attributes(self._outcome_attributes(request, live, outcome, outcome.response))
        if outcome.state != "completed":
            span.set_status(Status(StatusCode.ERROR, outcome.error))
        span.end()
        return live

    def _outcome_attributes(
        self,
        request: RequestInfo,
        live: Live | None,
        outcome: RequestEnd,
        response: ProviderResponse | None,
    ) -> Attributes:
        """The request span's attributes at its end (no None values)."""
        deployment = response.provider if response is not None else None
        if deployment is None:
            deployment = live.deployment if live is not None else request.provider
        server = self._servers_of.get(deployment)
        if server is None:
            at = self.server(deployment)
            fixed = {
                "gen_ai.provider.name": at.provider,
                "server.address": at.address,
                "server.port": at.port,
                "automatosx.deployment": deployment,
            }
            server = self._servers_of.put(deployment, _clean(fixed))
        attrs: Attributes = {
            **server,
            "automatosx.attempts": outcome.attempts,
            "automatosx.retries": outcome.retry_count,
            "automatosx.stream.restarts": outcome.restarts,
        }
        if live is not None and live.first_chunk_ns is not None:
            ttfc = (live.first_chunk_ns - request.started_ns) / 1e9
            attrs["gen_ai.response.time_to_first_chunk"] = ttfc
        if outcome.state != "completed":
            attrs["error.type"] = outcome.error_code or "_OTHER"
        if response is not None:
            usage = response.tokens
            if response.model is not None:
                attrs["gen_ai.response.model"] = response.model
            if response.finish_reason is not None:
                attrs["gen_ai.response.finish_reasons"] = [response.finish_reason]
            attrs["gen_ai.usage.input_tokens"] = usage.input_tokens
            attrs["gen_ai.usage.output_tokens"] = usage.output_tokens
            if usage.cached_input_tokens is not None:
                attrs["gen_ai.usage.cache_read.input_tokens"] = usage.cached_input_tokens
            if usage.cache_write_tokens is not None:
                attrs["gen_ai.usage.cache_write.input_tokens"] = usage.cache_write_tokens
            if usage.reasoning_tokens is not None:
                attrs["gen_ai.usage.reasoning.output_tokens"] = usage.reasoning_tokens
            if self._capture:
                attrs["gen_ai.output.messages"] = _output_messages(response)
        return attrs

    # -- attempt spans -----------------------------------------------------------------------

    def on_attempt_started(self, request: RequestInfo, attempt: AttemptInfo) -> None:
        super().on_attempt_started(request, attempt)
        live = self._live.get(request.request_id)
        if live is None or live.parent is None:
            return
        key = (attempt.provider, attempt.model)
        start = self._attempt_starts.get(key)
        if start is None:
            server = self.server(attempt.provider)
            fixed = {
                "gen_ai.operation.name": OPERATION,
                "gen_ai.provider.name": server.provider,
                "gen_ai.request.model": attempt.model,
                "server.address": server.address,
                "server.port": server.port,
                "automatosx.deployment": attempt.provider,
            }
            start = self._attempt_starts.put(key, (f"attempt {attempt.provider}", _clean(fixed)))
        attrs = {
            **start[1],
            "automatosx.attempt.number": attempt.number,
            "automatosx.attempt.restart": attempt.restart,
        }
        parent = live.parent
        span = self._tracer.start_span(start[0], context=parent, attributes=attrs)
        live.attempt_span = span
        live.token = otel_context.attach(trace.set_span_in_context(span, parent))
        live.task = asyncio.current_task()

    def on_first_chunk(self, request: RequestInfo, live: Live) -> None:
        super().on_first_chunk(request, live)
        _release(live)  # the caller's code runs between chunks: not inside our span
        span = live.attempt_span
        if span is not None:
            ttfc = (time.perf_counter_ns() - live.attempt_started_ns) / 1e9
            span.set_attribute("gen_ai.response.time_to_first_chunk", ttfc)

    def on_attempt_ended(self, request: RequestInfo, attempt: AttemptInfo) -> None:
        super().on_attempt_ended(request, attempt)
        live = self._live.get(request.request_id)
        if live is None or live.attempt_span is None:
            return
        if live.token is not None:
            _release(live)
        span = live.attempt_span
        live.attempt_span = None
        error = attempt.error
        attrs: Attributes = {"automatosx.attempt.outcome": attempt.outcome}
        if attempt.decision is not None:
            attrs["automatosx.attempt.decision"] = attempt.decision
        if attempt.retry_delay_ms is not None:
            attrs["automatosx.attempt.retry_delay_ms"] = attempt.retry_delay_ms
        if attempt.breaker_state is not None:
            attrs["automatosx.breaker.state"] = attempt.breaker_state
        if error is not None:
            attrs["error.type"] = type(error).__name__  # error_type
            code = getattr(error, "code", None)
            if code is not None:
                attrs["automatosx.error.code"] = code
        span.set_attributes(attrs)
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, str(error)))
        span.end()


def _release(live: Live) -> None:
    """Detach the attempt span from the task's context, if this is the task that attached
    it (a cancelled request ends from a shielded task of its own, whose context is a copy)."""
    token = live.token
    if token is None:
        return
    live.token = None
    if live.task is asyncio.current_task():
        otel_context.detach(token)
    live.task = None


def _epoch_ns(perf_ns: int) -> int:
    """The wall-clock time of a ``perf_counter_ns`` reading."""
    return time.time_ns() - (time.perf_counter_ns() - perf_ns)


def _parts(message: Message) -> list[dict[str, Any]]:
    content = message.content
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    return [
        {"type": "text", "content": p.text} if p.type == "text" else {"type": p.type}
        for p in content
    ]


def _input_messages(request: ProviderRequest) -> Attributes:
    system: list[dict[str, Any]] = []
    chat: list[dict[str, Any]] = []
    for message in request.messages:
        if message.role == "system":
            system.extend(_parts(message))
        else:
            chat.append({"role": message.role, "parts": _parts(message)})
    attrs: Attributes = {"gen_ai.input.messages": json.dumps(chat, ensure_ascii=False)}
    if system:
        attrs["gen_ai.system_instructions"] = json.dumps(system, ensure_ascii=False)
    return attrs


def _output_messages(response: ProviderResponse) -> str:
    message = {
        "role": "assistant",
        "parts": [{"type": "text", "content": response.content}],
        "finish_reason": response.finish_reason or "stop",
    }
    return json.dumps([message], ensure_ascii=False)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("automatosx")
    except PackageNotFoundError:  # a source tree
        return "0"
