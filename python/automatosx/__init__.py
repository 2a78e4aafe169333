"""automatosx: one router for Claude, Gemini and OpenAI, with a Rust core.

Importing the package loads only the Rust core. Everything else (pydantic models, the router,
provider SDKs, the store) is imported on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from automatosx._core import (
    AutomatosxError,
    Backoff,
    BreakerState,
    CircuitBreaker,
    Event,
    InvalidTransitionError,
    ProviderStateMachine,
    RateLimiter,
    State,
)

if TYPE_CHECKING:
    from automatosx._output import parse_output
    from automatosx.errors import (
        AllProvidersFailedError,
        Attempt,
        AuthenticationError,
        BudgetExceededError,
        CircuitOpenError,
        ConfigurationError,
        ContentFilterError,
        ContextLengthError,
        InvalidRequestError,
        MigrationError,
        ModelNotFoundError,
        OutputValidationError,
        OverloadedError,
        ProviderConnectionError,
        ProviderError,
        ProviderTimeoutError,
        RateLimitError,
        RequestValidationError,
        ServerError,
        StoreError,
        UnpricedModelError,
    )
    from automatosx.observe import Observer
    from automatosx.providers.base import Provider, StreamEnd
    from automatosx.router import Router, Stream
    from automatosx.schemas import (
        ContentPart,
        CostMetrics,
        ImagePart,
        JsonObjectFormat,
        JsonSchemaFormat,
        Message,
        NamedToolChoice,
        ProviderConfig,
        ProviderHealth,
        ProviderRequest,
        ProviderResponse,
        ProviderRouterOptions,
        RateLimitInfo,
        Reasoning,
        ResponseFormat,
        RouterOptions,
        StreamChunk,
        TextPart,
        TokenUsage,
        Tool,
        ToolCall,
        ToolChoice,
    )
    from automatosx.sync import SyncRouter

__version__ = "0.1.0"

__all__ = [
    "AllProvidersFailedError",
    "Attempt",
    "AuthenticationError",
    "AutomatosxError",
    "Backoff",
    "BreakerState",
    "BudgetExceededError",
    "CircuitBreaker",
    "CircuitOpenError",
    "ConfigurationError",
    "ContentFilterError",
    "ContentPart",
    "ContextLengthError",
    "CostMetrics",
    "Event",
    "ImagePart",
    "InvalidRequestError",
    "InvalidTransitionError",
    "JsonObjectFormat",
    "JsonSchemaFormat",
    "Message",
    "MigrationError",
    "ModelNotFoundError",
    "NamedToolChoice",
    "Observer",
    "OutputValidationError",
    "OverloadedError",
    "Provider",
    "ProviderConfig",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderHealth",
    "ProviderRequest",
    "ProviderResponse",
    "ProviderRouterOptions",
    "ProviderStateMachine",
    "ProviderTimeoutError",
    "RateLimitError",
    "RateLimitInfo",
    "RateLimiter",
    "Reasoning",
    "RequestValidationError",
    "ResponseFormat",
    "Router",
    "RouterOptions",
    "ServerError",
    "State",
    "StoreError",
    "Stream",
    "StreamChunk",
    "StreamEnd",
    "SyncRouter",
    "TextPart",
    "TokenUsage",
    "Tool",
    "ToolCall",
    "ToolChoice",
    "UnpricedModelError",
    "parse_output",
]

_LAZY: dict[str, str] = {
    **dict.fromkeys(
        [
            "AllProvidersFailedError",
            "Attempt",
            "AuthenticationError",
            "BudgetExceededError",
            "CircuitOpenError",
            "ConfigurationError",
            "ContentFilterError",
            "ContextLengthError",
            "InvalidRequestError",
            "MigrationError",
            "ModelNotFoundError",
            "OverloadedError",
            "ProviderConnectionError",
            "ProviderError",
            "ProviderTimeoutError",
            "RateLimitError",
            "RequestValidationError",
            "ServerError",
            "StoreError",
            "UnpricedModelError",
        ],
        "automatosx.errors",
    ),
    **dict.fromkeys(
        [
            "ContentPart",
            "CostMetrics",
            "ImagePart",
            "JsonObjectFormat",
            "JsonSchemaFormat",
            "Message",
            "NamedToolChoice",
            "ProviderConfig",
            "ProviderHealth",
            "ProviderRequest",
            "ProviderResponse",
            "ProviderRouterOptions",
            "RateLimitInfo",
            "Reasoning",
            "ResponseFormat",
            "RouterOptions",
            "StreamChunk",
            "TextPart",
            "TokenUsage",
            "Tool",
            "ToolCall",
            "ToolChoice",
        ],
        "automatosx.schemas",
    ),
    "Observer": "automatosx.observe",
    "OutputValidationError": "automatosx.errors",
    "parse_output": "automatosx._output",
    "Provider": "automatosx.providers.base",
    "StreamEnd": "automatosx.providers.base",
    "Router": "automatosx.router",
    "Stream": "automatosx.router",
    "SyncRouter": "automatosx.sync",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'automatosx' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
