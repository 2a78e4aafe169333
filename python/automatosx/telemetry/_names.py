"""The names telemetry emits, in one place: the OpenTelemetry GenAI conventions and ours.

Both backends (OpenTelemetry in ``_otel.py``, Prometheus in ``prometheus.py``) describe their
instruments from :data:`METRICS`, so a metric has the same meaning, unit and attributes in
both; Prometheus spells the names with underscores (``gen_ai.client.inference.duration`` is
``gen_ai_client_inference_duration_seconds``). Nothing here imports OpenTelemetry.

The GenAI names follow the conventions as renamed in 2026 (semantic-conventions-genai:
``gen_ai.client.inference`` spans and ``gen_ai.client.inference.*`` metrics).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from automatosx.schemas import ProviderRequest

__all__ = [
    "ATTEMPTS",
    "BREAKER_STATE",
    "BREAKER_STATES",
    "CACHE_HITS",
    "CACHE_MISSES",
    "BUDGET_EXCEEDED",
    "BUDGET_GAUGES",
    "DURATION",
    "FALLBACKS",
    "METRICS",
    "OPERATION",
    "OP_INPUT_TOKENS",
    "OP_OUTPUT_TOKENS",
    "RESTARTS",
    "TIME_TO_FIRST_CHUNK",
    "USAGE_CACHE_READ",
    "USAGE_CACHE_WRITE",
    "USAGE_INPUT",
    "USAGE_OUTPUT",
    "USAGE_REASONING",
    "MetricSpec",
    "Server",
    "error_type",
    "modality",
    "provider_name",
    "server_of",
]

OPERATION = "chat"
"""``gen_ai.operation.name`` of every request (the three APIs are chat completions)."""

BREAKER_STATES = ("closed", "half_open", "open")

_PROVIDER_NAMES: Mapping[str, str] = {
    "claude": "anthropic",
    "anthropic": "anthropic",
    "openai": "openai",
    "gemini": "gcp.gemini",
}
"""Our provider kinds as the conventions' well-known ``gen_ai.provider.name`` values."""

_DURATION_BUCKETS: tuple[float, ...] = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56)
_DURATION_BUCKETS += (5.12, 10.24, 20.48, 40.96, 81.92)
"""The conventions' advised boundaries for durations, in seconds."""
_TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304)
_TOKEN_BUCKETS_F = tuple(float(b) for b in _TOKEN_BUCKETS)

_GENAI_LABELS = (
    "gen_ai.operation.name",
    "gen_ai.provider.name",
    "gen_ai.request.model",
    "gen_ai.response.model",
    "server.address",
    "server.port",
)


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One instrument, as both backends create it."""

    name: str
    kind: Literal["counter", "histogram", "gauge"]
    unit: str
    description: str
    labels: tuple[str, ...]
    """The attribute keys it carries (Prometheus labels: dots become underscores; an absent
    attribute is the empty label value)."""
    buckets: tuple[float, ...] | None = None

    @property
    def prometheus_name(self) -> str:
        """``gen_ai_client_inference_duration_seconds``; counters get ``_total`` from the
        client library itself."""
        base = self.name.replace(".", "_")
        suffix = {"s": "_seconds", "{token}": "_tokens"}.get(self.unit, "")
        return base if not suffix or base.endswith(suffix) else base + suffix

    @property
    def prometheus_labels(self) -> tuple[str, ...]:
        return tuple(label.replace(".", "_") for label in self.labels)


DURATION = MetricSpec(
    "gen_ai.client.inference.duration",
    "histogram",
    "s",
    "Duration of routed inference requests, across all their attempts.",
    (*_GENAI_LABELS, "error.type"),
    _DURATION_BUCKETS,
)
TIME_TO_FIRST_CHUNK = MetricSpec(
    "gen_ai.client.inference.time_to_first_chunk",
    "histogram",
    "s",
    "Time from a streamed request's start to its first chunk reaching the caller.",
    _GENAI_LABELS,
    _DURATION_BUCKETS,
)
_USAGE_LABELS = (*_GENAI_LABELS, "gen_ai.token.modality")
USAGE_INPUT = MetricSpec(
    "gen_ai.client.inference.usage.input_tokens",
    "counter",
    "{token}",
    "Input (prompt) tokens used, cached ones included.",
    _USAGE_LABELS,
)
USAGE_OUTPUT = MetricSpec(
    "gen_ai.client.inference.usage.output_tokens",
    "counter",
    "{token}",
    "Output (completion) tokens used, reasoning ones included.",
    _USAGE_LABELS,
)
USAGE_CACHE_READ = MetricSpec(
    "gen_ai.client.inference.usage.cache_read.input_tokens",
    "counter",
    "{token}",
    "Input tokens served from the provider's cache (part of the input tokens).",
    _USAGE_LABELS,
)
USAGE_CACHE_WRITE = MetricSpec(
    "gen_ai.client.inference.usage.cache_write.input_tokens",
    "counter",
    "{token}",
    "Input tokens written to the provider's cache (part of the input tokens).",
    _USAGE_LABELS,
)
USAGE_REASONING = MetricSpec(
    "gen_ai.client.inference.usage.reasoning.output_tokens",
    "counter",
    "{token}",
    "Output tokens spent on reasoning (part of the output tokens).",
    _USAGE_LABELS,
)
OP_INPUT_TOKENS = MetricSpec(
    "gen_ai.client.inference.operation.input_tokens",
    "histogram",
    "{token}",
    "Input tokens per request (for percentiles; use the usage counters for totals).",
    _GENAI_LABELS,
    _TOKEN_BUCKETS_F,
)
OP_OUTPUT_TOKENS = MetricSpec(
    "gen_ai.client.inference.operation.output_tokens",
    "histogram",
    "{token}",
    "Output tokens per request (for percentiles; use the usage counters for totals).",
    _GENAI_LABELS,
    _TOKEN_BUCKETS_F,
)
ATTEMPTS = MetricSpec(
    "automatosx.router.attempts",
    "counter",
    "{attempt}",
    "Attempts sent to a deployment, by outcome and the policy's decision.",
    (
        "gen_ai.provider.name",
        "automatosx.deployment",
        "automatosx.attempt.outcome",
        "automatosx.attempt.decision",
        "error.type",
    ),
)
FALLBACKS = MetricSpec(
    "automatosx.router.fallbacks",
    "counter",
    "{fallback}",
    "Times a request left a deployment for the next candidate (after a failure, or a skip).",
    ("automatosx.deployment", "automatosx.fallback.cause", "error.type"),
)
RESTARTS = MetricSpec(
    "automatosx.stream.restarts",
    "counter",
    "{restart}",
    "Streams that started again after a mid-reply failure.",
    ("automatosx.deployment",),
)
LIMITER_WAIT = MetricSpec(
    "automatosx.limiter.wait",
    "histogram",
    "s",
    "Time an attempt waited for its deployment's rate limiter (or a 429's cool-down) before "
    "it was sent.",
    ("gen_ai.provider.name", "automatosx.deployment", "automatosx.wait.reason"),
    _DURATION_BUCKETS,
)
BREAKER_STATE = MetricSpec(
    "automatosx.breaker.state",
    "gauge",
    "1",
    "1 for the state each deployment's circuit breaker is in, 0 for the other states.",
    ("automatosx.deployment", "automatosx.breaker.state"),
)

CACHE_HITS = MetricSpec(
    "automatosx.cache.hits",
    "counter",
    "{request}",
    "Requests the response cache answered (no provider call).",
    ("automatosx.cache.backend",),
)
CACHE_MISSES = MetricSpec(
    "automatosx.cache.misses",
    "counter",
    "{request}",
    "Requests that asked the response cache and were sent to a provider.",
    ("automatosx.cache.backend",),
)
_BUDGET = ("automatosx.budget.id", "automatosx.budget.scope", "automatosx.budget.unit")
BUDGET_SPENT = MetricSpec(
    "automatosx.budget.spent",
    "gauge",
    "1",
    "Spend of each budget and scope value in its current window, reservations under way "
    "included, in automatosx.budget.unit (usd or tokens).",
    _BUDGET,
)
BUDGET_REMAINING = MetricSpec(
    "automatosx.budget.remaining",
    "gauge",
    "1",
    "What is left of each budget and scope value in its current window, in "
    "automatosx.budget.unit (usd or tokens).",
    _BUDGET,
)
BUDGET_GAUGES = (BUDGET_SPENT, BUDGET_REMAINING)
"""Read from the router's budgets when scraped (not in :data:`METRICS`: labels come and go)."""
BUDGET_EXCEEDED = MetricSpec(
    "automatosx.budget.exceeded",
    "counter",
    "{attempt}",
    "Attempts a budget refused before sending (budget_exceeded): rejected, or passed over.",
    ("automatosx.budget.id", "automatosx.deployment", "error.type"),
)

