"""Provider adapters. ``create_provider(config)`` builds the right one from a ProviderConfig.

SDKs are imported only when their provider is built: ``import automatosx.providers`` loads
none of them.

Injecting an HTTP client: ``create_provider(config, http_client=httpx2.AsyncClient(...))``
hands the client to the SDK (``AsyncAnthropic(http_client=...)``,
``AsyncOpenAI(http_client=...)``, google-genai ``HttpOptions.httpx_async_client``). It must
be an ``httpx2`` client. The caller keeps ownership: ``aclose()`` does not close it.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from automatosx.errors import ConfigurationError
from automatosx.providers._config import PROVIDERS, coerce_config, provider_from_env
from automatosx.providers.base import Provider, StreamEnd, StreamEvent

if TYPE_CHECKING:
    import httpx2

    from automatosx.schemas import ProviderConfig

__all__ = [
    "Provider",
    "StreamEnd",
    "StreamEvent",
    "create_provider",
    "provider_from_env",
    "providers_from_env",
]

_ADAPTER_CLASSES = {
    "claude": "AnthropicProvider",
    "openai": "OpenAIProvider",
    "gemini": "GeminiProvider",
}


def create_provider(
    config: ProviderConfig | dict[str, Any], *, http_client: httpx2.AsyncClient | None = None
) -> Provider:
    """Build the adapter for ``config`` (a ProviderConfig or a seed-shaped camelCase dict).

    Raises ConfigurationError when the provider's SDK is not installed (naming the extra to
    install) or when there is no API key in the config or the environment (naming the
    variable).
    """
    config = coerce_config(config)
    spec = PROVIDERS[config.name]
    try:
        module = import_module(spec.module)
    except ImportError as exc:
        missing = exc.name or ""
        if (
            missing == spec.sdk
            or spec.sdk.startswith(missing + ".")
            or missing.startswith(spec.sdk + ".")
        ):
            raise ConfigurationError(
                f"{config.name}: the {spec.sdk} SDK is not installed:"
                f" pip install 'automatosx[{spec.extra}]'"
            ) from exc
        raise
    adapter: Provider = getattr(module, _ADAPTER_CLASSES[config.name])(
        config, http_client=http_client
    )
    return adapter


def providers_from_env() -> list[ProviderConfig]:
    """Default configs of every provider whose API key is in the environment."""
    return [c for name in PROVIDERS if (c := provider_from_env(name)) is not None]
