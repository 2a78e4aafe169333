"""The provider registry: the one place that lists the provider kinds.

A kind is what ``ProviderConfig.name`` names: the adapter that speaks to it, the SDK and pip
extra it needs, where its API key is in the environment, its default model and rate limit,
its name in genai-prices, and which of the emulator's wire protocols it speaks. Adding a kind
is one :func:`register_provider_kind` call (or one entry below) plus its adapter; nothing
else in the library lists provider names.

Your own adapters need no kind at all: pass the instance to ``Router(providers=[...])``
under any name. Register a kind when you want configs and dicts (``{"name": "mykind", ...}``)
to build your adapter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Any, Literal

from automatosx.errors import ConfigurationError

if TYPE_CHECKING:
    from automatosx.providers.base import Provider
    from automatosx.schemas import ProviderConfig

__all__ = [
    "KINDS",
    "ProviderKind",
    "provider_kind",
    "register_provider_kind",
    "unregister_provider_kind",
]

AdapterFactory = Callable[..., "Provider"]
"""``factory(config, http_client=...)`` -> a Provider."""
WireProtocol = Literal["anthropic", "openai", "gemini"]


@dataclass(frozen=True, slots=True)
class ProviderKind:
    """What the library knows about one provider kind before its SDK is imported."""

    name: str
    adapter: str | AdapterFactory
    """``"module:Class"`` imported on first use, or a callable ``(config, http_client=)``."""
    sdk: str = ""
    """The SDK's top-level import, for the "not installed" message ("" for none)."""
    extra: str = ""
    """The pip extra that installs the SDK."""
    env_keys: tuple[str, ...] = ()
    """API key variables, first wins (the SDK's own order)."""
    default_model: str | None = None
    requests_per_minute: int = 60
    """A conservative default budget; set ``rateLimits`` to your own."""
    pricing_name: str | None = None
    """The provider's id in genai-prices (None: only ``ProviderConfig.prices`` price it)."""
    wire: WireProtocol | None = None
    """Which of the emulator's wire protocols it speaks (for the demo and tests)."""

    def load_adapter(self) -> AdapterFactory:
        """The adapter factory; ConfigurationError naming the extra when the SDK is missing."""
        if not isinstance(self.adapter, str):
            return self.adapter
        module_name, _, attr = self.adapter.partition(":")
        try:
            module = import_module(module_name)
        except ImportError as exc:
            missing = exc.name or ""
            sdk = self.sdk
            if sdk and (
                missing == sdk or sdk.startswith(missing + ".") or missing.startswith(sdk + ".")
            ):
                raise ConfigurationError(
                    f"{self.name}: the {sdk} SDK is not installed:"
                    f" pip install 'automatosx[{self.extra}]'"
                ) from exc
            raise
        factory: AdapterFactory = getattr(module, attr)
        return factory


KINDS: dict[str, ProviderKind] = {
    "claude": ProviderKind(
        "claude", "automatosx.providers.anthropic:AnthropicProvider", "anthropic", "claude",
        ("ANTHROPIC_API_KEY",), "claude-sonnet-4-6", 50, "anthropic", "anthropic",
    ),
    "openai": ProviderKind(
        "openai", "automatosx.providers.openai:OpenAIProvider", "openai", "openai",
        ("OPENAI_API_KEY",), "gpt-4o-mini", 500, "openai", "openai",
    ),
    "gemini": ProviderKind(
        "gemini", "automatosx.providers.gemini:GeminiProvider", "google.genai", "gemini",
        ("GOOGLE_API_KEY", "GEMINI_API_KEY"), "gemini-2.5-flash", 1000, "google", "gemini",
    ),
}  # fmt: skip
"""Every provider kind, by name. The built-in three first; registered kinds after."""

BUILTIN = frozenset(KINDS)


def provider_kind(name: str) -> ProviderKind:
    """The kind ``name``; ConfigurationError listing the kinds when it is not registered."""
    kind = KINDS.get(name)
    if kind is None:
        known = ", ".join(KINDS)
        raise ConfigurationError(
            f"unknown provider kind {name!r}: expected one of {known} (register your own "
            "with automatosx.providers.register_provider_kind, or pass a Provider instance)"
        )
    return kind


def register_provider_kind(kind: ProviderKind, *, replace: bool = False) -> None:
    """Add a provider kind. ``replace=True`` to redefine one (never a built-in)."""
    if not isinstance(kind, ProviderKind):
        raise TypeError(f"register_provider_kind expects ProviderKind, got {type(kind).__name__}")
    if not kind.name or len(kind.name) > 64:
        raise ConfigurationError("a provider kind's name must be 1-64 characters")
    if kind.name in BUILTIN or (kind.name in KINDS and not replace):
        raise ConfigurationError(f"provider kind {kind.name!r} is already registered")
    KINDS[kind.name] = kind


def unregister_provider_kind(name: str) -> None:
    """Remove a registered kind (not a built-in)."""
    if name in BUILTIN:
        raise ConfigurationError(f"provider kind {name!r} is built in")
    KINDS.pop(name, None)


def build_adapter(config: ProviderConfig, http_client: Any = None) -> Provider:
    return provider_kind(config.name).load_adapter()(config, http_client=http_client)
