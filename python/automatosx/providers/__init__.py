"""Provider adapters. ``create_provider(config)`` builds the right one from a ProviderConfig.

SDKs are imported only when their provider is built: ``import automatosx.providers`` loads
none of them.

Injecting an HTTP client: ``create_provider(config, http_client=httpx2.AsyncClient(...))``
hands the client to the SDK (``AsyncAnthropic(http_client=...)``,
``AsyncOpenAI(http_client=...)``, google-genai ``HttpOptions.httpx_async_client``). It must
be an ``httpx2`` client. The caller keeps ownership: ``aclose()`` does not close it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from automatosx.providers._config import PROVIDERS, coerce_config, provider_from_env
from automatosx.providers._registry import (
    ProviderKind,
    build_adapter,
    provider_kind,
    register_provider_kind,
    unregister_provider_kind,
)
from automatosx.providers.base import Provider, StreamEnd, StreamEvent

if TYPE_CHECKING:
    import httpx2

    from automatosx.schemas import ProviderConfig

__all__ = [
    "Provider",
    "ProviderKind",
    "StreamEnd",
    "StreamEvent",
    "create_provider",
    "provider_kind",
    "provider_from_env",
    "providers_from_env",
    "register_provider_kind",
    "unregister_provider_kind",
]


def create_provider(
    config: ProviderConfig | dict[str, Any], *, http_client: httpx2.AsyncClient | None = None
) -> Provider:
    """Build the adapter for ``config`` (a ProviderConfig, or its fields as a camelCase dict).

    Raises ConfigurationError when the kind is not registered (listing the kinds), when its
    SDK is not installed (naming the extra to install) or when there is no API key in the
    config or the environment (naming the variable).
    """
    config = coerce_config(config)
    return build_adapter(config, http_client)


def providers_from_env() -> list[ProviderConfig]:
    """Default configs of every provider whose API key is in the environment."""
    return [c for name in PROVIDERS if (c := provider_from_env(name)) is not None]
