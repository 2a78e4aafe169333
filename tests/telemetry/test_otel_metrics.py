"""OpenTelemetry metrics: the GenAI ones and the router's own, read with the SDK's
InMemoryMetricReader; and no OpenTelemetry import without telemetry."""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from automatosx.emulator import Rule
from automatosx.errors import AllProvidersFailedError

if TYPE_CHECKING:
    from tests.telemetry.conftest import Telemetry


async def test_a_fallback_counts_attempts_by_outcome_and_one_fallback(otel: Telemetry) -> None:
    otel.scenario.add(Rule(provider="claude", status=503))
    async with otel.router() as router:
        reply = await router.execute(otel.request())

    attempts = {
        (p.attributes["automatosx.deployment"], p.attributes["automatosx.attempt.outcome"]): p.value
        for p in otel.metric_points("automatosx.router.attempts")
    }
    assert attempts == {("claude", "failure"): 1, ("gemini", "success"): 1}
    (fallback,) = otel.metric_points("automatosx.router.fallbacks")
    assert fallback.attributes["automatosx.deployment"] == "claude"
    assert fallback.attributes["automatosx.fallback.cause"] == "failure"
    assert fallback.value == 1
    (duration,) = otel.metric_points("gen_ai.client.inference.duration")
    assert duration.count == 1
    assert duration.attributes["gen_ai.provider.name"] == "gcp.gemini"
    assert duration.attributes["gen_ai.request.model"] == "claude-sonnet-4-6"
    assert duration.attributes["gen_ai.response.model"] == reply.model
    assert "error.type" not in duration.attributes
    assert duration.explicit_bounds[0] == 0.01  # the conventions' advised buckets
    (output,) = otel.metric_points("gen_ai.client.inference.usage.output_tokens")
    assert output.value == reply.tokens.output_tokens
    assert output.attributes["gen_ai.token.modality"] == "text"
    states = {
        (p.attributes["automatosx.deployment"], p.attributes["automatosx.breaker.state"]): p.value
        for p in otel.metric_points("automatosx.breaker.state")
    }
    assert states[("claude", "closed")] == 1
    assert states[("claude", "open")] == 0


async def test_a_failed_request_records_its_duration_with_error_type(otel: Telemetry) -> None:
    otel.scenario.add(Rule(status=500))
    async with otel.router(fallbacks=[]) as router:
        with pytest.raises(AllProvidersFailedError):
            await router.execute(otel.request())

    (duration,) = otel.metric_points("gen_ai.client.inference.duration")
    assert duration.attributes["error.type"]


async def test_a_stream_records_time_to_first_chunk(otel: Telemetry) -> None:
    async with otel.router() as router:
        chunks = [c async for c in router.stream(otel.request("Count to five"))]
    assert chunks[-1].done

    (ttfc,) = otel.metric_points("gen_ai.client.inference.time_to_first_chunk")
    assert ttfc.count == 1
    assert ttfc.sum > 0
    (duration,) = otel.metric_points("gen_ai.client.inference.duration")
    assert duration.sum >= ttfc.sum


async def test_a_stream_restart_is_counted(otel: Telemetry) -> None:
    otel.scenario.add(Rule(provider="claude", request=1, stream_error_after=2, status=500))
    async with otel.router(providers={"claude": {"max_retries": 1}}, restartStreams=True) as router:
        chunks = [c async for c in router.stream(otel.request("Count to five"))]
    assert any(c.restart for c in chunks)

    (restarts,) = otel.metric_points("automatosx.stream.restarts")
    assert restarts.value == 1


def test_importing_automatosx_and_building_a_router_loads_no_opentelemetry() -> None:
    code = (
        "import sys, asyncio\n"
        "import automatosx, automatosx.telemetry\n"
        "from automatosx import Router\n"
        "cfg = {'name': 'openai', 'apiKey': 'sk-x', 'baseUrl': 'http://127.0.0.1:9/v1',"
        " 'rateLimits': {'requestsPerMinute': 10}, 'defaultModel': 'gpt-4o-mini',"
        " 'models': ['gpt-4o-mini']}\n"
        "async def main():\n"
        "    async with Router({'primaryProvider': 'openai'}, [cfg], store=None):\n"
        "        pass\n"
        "asyncio.run(main())\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"
