"""Per-provider runtime state of a router: the adapter, its breaker, limiter and limits."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from automatosx._core import CircuitBreaker, RateLimiter
from automatosx.errors import ConfigurationError
from automatosx.providers.base import Provider
from automatosx.schemas import ModelPrice, ProviderConfig, ProviderName, RouterOptions

__all__ = ["Slot", "build_slots"]

_DEFAULT_TIMEOUT_MS = 60_000
_DEFAULT_MAX_RETRIES = 3


@dataclass(slots=True, eq=False)
class Slot:
    """One configured provider as the router sees it."""

    name: ProviderName
    provider: Provider
    default_model: str | None
    max_retries: int
    timeout_s: float
    breaker: CircuitBreaker | None
    limiter: RateLimiter | None
    prices: Mapping[str, ModelPrice] = field(default_factory=dict)
    owned: bool = True
    cooled_until_ms: int = 0
    """Monotonic ms until which a 429's retry-after cools the provider."""


def _breaker(options: RouterOptions) -> CircuitBreaker | None:
    if not options.enable_circuit_breaker:
        return None
    return CircuitBreaker(
        failure_threshold=options.circuit_breaker_threshold,
        reset_timeout_ms=options.circuit_breaker_timeout,
    )


def _slot_for_config(config: ProviderConfig, provider: Provider, options: RouterOptions) -> Slot:
    limits = config.rate_limits
    return Slot(
        name=config.name,
        provider=provider,
        default_model=config.default_model,
        max_retries=config.max_retries,
        timeout_s=config.timeout / 1000,
        breaker=_breaker(options),
        limiter=RateLimiter(
            requests_per_minute=limits.requests_per_minute,
            tokens_per_minute=limits.tokens_per_minute,
        ),
        prices=config.prices or {},
    )


def _slot_for_instance(provider: Provider, options: RouterOptions) -> Slot:
    config = getattr(provider, "config", None)
    if isinstance(config, ProviderConfig):
        slot = _slot_for_config(config, provider, options)
        slot.owned = False
        return slot
    return Slot(
        name=provider.name,
        provider=provider,
        default_model=getattr(provider, "default_model", None),
        max_retries=int(getattr(provider, "max_retries", _DEFAULT_MAX_RETRIES)),
        timeout_s=int(getattr(provider, "timeout", _DEFAULT_TIMEOUT_MS)) / 1000,
        breaker=_breaker(options),
        limiter=None,
        owned=False,
    )


def build_slots(
    entries: Iterable[ProviderConfig | Mapping[str, Any] | Provider],
    options: RouterOptions,
    http_client: Any = None,
) -> dict[ProviderName, Slot]:
    """Build a slot per provider: configs and dicts get a built-in adapter, instances are
    used as they are (and not closed by the router)."""
    from automatosx.providers import create_provider
    from automatosx.providers._config import coerce_config

    slots: dict[ProviderName, Slot] = {}
    for entry in entries:
        if isinstance(entry, Mapping):
            entry = coerce_config(dict(entry))
        if isinstance(entry, ProviderConfig):
            if not entry.enabled:
                continue
            slot = _slot_for_config(entry, create_provider(entry, http_client=http_client), options)
        elif isinstance(entry, Provider):
            slot = _slot_for_instance(entry, options)
        else:
            raise ConfigurationError(
                f"providers: expected ProviderConfig, a seed-shaped dict or a Provider, got "
                f"{type(entry).__name__}"
            )
        if slot.name in slots:
            raise ConfigurationError(f"providers: {slot.name!r} is configured twice")
        slots[slot.name] = slot
    return slots
