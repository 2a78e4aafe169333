"""Provider configuration from the environment: API keys, default models, default limits.

No SDK is imported here: ``import automatosx.providers`` stays cheap.
"""

from __future__ import annotations

import os
from typing import Any

from automatosx.errors import ConfigurationError, redact
from automatosx.providers._registry import KINDS, ProviderKind, provider_kind
from automatosx.schemas import ProviderConfig, ProviderRateLimits

__all__ = ["PROVIDERS", "api_key_for", "coerce_config", "provider_from_env"]


PROVIDERS = KINDS
"""The provider kinds (the registry's table; kept under its old name)."""


def _spec(name: str) -> ProviderKind:
    return provider_kind(name)


def _env_key(spec: ProviderKind) -> str | None:
    for var in spec.env_keys:
        value = os.environ.get(var, "").strip()
        if value:
            return value
    return None


def provider_from_env(name: str) -> ProviderConfig | None:
    """A default ProviderConfig for ``name`` if its API key is in the environment, else None.

    The model is the provider's default (``claude-sonnet-4-6``, ``gpt-4o-mini``,
    ``gemini-2.5-flash``); ``rateLimits`` is a tier-1 requests-per-minute budget. The key
    itself is not copied into the config: the adapter reads it from the environment.
    """
    spec = _spec(name)
    if _env_key(spec) is None or spec.default_model is None:
        return None
    return ProviderConfig(
        name=spec.name,
        rate_limits=ProviderRateLimits(requests_per_minute=spec.requests_per_minute),
        models=[spec.default_model],
        default_model=spec.default_model,
    )


def api_key_for(config: ProviderConfig) -> str:
    """The API key: the config's, else the environment's; ConfigurationError if neither."""
    if config.api_key is not None:
        return config.api_key.get_secret_value()
    spec = _spec(config.name)
    key = _env_key(spec)
    if key is None:
        names = " or ".join(spec.env_keys) or "an API key variable"
        raise ConfigurationError(
            f"{config.name}: no API key: set {names} in the environment or apiKey in the config"
        )
    return key


def coerce_config(config: ProviderConfig | dict[str, Any]) -> ProviderConfig:
    """A ProviderConfig from a model or a seed-shaped (camelCase) dict."""
    if isinstance(config, ProviderConfig):
        return config
    if isinstance(config, dict):
        from pydantic import ValidationError

        try:
            return ProviderConfig.model_validate(config)
        except ValidationError as exc:
            raise ConfigurationError(redact(f"invalid provider config: {exc}")) from exc
    raise ConfigurationError(f"expected a ProviderConfig or a dict, got {type(config).__name__}")
