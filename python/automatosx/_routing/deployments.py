"""Deployments from configuration: a ``ProviderConfig`` (or seed-shaped dict) gets its
built-in adapter, a :class:`~automatosx.providers.base.Provider` instance is used as it is;
each becomes a :class:`~automatosx._routing.plan.Deployment` with its breaker, limiter and
the :class:`~automatosx.guards.DeploymentSpec` its guards are built from (by the plan).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from automatosx._core import CircuitBreaker, RateLimiter
from automatosx._routing.plan import Deployment
from automatosx.errors import ConfigurationError, redact
from automatosx.guards import DeploymentSpec
from automatosx.providers.base import Provider
from automatosx.schemas import ProviderConfig, ProviderHealth, RouterOptions

__all__ = ["build_deployments", "health_of"]

_DEFAULT_TIMEOUT_MS = 60_000
_DEFAULT_MAX_RETRIES = 3


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
    dep_id = config.id or config.name
    spec = DeploymentSpec(
        name=dep_id,
        kind=config.name,
        group=config.group or dep_id,
        timeout_ms=int(config.timeout),
        requests_per_minute=limits.requests_per_minute,
        tokens_per_minute=limits.tokens_per_minute,
        breaker=breaker,
        limiter=limiter,
        options=options,
    )
    return Deployment(
        name=dep_id,
        provider=provider,
        default_model=config.default_model,
        max_retries=config.max_retries,
        timeout_s=config.timeout / 1000,
        spec=spec,
        breaker=breaker,
        prices=config.prices or {},
        kind=config.name,
        group=config.group or dep_id,
        weight=config.weight,
        models=tuple(config.models),
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
    timeout_ms = int(getattr(provider, "timeout", _DEFAULT_TIMEOUT_MS))
    spec = DeploymentSpec(name, name, name, timeout_ms, None, None, breaker, None, options)
    return Deployment(
        name=name,
        provider=provider,
        default_model=getattr(provider, "default_model", None),
        max_retries=int(getattr(provider, "max_retries", _DEFAULT_MAX_RETRIES)),
        timeout_s=timeout_ms / 1000,
        spec=spec,
        breaker=breaker,
        owned=False,
        kind=name,
        group=name,
    )


def build_deployments(
    entries: Iterable[ProviderConfig | Mapping[str, Any] | Provider],
    options: RouterOptions,
    http_client: Any = None,
) -> dict[str, Deployment]:
    """A deployment per entry: configs and dicts get a built-in adapter, instances are used
    as they are (and not closed by the router). Ids must be unique."""
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
            raise ConfigurationError(
                f"providers: deployment id {deployment.name!r} is configured twice (give each "
                f"config its own 'id'); configured: {', '.join(deployments)}"
            )
        deployments[deployment.name] = deployment
    return deployments


async def health_of(dep: Deployment) -> ProviderHealth:
    """A deployment's health check; an adapter that raises is reported down."""
    try:
        return await dep.provider.check_health()
    except Exception as exc:  # an adapter must not raise here; report it as down
        return ProviderHealth(
            provider=dep.name, status="down", error=redact(f"{type(exc).__name__}: {exc}")
        )
