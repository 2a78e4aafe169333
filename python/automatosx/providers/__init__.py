"""Provider adapters. ``create_provider(config)`` builds the right one from a ProviderConfig.

SDKs are imported only when their provider is built.
"""

from __future__ import annotations

from automatosx.providers.base import Provider, StreamEnd, StreamEvent

__all__ = ["Provider", "StreamEnd", "StreamEvent"]
