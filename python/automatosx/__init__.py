"""automatosx: one router for Claude, Gemini and OpenAI, with a Rust core.

Importing the package loads only the Rust core. Everything else (pydantic models, the router,
provider SDKs, the store) is imported on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from automatosx._core import (
    AutomatosxError as AutomatosxError,
)
from automatosx._core import (
    Backoff as Backoff,
)
from automatosx._core import (
    BreakerState as BreakerState,
)
from automatosx._core import (
    CircuitBreaker as CircuitBreaker,
)
from automatosx._core import (
    Event as Event,
)
from automatosx._core import (
    InvalidTransitionError as InvalidTransitionError,
)
from automatosx._core import (
    ProviderStateMachine as ProviderStateMachine,
)
from automatosx._core import (
    RateLimiter as RateLimiter,
)
from automatosx._core import (
    State as State,
)

if TYPE_CHECKING:
    from automatosx._output import ParsedResponse as ParsedResponse
    from automatosx._output import parse_output as parse_output
    from automatosx.cache import Cache as Cache
    from automatosx.errors import (
        AllProvidersFailedError as AllProvidersFailedError,
    )
    from automatosx.errors import (
        Attempt as Attempt,
    )
    from automatosx.errors import (
        AuthenticationError as AuthenticationError,
    )
    from automatosx.errors import (
        BudgetExceededError as BudgetExceededError,
    )
    from automatosx.errors import (
        CircuitOpenError as CircuitOpenError,
    )
    from automatosx.errors import (
        ConfigurationError as ConfigurationError,
    )
    from automatosx.errors import (
        ContentFilterError as ContentFilterError,
    )
    from automatosx.errors import (
        ContextLengthError as ContextLengthError,
    )
    from automatosx.errors import (
        InvalidRequestError as InvalidRequestError,
    )
    from automatosx.errors import (
        MigrationError as MigrationError,
    )
    from automatosx.errors import (
        ModelNotFoundError as ModelNotFoundError,
    )
    from automatosx.errors import (
        OutputValidationError as OutputValidationError,
    )
    from automatosx.errors import (
        OverloadedError as OverloadedError,
    )
    from automatosx.errors import (
        ProviderConnectionError as ProviderConnectionError,
    )
    from automatosx.errors import (
        ProviderError as ProviderError,
    )
    from automatosx.errors import (
        ProviderTimeoutError as ProviderTimeoutError,
    )
    from automatosx.errors import (
        RateLimitError as RateLimitError,
    )
    from automatosx.errors import (
        RequestValidationError as RequestValidationError,
    )
    from automatosx.errors import (
        ServerError as ServerError,
    )
    from automatosx.errors import (
        StoreError as StoreError,
    )
    from automatosx.errors import (
        UnpricedModelError as UnpricedModelError,
    )
    from automatosx.observe import Observer as Observer
    from automatosx.providers.base import Provider as Provider
    from automatosx.providers.base import StreamEnd as StreamEnd
    from automatosx.router import Router as Router
    from automatosx.router import Stream as Stream
    from automatosx.schemas import (
        ContentPart as ContentPart,
    )
    from automatosx.schemas import (
        CostMetrics as CostMetrics,
    )
    from automatosx.schemas import (
        ImagePart as ImagePart,
    )
    from automatosx.schemas import (
        JsonObjectFormat as JsonObjectFormat,
    )
    from automatosx.schemas import (
        JsonSchemaFormat as JsonSchemaFormat,
    )
    from automatosx.schemas import (
        Message as Message,
    )
    from automatosx.schemas import (
        NamedToolChoice as NamedToolChoice,
    )
    from automatosx.schemas import (
        ProviderConfig as ProviderConfig,
    )
    from automatosx.schemas import (
        ProviderHealth as ProviderHealth,
    )
    from automatosx.schemas import (
        ProviderRequest as ProviderRequest,
    )
    from automatosx.schemas import (
        ProviderResponse as ProviderResponse,
    )
    from automatosx.schemas import (
        ProviderRouterOptions as ProviderRouterOptions,
    )
    from automatosx.schemas import (
        RateLimitInfo as RateLimitInfo,
    )
    from automatosx.schemas import (
        Reasoning as Reasoning,
    )
    from automatosx.schemas import (
        ResponseFormat as ResponseFormat,
    )
    from automatosx.schemas import (
        RouterOptions as RouterOptions,
    )
    from automatosx.schemas import (
        StreamChunk as StreamChunk,
    )
    from automatosx.schemas import (
        TextPart as TextPart,
    )
    from automatosx.schemas import (
        TokenUsage as TokenUsage,
    )
    from automatosx.schemas import (
        Tool as Tool,
    )
    from automatosx.schemas import (
        ToolCall as ToolCall,
    )
    from automatosx.schemas import (
        ToolChoice as ToolChoice,
    )
    from automatosx.sync import SyncRouter as SyncRouter

__version__ = "0.1.0"

# The public names, each written once here: where it lives (imported on first use). The
# TYPE_CHECKING imports above say the same for type checkers; a test keeps the two equal.
_LAZY_FROM: dict[str, tuple[str, ...]] = {
    "automatosx.errors": (
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
        "OutputValidationError",
        "OverloadedError",
        "ProviderConnectionError",
        "ProviderError",
        "ProviderTimeoutError",
        "RateLimitError",
        "RequestValidationError",
        "ServerError",
        "StoreError",
        "UnpricedModelError",
    ),
    "automatosx.schemas": (
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
    ),
    "automatosx.observe": ("Observer",),
    "automatosx._output": ("ParsedResponse", "parse_output"),
    "automatosx.providers.base": ("Provider", "StreamEnd"),
    "automatosx.router": ("Router", "Stream"),
    "automatosx.sync": ("SyncRouter",),
    "automatosx.cache": ("Cache",),
}
_LAZY: dict[str, str] = {name: module for module, names in _LAZY_FROM.items() for name in names}
_CORE = (
    "AutomatosxError",
    "Backoff",
    "BreakerState",
    "CircuitBreaker",
    "Event",
    "InvalidTransitionError",
    "ProviderStateMachine",
    "RateLimiter",
    "State",
)

__all__ = sorted([*_CORE, *_LAZY])


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'automatosx' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
