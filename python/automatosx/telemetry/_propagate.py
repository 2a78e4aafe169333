"""Trace-context propagation into the providers' HTTP requests.

:func:`inject_trace_context` is an ``httpx2`` request event hook: it writes the current
OpenTelemetry context (``traceparent``, ``tracestate``, through the globally configured
propagator) into the outgoing request's headers. :func:`install` puts it on the HTTP client
of each deployment whose adapter offers ``add_request_hook``; it is installed only when a
router's telemetry is on, so without telemetry no hook runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry import propagate

__all__ = ["inject_trace_context", "install"]


async def inject_trace_context(request: Any) -> None:
    """Add ``traceparent`` (and ``tracestate``) of the current context to ``request``."""
    propagate.inject(request.headers)


def install(deployments: Mapping[str, Any]) -> None:
    """Install :func:`inject_trace_context` on every deployment's HTTP client."""
    for dep in deployments.values():
        add = getattr(dep.provider, "add_request_hook", None)
        if add is not None:
            add(inject_trace_context)
