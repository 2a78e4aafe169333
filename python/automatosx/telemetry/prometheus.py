"""The router's metrics for Prometheus to scrape, with ``prometheus-client``.

:class:`PrometheusObserver` reports the same metrics as the OpenTelemetry observer (names
with underscores: ``gen_ai_client_inference_duration_seconds``,
``automatosx_router_attempts_total``) into a ``prometheus_client`` registry; serve it with
:func:`start_http_server` (a thread on its own port) or mount :func:`asgi_app` in your ASGI
application. No spans: use :class:`~automatosx.telemetry.OTelObserver` for traces.

Why not the OpenTelemetry Prometheus exporter: it has no stable release on PyPI (only
pre-releases), and ``prometheus-client`` is what a Prometheus user already runs.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import start_http_server as _start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import make_asgi_app
from prometheus_client.registry import Collector
from prometheus_client.values import MutexValue

from automatosx.telemetry._bound import Attributes, Record
from automatosx.telemetry._metrics import MetricsObserver
from automatosx.telemetry._names import BREAKER_STATES, BUDGET_GAUGES, METRICS, MetricSpec

__all__ = ["PrometheusObserver", "asgi_app", "start_http_server"]


class _PrometheusSink:
    """The metrics as ``prometheus_client`` collectors in one registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry
        self._collectors: dict[str, Any] = {}
        for spec in METRICS:
            name, labels, doc = spec.prometheus_name, spec.prometheus_labels, spec.description
            if spec.kind == "counter":
                collector: Any = Counter(name, doc, labels, registry=registry)
            elif spec.kind == "histogram":
                buckets = (*(spec.buckets or ()), float("inf"))
                collector = Histogram(name, doc, labels, registry=registry, buckets=buckets)
            else:
                collector = Gauge(name, doc, labels, registry=registry)
            self._collectors[spec.name] = collector

    def _child(self, spec: MetricSpec, attributes: Attributes) -> Any:
        values = ["" if (v := attributes.get(k)) is None else str(v) for k in spec.labels]
        return self._collectors[spec.name].labels(*values)

    def bind(self, spec: MetricSpec, attributes: Attributes) -> Record:
        """The child's own value(s), written directly: ``Counter.inc`` and
        ``Histogram.observe`` check, per call, that the metric is a child and the amount
        not negative, then loop over the buckets; the label set is checked once here and
        our amounts are durations and token counts (non-negative by the schemas). Falls
        back to the public methods if ``prometheus_client``'s internals ever differ."""
        child = self._child(spec, attributes)
        if spec.kind == "counter":
            value = getattr(child, "_value", None)
            if type(value) is MutexValue:
                return _adder(value)
            inc: Record = child.inc if value is None else value.inc
            return inc
        return _observer(child)

    def add(self, spec: MetricSpec, value: float, attributes: Attributes) -> None:
        self._child(spec, attributes).inc(value)

    def record(self, spec: MetricSpec, value: float, attributes: Attributes) -> None:
        self._child(spec, attributes).observe(value)

    def watch_breaker(self, deployment: str, state: Callable[[], str | None]) -> None:
        gauge = self._collectors["automatosx.breaker.state"]
        for name in BREAKER_STATES:
            gauge.labels(deployment, name).set_function(_is(state, name))

    def watch_budgets(self, read: Callable[[], list[tuple[str, str, str, float, float]]]) -> None:
        self._registry.register(_Budgets(read))


class _Budgets(Collector):
    """The budgets' gauges, read from the router's ledger at each scrape."""

    def __init__(self, read: Callable[[], list[tuple[str, str, str, float, float]]]) -> None:
        self._read = read

    def collect(self) -> Iterable[Metric]:
        families = [
            GaugeMetricFamily(spec.prometheus_name, spec.description, labels=spec.prometheus_labels)
            for spec in BUDGET_GAUGES
        ]
        for budget, scope, unit, *values in self._read():
            for family, value in zip(families, values, strict=True):
                family.add_metric([budget, scope, unit], value)
        return families

    def describe(self) -> Iterable[Metric]:
        return []


# The series' values are written here from one thread: a router's event loop (the observer
# keeps each request's state in plain dicts, for one router). prometheus-client's own values
# (``MutexValue``) take a lock for every add, for writers in several threads; ours is the only
# writer of its series, and a scrape (another thread) reads a float, whole under the GIL. So
# a plain ``+=`` on the value, one call per record instead of three (and four lock calls) for
# a histogram. Other value classes (multiprocess mode) keep their own methods.


def _adder(value: Any) -> Record:
    def add(amount: float) -> None:
        value._value += amount

    return add


def _observer(child: Any) -> Record:
    """``child.observe`` without its per-call checks: the sum, and the first bucket whose
    bound is >= the amount (a bisection instead of a loop; NaN counts in none, as there)."""
    total = getattr(child, "_sum", None)
    buckets = getattr(child, "_buckets", None)
    bounds = getattr(child, "_upper_bounds", None)
    if total is None or buckets is None or bounds is None or len(buckets) != len(bounds):
        observe: Record = child.observe
        return observe
    upper = tuple(bounds)
    last = upper[-1]
    if type(total) is MutexValue and all(type(b) is MutexValue for b in buckets):
        values = list(buckets)

        def observe_unlocked(amount: float) -> None:
            total._value += amount
            if amount <= last:
                values[bisect_left(upper, amount)]._value += 1

        return observe_unlocked
    add_sum = total.inc
    incs = [bucket.inc for bucket in buckets]

    def observe_fast(amount: float) -> None:
        add_sum(amount)
        if amount <= last:
            incs[bisect_left(upper, amount)](1)

    return observe_fast


def _is(read: Callable[[], str | None], state: str) -> Callable[[], float]:
    def value() -> float:
        return 1.0 if read() == state else 0.0

    return value


class PrometheusObserver(MetricsObserver):
    """The router's metrics in a ``prometheus_client`` registry (default: the global
    ``REGISTRY``; pass your own to serve it apart, or to have two routers in one process).

    Use it as ``Router(..., telemetry=PrometheusObserver())`` so the breaker gauge reads each
    deployment's breaker live. Needs ``prometheus-client`` (``automatosx[prometheus]``).
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = REGISTRY if registry is None else registry
        super().__init__(_PrometheusSink(self.registry))


def start_http_server(
    port: int, addr: str = "0.0.0.0", registry: CollectorRegistry | None = None
) -> Any:
    """Serve ``registry`` (default: the global one) at ``http://addr:port/metrics`` from a
    daemon thread; returns ``(server, thread)``: stop it with ``server.shutdown()`` then
    ``server.server_close()``."""
    return _start_http_server(port, addr, REGISTRY if registry is None else registry)


def asgi_app(registry: CollectorRegistry | None = None) -> Callable[..., Any]:
    """An ASGI app answering scrapes of ``registry`` (mount it at ``/metrics``)."""
    app: Callable[..., Any] = make_asgi_app(REGISTRY if registry is None else registry)
    return app
