"""The attribute sets bound once per label set (``telemetry/_bound.py``): what the fast paths
write is what the slow ones wrote, label sets stay apart, a table that starts over loses no
count, and no span carries another request's attributes."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pytest
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.samples import Sample

from automatosx.emulator import Rule
from automatosx.observe import Observers
from automatosx.telemetry import _bound
from automatosx.telemetry._names import DURATION, OP_OUTPUT_TOKENS
from automatosx.telemetry.prometheus import PrometheusObserver

if TYPE_CHECKING:
    from tests.telemetry.conftest import Telemetry

# on a bound, just past one, the first and the last bound, past the last, zero, NaN
AMOUNTS = (0.01, 0.0100001, 0.0, 0.32, 81.92, 81.93, 1e9, float("nan"), 5.12, 0.64)


def _samples(registry: CollectorRegistry, name: str) -> list[tuple[str, dict[str, str], float]]:
    out = []
    for family in registry.collect():
        if family.name != name:
            continue
        for s in family.samples:
            if not s.name.endswith("_created"):
                value = "nan" if math.isnan(s.value) else s.value
                out.append((s.name, s.labels, value))
    return out


@pytest.mark.parametrize("spec", [DURATION, OP_OUTPUT_TOKENS], ids=["seconds", "tokens"])
def test_the_direct_histogram_write_scrapes_as_observe_does(spec: object) -> None:
    from automatosx.telemetry._names import MetricSpec

    assert isinstance(spec, MetricSpec)
    ours = CollectorRegistry()
    sink = PrometheusObserver(ours)._sink
    attrs = {"gen_ai.request.model": "m", "gen_ai.provider.name": "anthropic"}
    record = sink.bind(spec, attrs)  # type: ignore[attr-defined]
    reference = CollectorRegistry()
    buckets = (*(spec.buckets or ()), float("inf"))
    public = Histogram(
        spec.prometheus_name,
        spec.description,
        spec.prometheus_labels,
        registry=reference,
        buckets=buckets,
    )
    child = public.labels(*["" if (v := attrs.get(k)) is None else v for k in spec.labels])
    for amount in AMOUNTS:
        record(amount)
        child.observe(amount)
    got = _samples(ours, spec.prometheus_name)
    assert got == _samples(reference, spec.prometheus_name)
    count = [v for name, _, v in got if name.endswith("_count")]
    assert count == [len(AMOUNTS) - 1]  # NaN is in no bucket, as prometheus_client has it


async def test_label_sets_stay_apart_and_a_table_starting_over_loses_no_count(
    otel: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_bound, "TABLE_MAX", 1)  # every new label set starts its table over
    registry = CollectorRegistry()
    observer = PrometheusObserver(registry)
    otel.scenario.add(Rule(provider="claude", status=500, first=3))
    async with otel.router(telemetry=observer) as router:
        for _ in range(3):  # claude fails, gemini answers
            await router.execute(otel.request())
        for _ in range(4):  # claude answers
            await router.execute(otel.request())
        for _ in range(2):
            await router.execute(otel.request(provider="gemini"))

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    attempts = "automatosx_router_attempts_total"
    assert (
        value(
            attempts,
            gen_ai_provider_name="anthropic",
            automatosx_deployment="claude",
            automatosx_attempt_outcome="failure",
            automatosx_attempt_decision="fallback",
            error_type="ServerError",
        )
        == 3
    )
    success = {"automatosx_attempt_outcome": "success", "automatosx_attempt_decision": ""}
    ok_claude = {"gen_ai_provider_name": "anthropic", "automatosx_deployment": "claude"}
    ok_gemini = {"gen_ai_provider_name": "gcp.gemini", "automatosx_deployment": "gemini"}
    assert value(attempts, **ok_claude, **success, error_type="") == 4
    assert value(attempts, **ok_gemini, **success, error_type="") == 5
    counts = {
        (s.labels["gen_ai_provider_name"], s.labels["gen_ai_request_model"]): s.value
        for s in _family(registry, "gen_ai_client_inference_duration_seconds")
        if s.name.endswith("_count")
    }
    assert counts == {
        ("anthropic", "claude-sonnet-4-6"): 4,
        ("gcp.gemini", "claude-sonnet-4-6"): 3,  # asked for claude's model, answered by gemini
        ("gcp.gemini", "gemini-2.5-flash"): 2,
    }


def _family(registry: CollectorRegistry, name: str) -> list[Sample]:
    return [s for f in registry.collect() if f.name == name for s in f.samples]


async def test_a_series_appears_only_once_it_has_a_value(otel: Telemetry) -> None:
    registry = CollectorRegistry()
    async with otel.router(telemetry=PrometheusObserver(registry)) as router:
        await router.execute(otel.request())
        assert _family(registry, "gen_ai_client_inference_time_to_first_chunk_seconds") == []
        async for _ in router.stream(otel.request()):
            pass
    ttfc = _family(registry, "gen_ai_client_inference_time_to_first_chunk_seconds")
    assert [s.value for s in ttfc if s.name.endswith("_count")] == [1]


def test_the_metrics_alone_are_not_told_request_started_the_spans_are(otel: Telemetry) -> None:
    metrics_only = Observers([PrometheusObserver(CollectorRegistry())])
    assert metrics_only.request_started == ()
    assert metrics_only.stream_restarted == ()
    assert len(metrics_only.request_finished) == 1
    spans = Observers([otel.observer()])
    assert len(spans.request_started) == 1
    assert len(spans.stream_restarted) == 1


async def test_each_span_carries_its_own_request_attributes(otel: Telemetry) -> None:
    first = otel.request("one", max_tokens=10, temperature=0.1, stop_sequences=["x"])
    second = otel.request("two", top_p=0.5)
    async with otel.router() as router:
        await router.execute(first)
        await router.execute(second)
    spans = sorted(
        (s for s in otel.finished_spans() if s.name.startswith("chat ")),
        key=lambda s: s.start_time or 0,
    )
    assert [s.attributes["automatosx.request.id"] for s in spans] == [  # type: ignore[index]
        first["requestId"],
        second["requestId"],
    ]
    one, two = (dict(s.attributes or {}) for s in spans)
    assert one["gen_ai.request.max_tokens"] == 10
    assert one["gen_ai.request.temperature"] == 0.1
    assert one["gen_ai.request.stop_sequences"] == ("x",)
    assert "gen_ai.request.top_p" not in one
    assert two["gen_ai.request.top_p"] == 0.5
    assert two.get("gen_ai.request.temperature") != 0.1  # the schema's default, if any
    assert "gen_ai.request.stop_sequences" not in two
    assert two.get("gen_ai.request.max_tokens") != 10
    for attrs in (one, two):
        assert attrs["gen_ai.provider.name"] == "anthropic"
        assert attrs["automatosx.deployment"] == "claude"
        assert all(v is not None for v in attrs.values())
