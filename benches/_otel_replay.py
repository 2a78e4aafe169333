"""The OpenTelemetry SDK's own cost for what an :class:`~automatosx.telemetry.OTelObserver`
records, and the observer's hooks alone: the two baselines of ``bench_features.py``'s
telemetry row.

``sdk_replay`` reads back what the observer recorded for one request (its spans, and the data
points of its metrics) and returns a function that makes the same spans and the same metric
records, with the same attributes, straight through a tracer and a meter of their own SDK
providers. ``observer_hooks`` calls the observer's hooks for one successful ``execute``
directly, without the router. ``replay_observer`` runs the replay from inside routed
requests (an observer of the same four events as the OTelObserver, doing nothing else): the
SDK's same work where the observer does it, with none of the observer's own code.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from _stub import PROMPT
from automatosx.schemas import ProviderRequest

__all__ = ["observer_hooks", "otel_providers", "replay_observer", "sdk_replay"]

_ATTEMPT_END = {
    "automatosx.attempt.outcome",
    "automatosx.attempt.decision",
    "automatosx.attempt.retry_delay_ms",
    "automatosx.breaker.state",
    "error.type",
    "automatosx.error.code",
}
"""The attempt span's attributes set when it ends (``OTelObserver.on_attempt_ended``)."""
_SET_TWICE = {"gen_ai.provider.name", "server.address", "server.port"}
_REQUEST_END_ONLY = {
    "automatosx.deployment",
    "automatosx.attempts",
    "automatosx.retries",
    "automatosx.stream.restarts",
    "gen_ai.response.time_to_first_chunk",
    "gen_ai.response.model",
    "gen_ai.response.finish_reasons",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_write.input_tokens",
    "gen_ai.usage.reasoning.output_tokens",
    "error.type",
}
_REQUEST_END = _REQUEST_END_ONLY | _SET_TWICE
"""The request span's attributes set when it ends (``OTelObserver._outcome_attributes``)."""


def otel_providers() -> tuple[Any, Any, Any]:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    tracer_provider = TracerProvider()
    exporter = InMemorySpanExporter()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    return tracer_provider, MeterProvider(metric_readers=[reader]), (exporter, reader)


def sdk_replay(exporter: Any, reader: Any) -> tuple[Callable[[], None], Callable[[], None]]:
    """What the OTel SDK itself takes for what the observer recorded for one ``execute``: the
    same spans (parent and child, same names, kinds, attributes, the child attached to the
    context while it runs) and the same metric records (same instruments, values and
    attributes), made directly through a tracer and a meter of their own SDK providers."""
    from opentelemetry import context as otel_context
    from opentelemetry import trace

    spans = {s.parent is None: s for s in exporter.get_finished_spans()}
    parent_span, child_span = spans[True], spans[False]
    records: list[tuple[str, str, float, dict[str, Any]]] = []  # kind, name, value, attributes
    data = reader.get_metrics_data()
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                kind = type(metric.data).__name__  # Sum or Histogram
                if kind not in ("Sum", "Histogram"):
                    continue
                for point in metric.data.data_points:
                    value = point.value if kind == "Sum" else point.sum / max(point.count, 1)
                    records.append((kind, metric.name, value, dict(point.attributes or {})))
    tracer_provider, meter_provider, (own_exporter, _) = otel_providers()
    tracer = trace.get_tracer("replay", tracer_provider=tracer_provider)
    meter = meter_provider.get_meter("replay")
    instruments = {
        name: meter.create_counter(name) if kind == "Sum" else meter.create_histogram(name)
        for kind, name, _, _ in records
    }
    ops = [
        (instruments[name].add if kind == "Sum" else instruments[name].record, value, attrs)
        for kind, name, value, attrs in records
    ]
    p_name, p_kind = parent_span.name, parent_span.kind
    p_attrs = dict(parent_span.attributes or {})
    c_name, c_attrs = child_span.name, dict(child_span.attributes or {})
    # set when each span starts / when it ends, as the observer does
    p_start = {k: v for k, v in p_attrs.items() if k not in _REQUEST_END_ONLY}
    p_end = {k: v for k, v in p_attrs.items() if k in _REQUEST_END}
    c_start = {k: v for k, v in c_attrs.items() if k not in _ATTEMPT_END}
    c_end = {k: v for k, v in c_attrs.items() if k in _ATTEMPT_END}
    set_in_context, get_current = trace.set_span_in_context, otel_context.get_current
    attach, detach = otel_context.attach, otel_context.detach

    def replay() -> None:
        parent_ctx = get_current()
        span = tracer.start_span(p_name, context=parent_ctx, kind=p_kind, attributes=p_start)
        ctx = set_in_context(span, parent_ctx)
        child = tracer.start_span(c_name, context=ctx, attributes=c_start)
        token = attach(set_in_context(child, ctx))
        detach(token)
        child.set_attributes(c_end)
        child.end()
        for op, value, attrs in ops:
            op(value, attrs)
        span.set_attributes(p_end)
        span.end()

    return replay, own_exporter.clear


def observer_hooks(observer: Any, response: Any) -> Callable[[], None]:
    """The OTelObserver's own work for one successful ``execute``, its hooks called directly
    (no router): what the router's recording events add on top is the rest of the row."""
    from automatosx.observe import AttemptInfo, RequestEnd, RequestInfo

    request = ProviderRequest.model_validate(PROMPT)
    rid, model, clock = request.request_id, response.model, time.perf_counter_ns

    def hooks() -> None:
        info = RequestInfo(rid, request, False, "claude", model, 0, clock())
        observer.on_request_started(info)
        attempt = AttemptInfo(1, "claude", model, clock(), kind="claude")
        observer.on_attempt_started(info, attempt)
        attempt.breaker_state = "closed"
        observer.on_attempt_ended(info, attempt)
        end = RequestEnd("completed", ["idle"], 0, None, None, response, (), 1, 0, None)
        observer.on_request_finished(info, end)

    return hooks


def replay_observer(replay: Callable[[], None]) -> Any:
    """An observer told the OTelObserver's four events of an ``execute`` that does nothing
    but run ``replay`` when the request finishes: the telemetry row's floor (the SDK's
    same work, and the router's side of the events, inside a routed request)."""
    from automatosx.observe import Observer, RequestEnd, RequestInfo

    class ReplayObserver(Observer):
        async def request_started(self, request: RequestInfo) -> None:
            return None

        async def attempt_started(self, request: RequestInfo, attempt: Any) -> None:
            return None

        async def attempt_ended(self, request: RequestInfo, attempt: Any) -> None:
            return None

        async def request_finished(self, request: RequestInfo, outcome: RequestEnd) -> None:
            replay()

    return ReplayObserver()
