"""The routing plan: built once when the router opens, frozen, handed to every request.

A :class:`Deployment` is one configured provider as the router sees it (its adapter, limits,
guard, prices). The :class:`Plan` holds every deployment, each possible primary's candidate
order, the backoff, the prices and the options a request reads — so a request never reads the
router's private state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from automatosx._core import Backoff, CircuitBreaker, RateLimiter
from automatosx._routing.guard import Guard, LocalGuard
from automatosx.errors import ConfigurationError
from automatosx.providers.base import Provider
from automatosx.schemas import ModelPrice, ProviderConfig, RouterOptions

if TYPE_CHECKING:
    from automatosx.observe import Observers
    from automatosx.pricing import PriceBook

__all__ = ["Deployment", "Plan", "build_deployments"]

_DEFAULT_TIMEOUT_MS = 60_000
_DEFAULT_MAX_RETRIES = 3


@dataclass(slots=True, eq=False)
class Deployment:
    """One configured provider: what the router routes to."""

    name: str
    provider: Provider
    default_model: str | None
    max_retries: int
    timeout_s: float
    guard: Guard
    breaker: CircuitBreaker | None = None
    prices: Mapping[str, ModelPrice] = field(default_factory=dict)
    owned: bool = True


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything a request needs from the router, computed at ``open()``."""

    options: RouterOptions
    deployments: Mapping[str, Deployment]
    candidates: Mapping[str, tuple[Deployment, ...]]
    """Each possible primary's candidates: the primary, then the enabled fallbacks, once each."""
    fallback_labels: Mapping[str, list[str]]
    backoff: Backoff
    prices: PriceBook | None
    observers: Observers
    first_token_timeout_s: float | None
    stream_idle_timeout_s: float | None
    restart_streams: bool
    fallback_on_content_filter: bool

    check_names = staticmethod(lambda options, deployments: _check_names(options, deployments))

    @classmethod
    def build(
        cls,
        options: RouterOptions,
        deployments: Mapping[str, Deployment],
        prices: PriceBook | None,
        observers: Observers,
    ) -> Plan:
        cls.check_names(options, deployments)
        fallbacks = options.fallback_providers if options.enable_fallback else []
        candidates: dict[str, tuple[Deployment, ...]] = {}
        labels: dict[str, list[str]] = {}
        for primary in deployments:
            names = [primary, *(n for n in fallbacks if n != primary)]
            order = list(dict.fromkeys(n for n in names if n in deployments))
            candidates[primary] = tuple(deployments[n] for n in order)
            labels[primary] = order[1:]
        first_token = options.first_token_timeout_ms
        idle = getattr(options, "stream_idle_timeout_ms", None)
        return cls(
            options=options,
            deployments=deployments,
            candidates=candidates,
            fallback_labels=labels,
            backoff=Backoff(
                base_ms=options.backoff_base_ms,
                cap_ms=options.backoff_cap_ms,
                max_wait_ms=options.max_retry_wait_ms,
            ),
            prices=prices,
            observers=observers,
            first_token_timeout_s=None if first_token is None else first_token / 1000,
            stream_idle_timeout_s=None if idle is None else idle / 1000,
            restart_streams=bool(getattr(options, "restart_streams", True)),
            fallback_on_content_filter=bool(getattr(options, "fallback_on_content_filter", False)),
        )


def _check_names(options: RouterOptions, deployments: Mapping[str, Deployment]) -> None:
    """Every deployment the options name is configured; fail at ``open()`` otherwise."""
    if not deployments:
        raise ConfigurationError(
            "no providers configured: pass providers=[...] or set ANTHROPIC_API_KEY, "
            "OPENAI_API_KEY or GEMINI_API_KEY"
        )
    wanted = [
        options.primary_provider,
        *(options.fallback_providers if options.enable_fallback else []),
    ]
    missing = [name for name in wanted if name not in deployments]
    if missing:
        raise ConfigurationError(
            f"provider(s) {', '.join(missing)} named in the router options are not "
            f"configured (or disabled); configured: {', '.join(deployments)}"
        )


def _breaker(options: RouterOptions) -> CircuitBreaker | None:
    if not options.enable_circuit_breaker:
        return None
    return CircuitBreaker(
        failure_threshold=options.circuit_breaker_threshold,
        reset_timeout_ms=options.circuit_breaker_timeout,
    )


def _from_config(config: ProviderConfig, provider: Provider, options: RouterOptions) -> Deployment:
    limits = config.rate_limits
    breaker = _breaker(options)
    limiter = RateLimiter(
        requests_per_minute=limits.requests_per_minute,
        tokens_per_minute=limits.tokens_per_minute,
    )
    return Deployment(
        name=config.name,
        provider=provider,
        default_model=config.default_model,
        max_retries=config.max_retries,
        timeout_s=config.timeout / 1000,
        guard=LocalGuard(config.name, breaker, limiter),
        breaker=breaker,
        prices=config.prices or {},
    )


def _from_instance(provider: Provider, options: RouterOptions) -> Deployment:
    config = getattr(provider, "config", None)
    if isinstance(config, ProviderConfig):
        deployment = _from_config(config, provider, options)
        deployment.owned = False
        return deployment
    name = provider.name
    if not isinstance(name, str) or not name:
        raise ConfigurationError(
            f"providers: a Provider's name must be a non-empty string, got {name!r}"
        )
    breaker = _breaker(options)
    return Deployment(
        name=name,
        provider=provider,
        default_model=getattr(provider, "default_model", None),
        max_retries=int(getattr(provider, "max_retries", _DEFAULT_MAX_RETRIES)),
        timeout_s=int(getattr(provider, "timeout", _DEFAULT_TIMEOUT_MS)) / 1000,
        guard=LocalGuard(name, breaker, None),
        breaker=breaker,
        owned=False,
    )


def build_deployments(
    entries: Iterable[ProviderConfig | Mapping[str, Any] | Provider],
    options: RouterOptions,
    http_client: Any = None,
) -> dict[str, Deployment]:
    """A deployment per entry: configs and dicts get a built-in adapter, instances are used
    as they are (and not closed by the router)."""
    from automatosx.providers import create_provider
    from automatosx.providers._config import coerce_config

    if isinstance(entries, (str, bytes, Mapping)) or not isinstance(entries, Iterable):
        raise ConfigurationError(
            "providers: expected a list of ProviderConfig, seed-shaped dicts or Provider "
            f"instances, got {type(entries).__name__}"
        )
    deployments: dict[str, Deployment] = {}
    for entry in entries:
        if isinstance(entry, Mapping):
            entry = coerce_config(dict(entry))
        if isinstance(entry, ProviderConfig):
            if not entry.enabled:
                continue
            adapter = create_provider(entry, http_client=http_client)
            deployment = _from_config(entry, adapter, options)
        elif isinstance(entry, Provider):
            deployment = _from_instance(entry, options)
        else:
            raise ConfigurationError(
                "providers: expected ProviderConfig, a seed-shaped dict or a Provider, "
                f"got {type(entry).__name__}"
            )
        if deployment.name in deployments:
            raise ConfigurationError(f"providers: {deployment.name!r} is configured twice")
        deployments[deployment.name] = deployment
    return deployments
