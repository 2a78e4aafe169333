"""OpenTelemetry traces of routed requests: one GenAI span per request with every attempt
inside, skips as events, content only when asked, traceparent on the provider's request."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from automatosx.emulator import Rule
from automatosx.errors import AllProvidersFailedError

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan
    from tests.telemetry.conftest import Telemetry


def _split(spans: list[ReadableSpan]) -> tuple[ReadableSpan, list[ReadableSpan]]:
    requests = [s for s in spans if s.kind is SpanKind.CLIENT]
    assert len(requests) == 1, [s.name for s in spans]
    attempts = sorted(
        (s for s in spans if s.kind is not SpanKind.CLIENT),
        key=lambda s: s.attributes["automatosx.attempt.number"],  # type: ignore[index]
    )
    return requests[0], attempts


async def test_a_successful_request_is_one_genai_client_span_with_one_attempt(
    otel: Telemetry,
) -> None:
    req = otel.request("Say hi", max_tokens=50, temperature=0.5)
    async with otel.router() as router:
        reply = await router.execute(req)

    request, attempts = _split(otel.finished_spans())
    assert request.name == "chat claude-sonnet-4-6"
    attrs = request.attributes or {}
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.provider.name"] == "anthropic"
    assert attrs["gen_ai.request.model"] == "claude-sonnet-4-6"
    assert attrs["gen_ai.request.max_tokens"] == 50
    assert attrs["gen_ai.request.temperature"] == 0.5
    assert attrs["gen_ai.request.stream"] is False
    assert attrs["gen_ai.response.model"] == reply.model
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    assert attrs["gen_ai.usage.input_tokens"] == reply.tokens.input_tokens
    assert attrs["gen_ai.usage.output_tokens"] == reply.tokens.output_tokens
    assert attrs["server.address"] == "127.0.0.1"
    assert attrs["server.port"] == otel.emulator.port
    assert attrs["automatosx.request.id"] == req["requestId"]
    assert "error.type" not in attrs
    assert "gen_ai.input.messages" not in attrs  # content is opt-in
    assert "gen_ai.output.messages" not in attrs
    assert request.status.status_code is StatusCode.UNSET

    (attempt,) = attempts
    assert attempt.parent is not None
    assert attempt.parent.span_id == request.context.span_id
    assert attempt.context.trace_id == request.context.trace_id
    a = attempt.attributes or {}
    assert (a["automatosx.deployment"], a["automatosx.attempt.outcome"]) == ("claude", "success")
    assert a["automatosx.breaker.state"] == "closed"


async def test_retries_and_a_fallback_are_attempts_inside_the_one_request_span(
    otel: Telemetry,
) -> None:
    otel.scenario.add(Rule(provider="claude", status=500))
    async with otel.router(providers={"claude": {"max_retries": 1}}) as router:
        reply = await router.execute(otel.request())
    assert reply.provider == "gemini"

    request, attempts = _split(otel.finished_spans())
    assert [s.attributes["automatosx.deployment"] for s in attempts] == [  # type: ignore[index]
        "claude",
        "claude",
        "gemini",
    ]
    assert all(
        s.parent is not None and s.parent.span_id == request.context.span_id for s in attempts
    )
    first, second, third = (s.attributes or {} for s in attempts)
    assert first["automatosx.attempt.decision"] == "retry"
    assert first["automatosx.attempt.retry_delay_ms"] >= 0
    assert first["error.type"] == "ServerError"
    assert first["automatosx.error.code"] == "SERVER_ERROR"
    assert second["automatosx.attempt.decision"] == "fallback"
    assert third["automatosx.attempt.outcome"] == "success"
    assert attempts[0].status.status_code is StatusCode.ERROR
    assert attempts[2].status.status_code is StatusCode.UNSET
    attrs = request.attributes or {}
    assert attrs["gen_ai.provider.name"] == "gcp.gemini"  # the deployment that answered
    assert attrs["automatosx.attempts"] == 3


async def test_every_candidate_failing_sets_error_type_and_status_on_the_request_span(
    otel: Telemetry,
) -> None:
    otel.scenario.add(Rule(status=500))
    async with otel.router() as router:
        with pytest.raises(AllProvidersFailedError):
            await router.execute(otel.request())

    request, attempts = _split(otel.finished_spans())
    assert len(attempts) == 2
    assert request.status.status_code is StatusCode.ERROR
    assert (request.attributes or {})["error.type"]


async def test_a_skipped_candidate_is_an_event_with_its_reason_and_breaker_state(
    otel: Telemetry,
) -> None:
    otel.scenario.add(Rule(provider="claude", status=500))
    options = {"circuitBreakerThreshold": 1, "circuitBreakerTimeout": 60_000}
    async with otel.router(**options) as router:
        await router.execute(otel.request())  # opens claude's breaker
        otel.spans.clear()
        await router.execute(otel.request())

    request, attempts = _split(otel.finished_spans())
    assert [s.attributes["automatosx.deployment"] for s in attempts] == ["gemini"]  # type: ignore[index]
    (event,) = [e for e in request.events if e.name == "automatosx.candidate_skipped"]
    attrs = event.attributes or {}
    assert attrs["automatosx.deployment"] == "claude"
    assert attrs["automatosx.breaker.state"] == "open"
    assert attrs["automatosx.skip.code"]
    assert attrs["automatosx.skip.reason"]


async def test_capture_content_records_the_messages_and_the_reply(otel: Telemetry) -> None:
    req = otel.request()
    req["messages"] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Name a colour"},
    ]
    async with otel.router(telemetry=otel.observer(capture_content=True)) as router:
        reply = await router.execute(req)

    request, _ = _split(otel.finished_spans())
    attrs = request.attributes or {}
    assert json.loads(str(attrs["gen_ai.input.messages"])) == [
        {"role": "user", "parts": [{"type": "text", "content": "Name a colour"}]}
    ]
    assert json.loads(str(attrs["gen_ai.system_instructions"])) == [
        {"type": "text", "content": "Be brief."}
    ]
    (output,) = json.loads(str(attrs["gen_ai.output.messages"]))
    assert output["role"] == "assistant"
    assert output["parts"] == [{"type": "text", "content": reply.content}]


@pytest.mark.parametrize("provider", ["claude", "gemini", "openai"])
async def test_the_provider_request_carries_a_traceparent_of_the_request_span(
    otel: Telemetry, provider: str
) -> None:
    async with otel.router(provider, []) as router:
        await router.execute(otel.request())

    request, (attempt,) = _split(otel.finished_spans())
    (headers,) = otel.headers
    version, trace_id, parent_id, flags = headers["traceparent"].split("-")
    assert int(trace_id, 16) == request.context.trace_id
    assert int(parent_id, 16) == attempt.context.span_id
    assert version == "00"
    assert int(flags, 16) & 1  # sampled


async def test_no_traceparent_is_sent_without_telemetry(otel: Telemetry) -> None:
    async with otel.router(telemetry=False) as router:
        await router.execute(otel.request())
    (headers,) = otel.headers
    assert "traceparent" not in headers
    assert otel.finished_spans() == []


async def test_the_attempt_span_is_not_left_current_after_the_request(otel: Telemetry) -> None:
    from opentelemetry import trace

    async with otel.router() as router:
        await router.execute(otel.request())
        assert not trace.get_current_span().get_span_context().is_valid
        chunks = [c async for c in router.stream(otel.request())]
        assert chunks[-1].done
        assert not trace.get_current_span().get_span_context().is_valid


async def test_a_stream_records_time_to_first_chunk_on_its_spans(otel: Telemetry) -> None:
    async with otel.router() as router:
        async for _ in router.stream(otel.request("Count to five")):
            pass

    request, (attempt,) = _split(otel.finished_spans())
    attrs = request.attributes or {}
    assert attrs["gen_ai.request.stream"] is True
    ttfc = attrs["gen_ai.response.time_to_first_chunk"]
    assert isinstance(ttfc, float)
    assert ttfc > 0
    assert (attempt.attributes or {})["gen_ai.response.time_to_first_chunk"] > 0


async def test_a_failing_observer_event_is_logged_and_the_request_succeeds(
    otel: Telemetry, caplog: pytest.LogCaptureFixture
) -> None:
    observer = otel.observer()

    def broken(*args: object) -> None:
        raise RuntimeError("exporter exploded")

    observer.on_attempt_ended = broken  # type: ignore[method-assign]
    async with otel.router(telemetry=observer) as router:
        reply = await router.execute(otel.request())
    assert reply.content
    assert "the attempt_ended event failed" in caplog.text
