"""The response cache's counters, automatosx.cache.hits and .misses, through the real SDK to
the emulator: read from a Prometheus registry and from the OpenTelemetry SDK in memory."""

from __future__ import annotations

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from prometheus_client import CollectorRegistry
from tests.cache.test_router_cache import ask, router
from tests.e2e.conftest import Harness

from automatosx.telemetry import OTelObserver
from automatosx.telemetry.prometheus import PrometheusObserver


async def test_hits_and_misses_are_counted_for_prometheus(e2e: Harness) -> None:
    registry = CollectorRegistry()
    async with router(e2e, telemetry=PrometheusObserver(registry)) as r:
        for _ in range(3):
            await r.execute(ask(e2e))
        await r.execute(ask(e2e, "Something else?"))
        await r.execute(e2e.request("No cache field."))  # does not ask the cache

    def value(name: str) -> float | None:
        return registry.get_sample_value(name, {"automatosx_cache_backend": "memory"})

    assert value("automatosx_cache_hits_total") == 2
    assert value("automatosx_cache_misses_total") == 2


async def test_hits_and_misses_are_counted_for_opentelemetry(e2e: Harness) -> None:
    reader = InMemoryMetricReader()
    observer = OTelObserver(meter_provider=MeterProvider(metric_readers=[reader]))
    async with router(e2e, telemetry=observer) as r:
        await r.execute(ask(e2e))
        await r.execute(ask(e2e))
    data = reader.get_metrics_data()
    assert data is not None
    points = {
        metric.name: [p.value for p in metric.data.data_points]  # type: ignore[union-attr]
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
        if metric.name.startswith("automatosx.cache.")
    }
    assert points["automatosx.cache.hits"] == [1]
    assert points["automatosx.cache.misses"] == [1]
