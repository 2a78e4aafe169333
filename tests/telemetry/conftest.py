"""Telemetry fixtures: the emulator on loopback (recording the headers it receives), the real
SDKs routed to it, and the OpenTelemetry SDK reading into memory (never the global
providers, which can be set only once per process)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from automatosx import Router
from automatosx.emulator import EmulatorServer, Scenario, create_app
from automatosx.observe import Observer
from automatosx.schemas import ProviderConfig
from automatosx.telemetry import OTelObserver

API_KEY = "sk-test-telemetry-0123456789abcdef"
MODELS = {"claude": "claude-sonnet-4-6", "gemini": "gemini-2.5-flash", "openai": "gpt-4o-mini"}
NAMES = ("claude", "gemini", "openai")


class HeaderRecorder:
    """ASGI middleware keeping the headers of every generation request the emulator gets."""

    def __init__(self, app: Any, seen: list[dict[str, str]]) -> None:
        self.app = app
        self.seen = seen

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            self.seen.append({k.decode(): v.decode() for k, v in scope["headers"]})
        await self.app(scope, receive, send)


@dataclass
class Telemetry:
    """One test's emulator scenario, its in-memory OpenTelemetry SDK, and what it reads."""

    emulator: EmulatorServer
    scenario: Scenario
    headers: list[dict[str, str]]
    spans: InMemorySpanExporter = field(default_factory=InMemorySpanExporter)
    reader: InMemoryMetricReader = field(default_factory=InMemoryMetricReader)

    def __post_init__(self) -> None:
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def observer(self, **kwargs: Any) -> OTelObserver:
        return OTelObserver(self.tracer_provider, self.meter_provider, **kwargs)

    def config(self, name: str, **fields: Any) -> ProviderConfig:
        base = {
            "claude": self.emulator.anthropic_base_url,
            "gemini": self.emulator.gemini_base_url,
            "openai": self.emulator.openai_base_url,
        }[name]
        values: dict[str, Any] = {
            "name": name,
            "api_key": API_KEY,
            "base_url": base,
            "timeout": 5_000,
            "max_retries": 0,
            "rate_limits": {"requests_per_minute": 1_000_000},
            "models": [MODELS[name]],
            "default_model": MODELS[name],
            **fields,
        }
        return ProviderConfig.model_validate(values)

    def router(
        self,
        primary: str = "claude",
        fallbacks: Sequence[str] = ("gemini",),
        *,
        telemetry: bool | Observer | None = None,
        providers: dict[str, dict[str, Any]] | None = None,
        **options: Any,
    ) -> Router:
        overrides = providers or {}
        configs = [self.config(n, **overrides.get(n, {})) for n in NAMES]
        opts = {
            "backoffBaseMs": 1,
            "backoffCapMs": 2,
            "primaryProvider": primary,
            "fallbackProviders": list(fallbacks),
            **options,
        }
        chosen = self.observer() if telemetry is None else telemetry
        return Router(opts, configs, store=None, telemetry=chosen)

    @staticmethod
    def request(text: str = "Hello there", **fields: Any) -> dict[str, Any]:
        return {
            "requestId": str(uuid.uuid4()),
            "messages": [{"role": "user", "content": text}],
            **fields,
        }

    def finished_spans(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def metric_points(self, name: str) -> list[Any]:
        """The data points of metric ``name`` collected now."""
        data = self.reader.get_metrics_data()
        points: list[Any] = []
        if data is None:
            return points
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        points.extend(metric.data.data_points)
        return points


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[EmulatorServer, list[dict[str, str]]]]:
    seen: list[dict[str, str]] = []
    app = create_app(Scenario())
    app.add_middleware(HeaderRecorder, seen=seen)
    with EmulatorServer(app) as server:
        yield server, seen


@pytest.fixture
def otel(served: tuple[EmulatorServer, list[dict[str, str]]]) -> Telemetry:
    server, seen = served
    seen.clear()
    scenario = Scenario()
    server.app.state.scenario = scenario
    return Telemetry(server, scenario, seen)
