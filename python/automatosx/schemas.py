"""Pydantic models of the seed's ten Zod schemas, and the rich request around them.

Over 450 lines on purpose: it is the one data model (requests, replies, configuration), and
its parts (content parts, tools, formats) are fields of one another.

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

import functools
import math
import os
import re
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    SecretStr,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic.config import JsonDict
from typing_extensions import Self

from automatosx._clock import now_ms

__all__ = [
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
    "ResponseFormat",
    "Role",
    "RouteTarget",
    "RouterOptions",
    "StreamChunk",
    "TextPart",
    "TokenUsage",
    "Tool",
    "ToolCall",
    "ToolChoice",
]

ProviderName = Annotated[str, StringConstraints(min_length=1, max_length=64)]
"""A provider kind (``claude``, ``gemini``, ``openai`` or a user-registered kind): 1-64 chars."""
RouteTarget = Annotated[str, StringConstraints(min_length=1, max_length=200)]
"""A routing target: a kind, a deployment id or group, later ``"<group-or-id>/<model>"``."""
Role = Literal["system", "user", "assistant", "tool"]
FinishReason = Literal["stop", "length", "content_filter", "tool_calls"]
HealthStatus = Literal["healthy", "degraded", "down"]

UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
UUIDStr = Annotated[str, StringConstraints(pattern=UUID_PATTERN)]
MAX_SAFE_INT = 2**53
"""The bound of counts, durations and timestamps: fits a u64 and a JavaScript number."""
NonNegInt = Annotated[int, Field(ge=0, le=MAX_SAFE_INT, description="0..2**53")]
PosInt = Annotated[int, Field(gt=0, le=MAX_SAFE_INT, description="1..2**53")]
_EXTENSION: JsonDict = {"extension": True}
_WHEN_SET: JsonDict = {"extension": "when-set"}
_DAY_MS = 86_400_000


def _check_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an absolute http(s) URL, e.g. 'https://api.example.com'")
    return value


HttpUrlStr = Annotated[str, AfterValidator(_check_url)]


def _check_text(value: str) -> str:
    """Refuse lone surrogates: they cannot be encoded as UTF-8, so no provider can take them."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(
                f"contains a lone surrogate at position {exc.start} ({value[exc.start]!r}), "
                "which is not valid Unicode text; decode the source with errors='replace'"
            ) from None
    return value


Text = Annotated[str, AfterValidator(_check_text)]
"""A string that is valid Unicode (no lone surrogates)."""

METADATA_MAX_DEPTH = 32
METADATA_MAX_VALUES = 10_000


