"""Pydantic models of the seed's ten Zod schemas, and the rich request around them.

One data model (requests, replies, configuration), split by job: ``_base`` (bounded types,
the model base, the validation-bypassing constructors), ``_content`` (messages, parts, tools,
formats, reasoning), ``_request`` (ProviderRequest), ``_fast`` (the typical request's own
validation path: the same model, ~0.6x pydantic's time), ``_response`` (what comes back) and
``_config`` (deployments, router options). Import from ``automatosx.schemas``: the
submodules are private.

Attributes are snake_case; every model accepts the seed's camelCase JSON (and snake_case
names) and emits camelCase with ``model_dump(by_alias=True)``. Optional fields that are unset
are left out of dumps, as Zod leaves them out, so a seed document round-trips exactly.

Deviations from the seed, each for a reason (see docs/architecture.md):

* ``ProviderRequest.request_id`` is generated (UUID4) when absent.
* ``ProviderRequest.provider`` and ``.model`` may be omitted: the router fills in the primary
  provider and its ``defaultModel``.
* ``ProviderConfig.api_key`` is a ``SecretStr``: it never appears in reprs, logs or dumps
  (dumps show ``**********``); read it with ``.get_secret_value()``.
* Fields marked as extensions (``prices`` on ProviderConfig, the router tuning knobs on
  ProviderRouterOptions) are emitted only when they differ from their default; the
  deployment fields of ProviderConfig (``id``, ``group``, ``weight``) only when set.
* Provider names are open (any 1-64 character string): a ``ProviderConfig.name`` is the
  provider *kind* (``claude``, ``gemini``, ``openai`` or a user-registered kind).
* Every integer has an upper bound a Rust ``u32``/``u64`` can hold (named in its field's
  description); ``metadata`` is JSON (``dict[str, JsonValue]``, at most 32 levels deep and
  10,000 values); text with lone surrogates (e.g. ``"\\ud800"``), which no provider can
  encode as UTF-8, is refused at validation wherever a request carries text.

The rich request (issue 11): ``Message.content`` is text or a list of parts (text, image by
base64 ``data`` + ``mediaType`` or by ``url``); an ``assistant`` message may carry
``toolCalls`` (its content may then be empty or absent); a ``tool`` message carries
``toolCallId`` and the tool's result as content. ``ProviderRequest`` adds ``tools``,
``toolChoice``, ``parallelToolCalls``, ``responseFormat``, ``reasoning``, ``promptCache``;
``ProviderResponse`` adds ``toolCalls`` and ``parsed``; ``TokenUsage`` adds
``cachedInputTokens`` / ``cacheWriteTokens`` (both part of ``inputTokens``) and
``reasoningTokens`` (part of ``outputTokens``); ``StreamChunk`` adds ``toolCall`` and
``restart`` (emitted only when true).
"""

from __future__ import annotations

# The public names are those of __all__; an ``X as X`` import is not public, but the package's
# own modules, tests or benches import it from here.
from automatosx.schemas._base import _CHECKED as _CHECKED
from automatosx.schemas._base import _DAY_MS as _DAY_MS
from automatosx.schemas._base import _EXTENSION as _EXTENSION
from automatosx.schemas._base import _STRICT as _STRICT
from automatosx.schemas._base import _WHEN_SET as _WHEN_SET
from automatosx.schemas._base import MAX_SAFE_INT as MAX_SAFE_INT
from automatosx.schemas._base import METADATA_MAX_DEPTH as METADATA_MAX_DEPTH
from automatosx.schemas._base import METADATA_MAX_VALUES as METADATA_MAX_VALUES
from automatosx.schemas._base import UUID_PATTERN as UUID_PATTERN
from automatosx.schemas._base import FinishReason, HealthStatus, ProviderName, Role, RouteTarget
from automatosx.schemas._base import HttpUrlStr as HttpUrlStr
from automatosx.schemas._base import JsonObject as JsonObject
from automatosx.schemas._base import NonNegInt as NonNegInt
from automatosx.schemas._base import PosInt as PosInt
from automatosx.schemas._base import Text as Text
from automatosx.schemas._base import UUIDStr as UUIDStr
from automatosx.schemas._base import _assemble as _assemble
from automatosx.schemas._base import _bounded as _bounded
from automatosx.schemas._base import _check_json as _check_json
from automatosx.schemas._base import _check_text as _check_text
from automatosx.schemas._base import _fields_of as _fields_of
from automatosx.schemas._base import _Flag as _Flag
from automatosx.schemas._base import _new_request_id as _new_request_id
from automatosx.schemas._base import _now_ms as _now_ms
from automatosx.schemas._base import _SeedModel as _SeedModel
from automatosx.schemas._config import (
    CacheOptions,
    ModelPrice,
    ProviderConfig,
    ProviderRateLimits,
    ProviderRouterOptions,
    RouterOptions,
    StickyRoutingOptions,
)
from automatosx.schemas._config import DeploymentId as DeploymentId
from automatosx.schemas._config import HedgingOptions as HedgingOptions
from automatosx.schemas._config import LoadBalancing as LoadBalancing
from automatosx.schemas._content import MEDIA_TYPES as MEDIA_TYPES
from automatosx.schemas._content import (
    ContentPart,
    ImagePart,
    JsonObjectFormat,
    JsonSchemaFormat,
    Message,
    NamedToolChoice,
    Reasoning,
    ResponseFormat,
    TextPart,
    Tool,
    ToolCall,
    ToolChoice,
)
from automatosx.schemas._content import ToolCallId as ToolCallId
from automatosx.schemas._content import ToolName as ToolName
from automatosx.schemas._request import CacheMode, ProviderRequest, RequestCacheOptions
from automatosx.schemas._response import (
    CostMetrics,
    ProviderHealth,
    ProviderResponse,
    RateLimitInfo,
    StreamChunk,
    TokenUsage,
)

__all__ = [
    "CacheMode",
    "CacheOptions",
    "ContentPart",
    "CostMetrics",
    "FinishReason",
    "HealthStatus",
    "ImagePart",
    "JsonObjectFormat",
    "JsonSchemaFormat",
    "Message",
    "ModelPrice",
    "NamedToolChoice",
    "ProviderConfig",
    "ProviderHealth",
    "ProviderName",
    "ProviderRateLimits",
    "ProviderRequest",
    "ProviderResponse",
    "ProviderRouterOptions",
    "RateLimitInfo",
    "Reasoning",
    "RequestCacheOptions",
    "ResponseFormat",
    "Role",
    "RouteTarget",
    "RouterOptions",
    "StickyRoutingOptions",
    "StreamChunk",
    "TextPart",
    "TokenUsage",
    "Tool",
    "ToolCall",
    "ToolChoice",
]
