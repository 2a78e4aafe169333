"""The Prometheus backend: the router's metrics scraped over loopback and parsed."""

from __future__ import annotations

import urllib.request
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from tests._servers import free_port

from automatosx.emulator import Rule
from automatosx.telemetry.prometheus import PrometheusObserver, start_http_server

if TYPE_CHECKING:
    from prometheus_client.samples import Sample
    from tests.telemetry.conftest import Telemetry


def _scrape(port: int) -> dict[str, list[Sample]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    samples: dict[str, list[Sample]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


async def test_a_fallback_is_scrapeable_as_attempts_fallbacks_duration_and_breaker_state(
    otel: Telemetry,
) -> None:
    registry = CollectorRegistry()
    observer = PrometheusObserver(registry)
    server, thread = start_http_server(free_port(), "127.0.0.1", registry)
    try:
        otel.scenario.add(Rule(provider="claude", status=500))
        async with otel.router(telemetry=observer) as router:
            reply = await router.execute(otel.request())
            samples = _scrape(server.server_port)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)

    attempts = {
        (s.labels["automatosx_deployment"], s.labels["automatosx_attempt_outcome"]): s.value
        for s in samples["automatosx_router_attempts_total"]
    }
    assert attempts == {("claude", "failure"): 1.0, ("gemini", "success"): 1.0}
    (fallback,) = samples["automatosx_router_fallbacks_total"]
    assert fallback.labels["automatosx_deployment"] == "claude"
    assert fallback.labels["error_type"] == "ServerError"
    assert fallback.value == 1.0
    (count,) = samples["gen_ai_client_inference_duration_seconds_count"]
    assert count.labels["gen_ai_provider_name"] == "gcp.gemini"
    assert count.labels["gen_ai_operation_name"] == "chat"
    assert count.value == 1.0
    (tokens,) = samples["gen_ai_client_inference_usage_output_tokens_total"]
    assert tokens.value == reply.tokens.output_tokens
    breaker = {
        (s.labels["automatosx_deployment"], s.labels["automatosx_breaker_state"]): s.value
        for s in samples["automatosx_breaker_state"]
    }
    assert breaker[("claude", "closed")] == 1.0
    assert breaker[("claude", "open")] == 0.0
