"""Telemetry of routed requests: OpenTelemetry traces and metrics, and Prometheus.

``Router(..., telemetry=True)`` reports through the global OpenTelemetry providers (install
``automatosx[otel]``); pass an :class:`OTelObserver` to choose the providers or to capture
message content, or a :class:`~automatosx.telemetry.prometheus.PrometheusObserver`
(``automatosx[prometheus]``) for a scrape endpoint without OpenTelemetry.

Importing this package imports no OpenTelemetry module: ``OTelObserver`` is loaded on first
use, so the Prometheus backend works without ``opentelemetry-api``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from automatosx.observe import Observer

if TYPE_CHECKING:
    from automatosx.telemetry._otel import OTelObserver

__all__ = ["OTelObserver", "bind", "observer_for"]


def __getattr__(name: str) -> Any:
    if name == "OTelObserver":
        from automatosx.telemetry._otel import OTelObserver

        return OTelObserver
    raise AttributeError(f"module 'automatosx.telemetry' has no attribute {name!r}")


def observer_for(telemetry: bool | Observer) -> Observer | None:
    """The observer of ``Router(telemetry=...)``: True is an :class:`OTelObserver` on the
    global providers, an Observer is itself, False is None."""
    if telemetry is False:
        return None
    if telemetry is True:
        try:
            from automatosx.telemetry._otel import OTelObserver
        except ImportError as exc:
            raise ImportError(
                "telemetry=True needs opentelemetry-api: pip install 'automatosx[otel]'"
            ) from exc
        return OTelObserver()
    if isinstance(telemetry, Observer):
        return telemetry
    raise TypeError(
        "telemetry: expected True, False or an automatosx.Observer (e.g. "
        f"automatosx.telemetry.OTelObserver(...)), got {type(telemetry).__name__}"
    )


def bind(observer: Observer, deployments: Mapping[str, Any]) -> None:
    """For OpenTelemetry, install the ``traceparent`` hook on the deployments' HTTP clients
    (every observer, this one too, is told the deployments by ``Observer.bind_deployments``)."""
    if getattr(observer, "propagates", False):
        from automatosx.telemetry._propagate import install

        install(deployments)