def _check_json(value: dict[str, JsonValue]) -> dict[str, JsonValue]:
    """Bound a JSON document's depth and size, and refuse NaN/inf and lone surrogates.
    Pydantic's ``JsonValue`` already refuses tuple keys, sets, tuples and cycles."""
    budget = METADATA_MAX_VALUES
    stack: list[tuple[JsonValue, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        budget -= 1
        if budget < 0:
            raise ValueError(f"has more than {METADATA_MAX_VALUES} values; store less in it")
        if isinstance(node, str):
            _check_text(node)
        elif isinstance(node, float) and not math.isfinite(node):
            raise ValueError(f"holds {node!r}, which is not a JSON number")
        elif isinstance(node, (dict, list)):
            if depth > METADATA_MAX_DEPTH:
                raise ValueError(f"is nested deeper than {METADATA_MAX_DEPTH} levels; flatten it")
            items = node.items() if isinstance(node, dict) else enumerate(node)
            for key, child in items:
                if isinstance(key, str):
                    _check_text(key)
                stack.append((child, depth + 1))
    return value


JsonObject = Annotated[dict[str, JsonValue], AfterValidator(_check_json)]
"""A JSON object: string keys, JSON values, <= 32 levels deep, <= 10,000 values."""


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _none_as_empty(value: Any) -> Any:
    return [] if value is None else value


def _bounded(upper: int, unit: str, *, lower: int = 0) -> Any:
    """A ``Field`` bounded to ``lower..upper``, described for users and the JSON schema."""
    return Field(ge=lower, le=upper, description=f"{unit}, {lower}..{upper:_}")


def _new_request_id() -> str:
    """A random version-4 UUID string from ``os.urandom`` (what ``uuid.uuid4`` uses), so no
    ``random.seed`` in user code can make two requests share an id; about twice as cheap as
    ``str(uuid.uuid4())``."""
    b = bytearray(_urandom(16))
    b[6] = b[6] & 0x0F | 0x40  # version 4
    b[8] = b[8] & 0x3F | 0x80  # RFC 4122 variant
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_urandom = os.urandom


_new = object.__new__
_setattr = object.__setattr__
_M = TypeVar("_M", bound=BaseModel)


@functools.cache
def _fields_of(cls: type[BaseModel]) -> frozenset[str]:
    return frozenset(cls.model_fields)


def _assemble(cls: type[_M], data: dict[str, Any], fields_set: set[str]) -> _M:
    """A model instance from already-valid field values, without validation: what
    ``model_construct`` does minus its per-field defaulting (the caller passes every field)."""
    obj = _new(cls)
    _setattr(obj, "__dict__", data)
    _setattr(obj, "__pydantic_fields_set__", fields_set)
    _setattr(obj, "__pydantic_extra__", None)
    _setattr(obj, "__pydantic_private__", None)
    return obj


_now_ms = now_ms  # the old private name, until every importer uses automatosx._clock


_CHECKED = ConfigDict(validate_assignment=True)
"""The request-side models re-validate an assigned value (``req.temperature = 5.0`` raises):
a request is checked once at intake and trusted after, so it must not become invalid later.
Costs nothing on the validation path; the router itself never assigns to them."""


class _SeedModel(BaseModel):
    """Shared config: camelCase aliases, snake_case names accepted, Zod-like dumps."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        extra="forbid",
        frozen=False,
        str_strip_whitespace=False,
    )

    @model_serializer(mode="wrap")
    def _drop_unset_optionals(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        fields = type(self).model_fields
        for name, field in fields.items():
            key = field.alias if info.by_alias and field.alias else name
            if key not in data:
                continue
            value = getattr(self, name)
            extra = field.json_schema_extra
            kind = extra.get("extension") if isinstance(extra, dict) else None
            if (
                (value is None and field.default is None)
                or (kind is True and value == field.get_default(call_default_factory=True))
                or (kind == "when-set" and name not in self.__pydantic_fields_set__)
            ):
                del data[key]
        return data

    @classmethod
    def _trusted(cls, **values: Any) -> Self:
        """Build from values that are already valid, skipping validation (``model_construct``
        costs ~2.5 us, this ~0.5 us). ``values`` must name every field; only the router and
        the adapters use it, with values they built themselves."""
        fields = _fields_of(cls)
        if len(values) != len(fields):  # callers written before fields were added
            values = {**_defaults_of(cls), **values}
            for name in fields.difference(values):  # a default factory: a value per instance
                values[name] = cls.model_fields[name].get_default(call_default_factory=True)
        return _assemble(cls, values, set(fields))


@functools.cache
def _defaults_of(cls: type[BaseModel]) -> dict[str, Any]:
    return {
        name: field.get_default(call_default_factory=True)
        for name, field in cls.model_fields.items()
        if not field.is_required() and field.default_factory is None
    }


class ProviderRateLimits(_SeedModel):
    """``rateLimits`` of a provider: enforced client-side by the router's GCRA limiter."""

    requests_per_minute: Annotated[int, _bounded(1_000_000_000, "requests a minute", lower=1)]
    tokens_per_minute: (
        Annotated[int, _bounded(1_000_000_000, "tokens a minute", lower=1)] | None
    ) = None


class ModelPrice(_SeedModel):
    """A per-token price override (USD) for one model."""

    input_cost_per_token: Annotated[float, Field(ge=0)]
    output_cost_per_token: Annotated[float, Field(ge=0)]


DeploymentId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
"""A deployment id or group name: 1-64 of ``A-Z a-z 0-9 . _ -``."""


class ProviderConfig(_SeedModel):
    """One deployment of a provider kind (seed: ``ProviderConfigSchema``). ``timeout`` in ms.

    ``name`` is the provider kind. Extensions, emitted only when set: ``id`` (default: the
    name; the unit of routing: breakers, limiters and cool-downs are per id), ``group``
    (default: the id; a fallback entry may name it), ``weight`` (1..1000, default 1: the
    share of traffic among a group's deployments). Extensions for Azure OpenAI and Vertex AI,
    emitted only when set: ``azure_endpoint``, ``api_version``, ``vertex``, ``project``,
    ``location``.
    """

    name: ProviderName
    enabled: bool = True
    priority: Annotated[int, Field(ge=1, le=10)] = 1
    api_key: Annotated[SecretStr, Field(min_length=1)] | None = None
    base_url: HttpUrlStr | None = None
    timeout: Annotated[int, _bounded(3_600_000, "ms", lower=1)] = 60_000
    max_retries: Annotated[int, _bounded(100, "retries")] = 3
    rate_limits: ProviderRateLimits
    models: Annotated[list[str], Field(min_length=1)]
    default_model: str
    prices: dict[str, ModelPrice] | None = Field(default=None, json_schema_extra=_EXTENSION)
    id: DeploymentId = Field(default="", validate_default=False, json_schema_extra=_WHEN_SET)
    group: DeploymentId = Field(default="", validate_default=False, json_schema_extra=_WHEN_SET)
    weight: Annotated[int, Field(ge=1, le=1000)] = Field(default=1, json_schema_extra=_WHEN_SET)
    azure_endpoint: HttpUrlStr | None = Field(default=None, json_schema_extra=_EXTENSION)
    api_version: str | None = Field(default=None, json_schema_extra=_EXTENSION)
    vertex: bool = Field(default=False, json_schema_extra=_EXTENSION)
    project: str | None = Field(default=None, json_schema_extra=_EXTENSION)
    location: str | None = Field(default=None, json_schema_extra=_EXTENSION)

    @model_validator(mode="after")
    def _default_id_and_group(self) -> Self:
        # Written into __dict__ so they stay "unset" and out of dumps.
        if "id" not in self.__pydantic_fields_set__:
            if not _ID_RE.fullmatch(self.name):
                raise ValueError(
                    f"id: the name {self.name!r} is not a valid deployment id "
                    "(1-64 of A-Z a-z 0-9 . _ -); set id explicitly"
                )
            self.__dict__["id"] = self.name
        if "group" not in self.__pydantic_fields_set__:
            self.__dict__["group"] = self.id
        return self


_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")


# -- the rich request: content parts, tools, formats ----------------------------------------

MEDIA_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
ToolName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
"""A tool's name: 1-64 of ``A-Z a-z 0-9 _ -`` (what all three providers accept)."""
ToolCallId = Annotated[Text, StringConstraints(min_length=1, max_length=256)]


class TextPart(_SeedModel):
    """A text part of a message's content."""

    model_config = _CHECKED

    type: Literal["text"] = "text"
    text: Annotated[Text, StringConstraints(max_length=1_000_000)]


class ImagePart(_SeedModel):
    """An image part: base64 ``data`` with its ``mediaType``, or a ``url`` (exactly one)."""

    model_config = _CHECKED

    type: Literal["image"] = "image"
    data: Annotated[str, StringConstraints(min_length=1, max_length=30_000_000)] | None = None
    media_type: Literal["image/png", "image/jpeg", "image/gif", "image/webp"] | None = None
    url: HttpUrlStr | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.data is None) == (self.url is None):
            raise ValueError("an image needs exactly one of data (base64) or url")
        if self.data is not None and self.media_type is None:
            raise ValueError(f"mediaType: required with data, one of {', '.join(MEDIA_TYPES)}")
        return self


ContentPart = Annotated[TextPart | ImagePart, Field(discriminator="type")]
"""One part of a message's content: :class:`TextPart` or :class:`ImagePart`."""


class ToolCall(_SeedModel):
    """A call the model made (or made earlier in the conversation) to a declared tool."""

    model_config = _CHECKED

    id: ToolCallId
    name: ToolName
    arguments: JsonObject


class Tool(_SeedModel):
    """A tool the model may call; ``parameters`` is the JSON Schema of its arguments."""

    model_config = _CHECKED

    name: ToolName
    description: Annotated[Text, StringConstraints(max_length=100_000)] | None = None
    parameters: JsonObject | None = None


class NamedToolChoice(_SeedModel):
    """``toolChoice: {"name": ...}``: the model must call this tool."""

    model_config = _CHECKED

    name: ToolName


ToolChoice = Literal["auto", "none", "required"] | NamedToolChoice
"""``"auto"``, ``"none"``, ``"required"`` or ``{"name": <a declared tool>}``."""


class JsonObjectFormat(_SeedModel):
    """``responseFormat: {"type": "json_object"}``: any JSON object."""

    model_config = _CHECKED

    type: Literal["json_object"] = "json_object"


class JsonSchemaFormat(_SeedModel):
    """``responseFormat: {"type": "json_schema", "name", "schema", "strict"}``. The schema is
    ``json_schema`` in Python (``schema`` would shadow a pydantic method)."""

    model_config = _CHECKED

    type: Literal["json_schema"] = "json_schema"
    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
    json_schema: JsonObject = Field(alias="schema")
    strict: bool | None = None


ResponseFormat = Annotated[JsonObjectFormat | JsonSchemaFormat, Field(discriminator="type")]
"""What shape the reply's text must have: any JSON object, or one JSON Schema."""


class Reasoning(_SeedModel):
    """How much the model thinks: ``{"effort": "low"|"medium"|"high"}`` or
    ``{"budgetTokens": N}`` (exactly one). Each adapter maps one to the other if it must."""

    model_config = _CHECKED

    effort: Literal["low", "medium", "high"] | None = None
    budget_tokens: Annotated[int, Field(ge=1, le=200_000)] | None = None

    @model_validator(mode="after")
    def _one_of(self) -> Self:
        if (self.effort is None) == (self.budget_tokens is None):
            raise ValueError("reasoning needs exactly one of effort or budgetTokens")
        return self


@functools.cache
def _parts_adapter() -> TypeAdapter[list[TextPart | ImagePart]]:
    return TypeAdapter(list[ContentPart])


def _validate_parts(value: list[Any]) -> list[TextPart | ImagePart]:
    try:
        return _parts_adapter().validate_python(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise ValueError(f"part {where}: {first['msg']}") from None


class Message(_SeedModel):
    """One chat message.

    ``content`` is text (1..1,000,000 chars) or a list of parts. An ``assistant`` message with
    ``tool_calls`` may leave it empty or out; a ``tool`` message needs ``tool_call_id`` (the
    call it answers) and carries the result as content.
    """

    model_config = _CHECKED

    role: Role
    content: str | list[TextPart | ImagePart] | None = None
    name: Text | None = None
    metadata: JsonObject | None = None
    tool_calls: Annotated[list[ToolCall], Field(min_length=1, max_length=128)] | None = None
    tool_call_id: ToolCallId | None = None

    @field_validator("content", mode="plain", json_schema_input_type=str | list[ContentPart])
    @classmethod
    def _content(cls, value: Any, info: ValidationInfo) -> str | list[TextPart | ImagePart] | None:
        if type(value) is str:
            if not value and info.data.get("role") != "assistant":
                raise ValueError("must not be empty (only an assistant's tool-call turn may)")
            if len(value) > 1_000_000:
                raise ValueError("is longer than 1,000,000 characters")
            return _check_text(value)
        if value is None:
            return None
        if isinstance(value, list):
            if not value:
                raise ValueError("a list of parts must not be empty")
            return _validate_parts(value)
        raise ValueError(f"must be a string or a list of parts, not {type(value).__name__}")

    @model_validator(mode="after")
    def _role_rules(self) -> Self:
        role = self.role
        if self.tool_calls is not None and role != "assistant":
            raise ValueError(f"toolCalls: only an assistant message has them, not a {role} one")
        if role == "tool":
            if self.tool_call_id is None:
                raise ValueError("toolCallId: a tool message needs the id of the call it answers")
        elif self.tool_call_id is not None:
            raise ValueError(f"toolCallId: only a tool message has one, not a {role} one")
        if not self.content and self.tool_calls is None:
            raise ValueError("content: required (only an assistant's tool-call turn may omit it)")
        content = self.content
        if (
            role == "system"
            and isinstance(content, list)
            and any(part.type != "text" for part in content)
        ):
            raise ValueError("content: a system message holds text parts only")
        return self


class ProviderRequest(_SeedModel):
    """A chat request (seed: ``ProviderRequestSchema``)."""

    model_config = _CHECKED

    request_id: UUIDStr = Field(default_factory=_new_request_id)
    provider: ProviderName | None = None
    model: Annotated[Text, StringConstraints(min_length=1, max_length=100)] | None = None
    messages: Annotated[list[Message], Field(min_length=1, max_length=1000)]
    max_tokens: Annotated[int, Field(gt=0, le=200_000)] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] = 1.0
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    stream: bool = False
    stop_sequences: (
        Annotated[list[Text], Field(max_length=10), BeforeValidator(_one_or_many)] | None
    ) = Field(
        default=None, validation_alias=AliasChoices("stop", "stopSequences", "stop_sequences")
    )
    """Sequences that end the reply; ``stop`` is accepted for it too, and a single string."""
    metadata: JsonObject | None = None
    tools: Annotated[list[Tool], Field(min_length=1, max_length=512)] | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    reasoning: Reasoning | None = None
    prompt_cache: bool = Field(default=False, json_schema_extra=_EXTENSION)
    tenant: Annotated[Text, StringConstraints(min_length=1, max_length=200)] | None = Field(
        default=None, json_schema_extra=_EXTENSION
    )
    """Who the request is for (an organisation, a customer): scopes budgets and the response
    cache's namespace. Recorded."""
    user: Annotated[Text, StringConstraints(min_length=1, max_length=200)] | None = Field(
        default=None, json_schema_extra=_EXTENSION
    )
    """The end user the request is made for: scopes per-user budgets. Recorded."""
    seed: Annotated[int, Field(ge=-(2**63), le=2**63 - 1)] | None = Field(
        default=None, json_schema_extra=_EXTENSION
    )
    """Sampling seed (OpenAI, Gemini; Claude has none: refused before sending)."""
    presence_penalty: Annotated[float, Field(ge=-2, le=2)] | None = Field(
        default=None, json_schema_extra=_EXTENSION
    )
    """OpenAI, Gemini; refused for Claude."""
    frequency_penalty: Annotated[float, Field(ge=-2, le=2)] | None = Field(
        default=None, json_schema_extra=_EXTENSION
    )
    """OpenAI, Gemini; refused for Claude."""
    timeout_ms: Annotated[int, _bounded(_DAY_MS, "ms", lower=1)] | None = Field(
        default=None, json_schema_extra=_EXTENSION
    )
    """This request's time limit per attempt, in place of the deployment's ``timeout``."""
    max_retries: Annotated[int, _bounded(100, "retries")] | None = Field(
        default=None, json_schema_extra=_EXTENSION
    )
    """Retries of the same deployment for this request, in place of the deployment's."""
    provider_options: dict[ProviderName, JsonObject] | None = Field(
        default=None, json_schema_extra=_EXTENSION
    )
    """Provider-specific fields by provider kind, sent only to that kind: ``{"openai":
    {...}, "claude": {...}}`` are merged into the request body (the SDK's ``extra_body``);
    ``{"gemini": {...}}`` into google-genai's ``GenerateContentConfig`` (its field names). A
    kind's options override what the router would send for the same field."""

    @model_validator(mode="after")
    def _rich_rules(self) -> Self:
        if self.tools is not None or self.tool_choice is not None:
            _check_tools(self.tools, self.tool_choice)
        last = self.messages[-1]
        if last.tool_calls is not None:
            raise ValueError("messages: the last message calls tools; add their tool results")
        calls: set[str] = set()
        for i, message in enumerate(self.messages):
            if message.tool_calls is not None:
                calls.update(call.id for call in message.tool_calls)
            elif message.tool_call_id is not None and message.tool_call_id not in calls:
                raise ValueError(
                    f"messages.{i}.toolCallId: {message.tool_call_id!r} answers no tool call "
                    "of an earlier assistant message"
                )
        return self

    @property
    def is_rich(self) -> bool:
        """Whether anything beyond text messages is asked for: the adapters' fast-path test."""
        if (
            self.tools is not None
            or self.response_format is not None
            or self.reasoning is not None
            or self.prompt_cache
            or self.tool_choice is not None
        ):
            return True
        for message in self.messages:
            if type(message.content) is not str or message.tool_calls is not None:
                return True
        return False

    @property
    def has_knobs(self) -> bool:
        """Whether a sampling field beyond the common ones or provider options are set."""
        return (
            self.seed is not None
            or self.presence_penalty is not None
            or self.frequency_penalty is not None
            or self.provider_options is not None
        )

    def _rerouted(self, provider: ProviderName, model: str, stream: bool) -> ProviderRequest:
        """A copy aimed at another provider/model, skipping validation (the values come from
        validated configuration): ``model_copy``'s ~1.8 us is too much per attempt."""
        data = dict(self.__dict__)
        data["provider"] = provider
        data["model"] = model
        data["stream"] = stream
        return _assemble(ProviderRequest, data, self.__pydantic_fields_set__ | _ROUTE_FIELDS)


_ROUTE_FIELDS = frozenset({"provider", "model", "stream"})


def _check_tools(tools: list[Tool] | None, choice: ToolChoice | None) -> None:
    names = [tool.name for tool in tools or ()]
    if len(set(names)) != len(names):
        raise ValueError("tools: two tools share a name; names must be unique")
    if isinstance(choice, NamedToolChoice) and choice.name not in names:
        raise ValueError(f"toolChoice: {choice.name!r} names no declared tool; add it to tools")
    if choice == "required" and not names:
        raise ValueError("toolChoice: 'required' needs tools")


class TokenUsage(_SeedModel):
    """Token counts of one response."""

    model_config = ConfigDict(extra="ignore")

    input_tokens: NonNegInt = 0
    output_tokens: NonNegInt = 0
    total_tokens: NonNegInt = 0
    cached_input_tokens: NonNegInt | None = None
    """Prompt tokens read from the provider's cache (part of ``input_tokens``)."""
    cache_write_tokens: NonNegInt | None = None
    """Prompt tokens written to the provider's cache (part of ``input_tokens``)."""
    reasoning_tokens: NonNegInt | None = None
    """Tokens the model spent thinking (part of ``output_tokens``)."""


class ProviderResponse(_SeedModel):
    """A completed reply (seed: ``ProviderResponseSchema``). ``duration`` is in ms,
    ``cost`` in USD, ``created_at`` in ms since the epoch."""

    model_config = ConfigDict(extra="ignore")

    request_id: UUIDStr
    provider: ProviderName
    model: Annotated[str, StringConstraints(min_length=1)]
    content: str
    tokens: TokenUsage
    finish_reason: FinishReason | None = None
    duration: NonNegInt
    cost: Annotated[float, Field(ge=0)] | None = None
    metadata: JsonObject | None = None
    created_at: PosInt = Field(default_factory=_now_ms)
    tool_calls: Annotated[list[ToolCall], BeforeValidator(_none_as_empty)] = Field(
        default_factory=list, json_schema_extra=_EXTENSION
    )
    """The tool calls the reply makes, in order; empty when it makes none (left out of dumps
    when empty)."""
    parsed: Any = None
    """The reply parsed into the caller's ``response_model`` (left out of dumps when None)."""

    def to_message(self) -> Message:
        """This reply as the next turn's ``assistant`` message, its tool calls included: append
        it to the request's messages, then a ``tool`` message per call with the result."""
        calls = list(self.tool_calls) if self.tool_calls else None
        return Message(role="assistant", content=self.content or None, tool_calls=calls)


class StreamChunk(_SeedModel):
    """One piece of a streamed reply; the last one has ``done=True``."""

    model_config = ConfigDict(extra="ignore")

    request_id: UUIDStr
    index: NonNegInt
    chunk: str
    done: bool = False
    timestamp: PosInt = Field(default_factory=_now_ms)
    tool_call: ToolCall | None = None
    """A completed tool call (its ``chunk`` is empty)."""
    restart: bool = Field(default=False, json_schema_extra=_EXTENSION)
    """True on the first chunk of a stream that restarted after a failure mid-reply (the
    index starts from 0 again): discard what came before. Emitted only when true."""

    @classmethod
    def _chunk(cls, request_id: str, index: int, chunk: str, done: bool, timestamp: int) -> Self:
        """The per-chunk path's trusted constructor, positional (each keyword costs here)."""
        return _assemble(
            cls,
            {
                "request_id": request_id,
                "index": index,
                "chunk": chunk,
                "done": done,
                "timestamp": timestamp,
                "tool_call": None,
                "restart": False,
            },
            set(_CHUNK_FIELDS),
        )

    @classmethod
    def _restarted(cls, request_id: str, index: int, chunk: str, timestamp: int) -> Self:
        """The first chunk of a restarted stream."""
        made = cls._chunk(request_id, index, chunk, False, timestamp)
        made.__dict__["restart"] = True
        return made


_CHUNK_FIELDS = frozenset(StreamChunk.model_fields)


class ProviderHealth(_SeedModel):
    """The result of one health check. ``latency`` in ms; ``rate_limit_reset`` and
    ``last_checked`` in ms since the epoch. ``error`` is an extension: why it is not healthy."""

    model_config = ConfigDict(extra="ignore")

    provider: ProviderName
    status: HealthStatus
    latency: Annotated[float, Field(ge=0)] | None = None
    rate_limit_remaining: NonNegInt | None = None
    rate_limit_reset: PosInt | None = None
    last_checked: PosInt = Field(default_factory=_now_ms)
    error: str | None = Field(default=None, json_schema_extra=_EXTENSION)


class RateLimitInfo(_SeedModel):
    """A provider's rate-limit budget, read from its response headers. ``reset`` is in ms
    since the epoch; ``retry_after`` in seconds."""

    model_config = ConfigDict(extra="ignore")

    limit: PosInt
    remaining: NonNegInt
    reset: PosInt
    retry_after: NonNegInt | None = None


class HedgingOptions(_SeedModel):
    """``RouterOptions.hedging``: when the first attempt has produced nothing after
    ``after_ms`` (a number, or ``"p95"``: the deployment's observed p95 time to first byte),
    the next candidate is started in parallel; the first to answer wins. ``max_extra_percent``
    caps the extra requests as a share of recent requests (default 10)."""

    after_ms: Annotated[int, Field(ge=1, le=86_400_000)] | Literal["p95"]
    max_extra_percent: Annotated[float, Field(gt=0, le=100)] = 10.0


LoadBalancing = Literal["weighted", "least_in_flight", "latency"]


class ProviderRouterOptions(_SeedModel):
    """Router options (seed: ``ProviderRouterOptionsSchema``), plus tuning extensions.

    ``circuit_breaker_timeout`` is the breaker's reset timeout in ms. Extensions:
    ``max_retry_wait_ms`` (the longest retry-after or limiter wait the router sleeps through;
    longer means fall back now), ``backoff_base_ms`` / ``backoff_cap_ms`` (full-jitter retry
    delay), ``first_token_timeout_ms`` (streams: time to first chunk, default 10 s; ``None``
    disables it; its expiry falls back), ``stream_idle_timeout_ms`` (streams: the longest gap
    between chunks after the first, default 10 s; ``None`` disables it), ``restart_streams``
    (default True: a stream that fails mid-reply starts again, marked ``restart=True``; False
    ends it with the error), ``fallback_on_content_filter`` (default False), ``load_balancing``
    (within a group of deployments: ``weighted`` (default), ``least_in_flight``, ``latency``),
    ``hedging`` (:class:`HedgingOptions`; off by default), ``record_messages``
    (store message bodies; False stores a SHA-256 digest), ``record_stream_chunks``.
    """

    primary_provider: RouteTarget
    fallback_providers: list[RouteTarget] = Field(default_factory=list)
    enable_fallback: bool = True
    enable_circuit_breaker: bool = True
    circuit_breaker_threshold: Annotated[int, _bounded(1_000_000, "failures", lower=1)] = 5
    circuit_breaker_timeout: Annotated[int, _bounded(_DAY_MS, "ms", lower=1)] = 60_000
    max_retry_wait_ms: Annotated[int, _bounded(_DAY_MS, "ms")] = Field(
        default=30_000, json_schema_extra=_EXTENSION
    )
    backoff_base_ms: Annotated[int, _bounded(_DAY_MS, "ms")] = Field(
        default=250, json_schema_extra=_EXTENSION
    )
    backoff_cap_ms: Annotated[int, _bounded(_DAY_MS, "ms")] = Field(
        default=8_000, json_schema_extra=_EXTENSION
    )
    first_token_timeout_ms: Annotated[int, _bounded(_DAY_MS, "ms", lower=1)] | None = Field(
        default=10_000, json_schema_extra=_EXTENSION
    )
    stream_idle_timeout_ms: Annotated[int, _bounded(_DAY_MS, "ms", lower=1)] | None = Field(
        default=10_000, json_schema_extra=_EXTENSION
    )
    restart_streams: bool = Field(default=True, json_schema_extra=_EXTENSION)
    fallback_on_content_filter: bool = Field(default=False, json_schema_extra=_EXTENSION)
    load_balancing: LoadBalancing = Field(default="weighted", json_schema_extra=_EXTENSION)
    hedging: HedgingOptions | None = Field(default=None, json_schema_extra=_EXTENSION)
    record_messages: bool = Field(default=True, json_schema_extra=_EXTENSION)
    record_stream_chunks: bool = Field(default=True, json_schema_extra=_EXTENSION)
    budgets: list[dict[str, JsonValue]] = Field(default_factory=list, json_schema_extra=_EXTENSION)
    """Spend caps (``docs/guides/budgets.md``): each ``{"id", "limitUsd"?, "limitTokens"?,
    "window", "per"?, "match"?, "onExceeded"?, "alertAt"?}``; checked when set (a bad entry
    raises ``ConfigurationError`` naming it)."""
    unpriced_models: Literal["refuse", "allow"] = Field(
        default="refuse", json_schema_extra=_EXTENSION
    )
    """A model with no price under a matching USD budget: ``refuse`` (``UnpricedModelError``)
    or ``allow`` (it costs $0 in USD budgets)."""

    @field_validator("budgets", mode="after")
    @classmethod
    def _check_budgets(cls, value: list[dict[str, JsonValue]]) -> list[dict[str, JsonValue]]:
        if value:
            from automatosx.budgets import parse_budgets

            parse_budgets(value)  # raises ConfigurationError naming the entry
        return value


RouterOptions = ProviderRouterOptions


class CostMetrics(_SeedModel):
    """The cost of one response, in ``currency`` (USD)."""

    provider: ProviderName
    model: str
    input_tokens: NonNegInt
    output_tokens: NonNegInt
    input_cost_per_token: Annotated[float, Field(ge=0)]
    output_cost_per_token: Annotated[float, Field(ge=0)]
    total_cost: Annotated[float, Field(ge=0)]
    currency: str = "USD"
    cached_input_tokens: NonNegInt | None = None
    cache_write_tokens: NonNegInt | None = None
    reasoning_tokens: NonNegInt | None = None
    cache_read_cost_per_token: Annotated[float, Field(ge=0)] | None = None
    cache_write_cost_per_token: Annotated[float, Field(ge=0)] | None = None
