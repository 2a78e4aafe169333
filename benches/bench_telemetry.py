"""The added cost of telemetry per request: ``execute`` and a 100-chunk ``stream`` over the
stub provider, telemetry off and on, side by side.

"On" is an :class:`~automatosx.telemetry.OTelObserver` on the OpenTelemetry SDK with spans
going to an in-memory exporter through a ``SimpleSpanProcessor`` (export cost included) and
metrics read by an ``InMemoryMetricReader`` (aggregation cost included, collection not), and
a :class:`~automatosx.telemetry.prometheus.PrometheusObserver` on its own registry. Batches
of the three alternate, so machine load hits them alike; medians are reported as INFO (no
budget). Run: ``python benches/bench_telemetry.py``.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from prometheus_client import CollectorRegistry

from _budget import Result, summary
from _stub import PROMPT, StubProvider, percentile, time_calls
from automatosx import Router
from automatosx.observe import Observer

BATCH, ROUNDS = 200, 10
STREAM_BATCH = 50


def _otel() -> Observer:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from automatosx.telemetry import OTelObserver

    tracer_provider = TracerProvider()
    exporter = InMemorySpanExporter()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    observer = OTelObserver(tracer_provider, meter_provider)
    observer.exporter = exporter  # type: ignore[attr-defined]
    return observer


def _prometheus() -> Observer:
    from automatosx.telemetry.prometheus import PrometheusObserver

    return PrometheusObserver(CollectorRegistry())


async def _measure() -> list[Result]:
    setups: dict[str, Any] = {"off": False, "otel": _otel(), "prometheus": _prometheus()}
    routers = {
        label: Router(
            {"primaryProvider": "claude"},
            providers=[StubProvider(chunks=100)],
            store=None,
            telemetry=telemetry,
        )
        for label, telemetry in setups.items()
    }
    exec_ns: dict[str, list[int]] = {label: [] for label in routers}
    stream_ns: dict[str, list[int]] = {label: [] for label in routers}
    for router in routers.values():
        await router.open()
    try:
        for _ in range(ROUNDS):
            for label, router in routers.items():
                await time_calls(lambda r=router: r.execute(PROMPT), BATCH, exec_ns[label])
                await time_calls(lambda r=router: _drain(r), STREAM_BATCH, stream_ns[label])
                exporter = getattr(setups[label], "exporter", None)
                if exporter is not None:
                    exporter.clear()
    finally:
        for router in routers.values():
            await router.aclose()
    results = []
    for kind, samples in (("execute", exec_ns), ("stream, 100 chunks", stream_ns)):
        off = percentile([s / 1000 for s in samples["off"]], 50)
        results.append(Result(f"telemetry off: {kind}, p50", off, None, "us"))
        for label in ("otel", "prometheus"):
            on = percentile([s / 1000 for s in samples[label]], 50)
            results.append(Result(f"telemetry {label}: {kind}, p50 added", on - off, None, "us"))
    return results


async def _drain(router: Router) -> None:
    async for _ in router.stream(PROMPT):
        pass


def main() -> None:
    for line in summary(asyncio.run(_measure())):
        print(line)


if __name__ == "__main__":
    main()