METRICS: tuple[MetricSpec, ...] = (
    DURATION,
    TIME_TO_FIRST_CHUNK,
    USAGE_INPUT,
    USAGE_OUTPUT,
    USAGE_CACHE_READ,
    USAGE_CACHE_WRITE,
    USAGE_REASONING,
    OP_INPUT_TOKENS,
    OP_OUTPUT_TOKENS,
    ATTEMPTS,
    FALLBACKS,
    RESTARTS,
    LIMITER_WAIT,
    BREAKER_STATE,
    CACHE_HITS,
    CACHE_MISSES,
    BUDGET_EXCEEDED,
)


@dataclass(frozen=True, slots=True)
class Server:
    """Where a deployment sends: ``server.address`` and ``server.port``."""

    provider: str
    """``gen_ai.provider.name``."""
    address: str | None = None
    port: int | None = None


_DEFAULT_HOSTS: Mapping[str, tuple[str, int]] = {
    "anthropic": ("api.anthropic.com", 443),
    "openai": ("api.openai.com", 443),
    "gcp.gemini": ("generativelanguage.googleapis.com", 443),
}


def provider_name(kind: str) -> str:
    """``gen_ai.provider.name`` of a provider kind (a user kind is its own name)."""
    return _PROVIDER_NAMES.get(kind, kind)


def server_of(kind: str, base_url: str | None) -> Server:
    """The ``Server`` of a deployment of ``kind`` sending to ``base_url`` (None: the vendor's)."""
    provider = provider_name(kind)
    if base_url:
        parts = urlsplit(base_url)
        default_port = 443 if parts.scheme == "https" else 80
        try:
            port = parts.port or default_port
        except ValueError:
            port = default_port
        return Server(provider, parts.hostname, port)
    host = _DEFAULT_HOSTS.get(provider)
    return Server(provider, *host) if host else Server(provider)


def error_type(error: BaseException | None) -> str | None:
    """``error.type``: the exception's class name (``RateLimitError``, ``ProviderTimeoutError``),
    a small fixed set; None without an error."""
    return None if error is None else type(error).__name__


def modality(request: ProviderRequest | None) -> str:
    """``gen_ai.token.modality``: ``text`` when every message is text, else ``unknown`` (the
    providers do not split usage by modality)."""
    if request is None:
        return "unknown"
    for message in request.messages:
        if isinstance(message.content, list) and any(p.type != "text" for p in message.content):
            return "unknown"
    return "text"
