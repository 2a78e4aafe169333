"""A wait for the rate limiter is visible: with the guides' ``requests_per_minute: 600`` and
8 threads through :class:`SyncRouter` (the real SDK over real HTTP to the emulator), every
wait is a DEBUG line and an ``Observer.limiter_waited`` event, the deployment gets one INFO
line in the minute saying why, and the ``automatosx.limiter.wait`` histogram counts each wait
in OpenTelemetry and in Prometheus (scraped over loopback)."""

from __future__ import annotations

import logging
import threading
import urllib.request
from typing import TYPE_CHECKING

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from tests._servers import free_port

from automatosx import SyncRouter
from automatosx.observe import Observer, RequestInfo, WaitInfo
from automatosx.telemetry.prometheus import PrometheusObserver, start_http_server

if TYPE_CHECKING:
    from tests.telemetry.conftest import Telemetry

THREADS, EACH = 8, 4


class Waits(Observer):
    def __init__(self) -> None:
        self.seen: list[WaitInfo] = []

    async def limiter_waited(self, request: RequestInfo, wait: WaitInfo) -> None:
        self.seen.append(wait)


def _histogram_count(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "automatosx_limiter_wait_seconds_count":
                assert sample.labels["automatosx_deployment"] == "claude"
                assert sample.labels["automatosx_wait_reason"] == "limiter"
                return sample.value
    return 0.0


def test_waits_for_a_600_rpm_limiter_from_8_threads_are_logged_observed_and_metered(
    otel: Telemetry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="automatosx")
    waits = Waits()
    registry = CollectorRegistry()
    server, thread = start_http_server(free_port(), "127.0.0.1", registry)
    configs = [otel.config("claude", rate_limits={"requests_per_minute": 600})]
    options = {"primaryProvider": "claude", "maxRetryWaitMs": 30_000}
    replies: list[str] = []
    start = threading.Barrier(THREADS)
    try:
        with SyncRouter(
            options,
            configs,
            observers=[waits, PrometheusObserver(registry)],
            telemetry=otel.observer(),
        ) as router:

            def worker() -> None:
                start.wait()
                for _ in range(EACH):
                    replies.append(router.execute(otel.request()).provider)

            workers = [threading.Thread(target=worker) for _ in range(THREADS)]
            for w in workers:
                w.start()
            for w in workers:
                w.join(60)
            scraped = _histogram_count(server.server_port)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)

    assert replies == ["claude"] * THREADS * EACH
    # 32 requests at 10 a second: all but the limiter's burst waited.
    assert len(waits.seen) >= THREADS * EACH // 2
    assert {(w.provider, w.reason, w.admitted) for w in waits.seen} == {("claude", "limiter", True)}
    assert all(w.waited_ms >= 1 for w in waits.seen)
    assert max(w.waited_ms for w in waits.seen) >= 100  # 8 in line behind a 100 ms interval
    debug = [r for r in caplog.records if r.levelno == logging.DEBUG and "waited" in r.message]
    assert len(debug) == len(waits.seen)
    info = [r for r in caplog.records if r.levelno == logging.INFO and "waited for" in r.message]
    assert len(info) == 1  # one per deployment per minute
    assert "deployment claude" in info[0].message
    assert "600 requests a minute" in info[0].message
    assert scraped == len(waits.seen)
    (point,) = otel.metric_points("automatosx.limiter.wait")
    assert point.count == len(waits.seen)
    assert point.attributes["automatosx.deployment"] == "claude"
    assert point.attributes["gen_ai.provider.name"] == "anthropic"
    assert point.sum >= max(w.waited_ms for w in waits.seen) / 1000


def test_requests_that_do_not_wait_say_nothing(
    otel: Telemetry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="automatosx")
    waits = Waits()
    with SyncRouter({"primaryProvider": "claude"}, [otel.config("claude")], observers=[waits]) as r:
        for _ in range(5):
            r.execute(otel.request())
    assert waits.seen == []
    assert not [r for r in caplog.records if "waited" in r.message]
