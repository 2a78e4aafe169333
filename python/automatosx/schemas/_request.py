"""``ProviderRequest``: a chat request, and its checks across messages and tools."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BeforeValidator, Field, StringConstraints, model_validator
from typing_extensions import Self

from automatosx.schemas._base import (
    _CHECKED,
    _DAY_MS,
    _EXTENSION,
    _TEXT,
    _TTL_S,
    JsonObject,
    ProviderName,
    Text,
    UUIDStr,
    _assemble,
    _bounded,
    _new_request_id,
    _one_or_many,
    _SeedModel,
)
from automatosx.schemas._content import (
    Message,
    NamedToolChoice,
    Reasoning,
    ResponseFormat,
    Tool,
    ToolChoice,
)
from automatosx.schemas._fast import simple_request

CacheMode = Literal["read_write", "read", "write", "off"]


class RequestCacheOptions(_SeedModel):
    """``ProviderRequest.cache``: ``ttlS`` (how long a reply stored by this request lives;
    default ``RouterOptions.cache.defaultTtlS``), ``namespace`` (default: the request's
    ``tenant``; two requests share entries only within one namespace), ``mode``:
    ``read_write`` (default), ``read`` (use a stored reply, store nothing), ``write`` (always
    ask the provider, store its reply), ``off``."""

    model_config = _CHECKED

    ttl_s: Annotated[float, _TTL_S] | None = None
    namespace: Annotated[str, StringConstraints(min_length=1, max_length=200), _TEXT] | None = None
    mode: CacheMode = "read_write"


class ProviderRequest(_SeedModel):
    """A chat request (seed: ``ProviderRequestSchema``)."""

    model_config = _CHECKED

    request_id: UUIDStr = Field(default_factory=_new_request_id)
    provider: ProviderName | None = None
    model: Annotated[str, StringConstraints(min_length=1, max_length=100), _TEXT] | None = None
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
    tenant: Annotated[str, StringConstraints(min_length=1, max_length=200), _TEXT] | None = Field(
        default=None, json_schema_extra=_EXTENSION
    )
    """Who the request is for (an organisation, a customer): scopes budgets and the response
    cache's namespace. Recorded."""
    user: Annotated[str, StringConstraints(min_length=1, max_length=200), _TEXT] | None = Field(
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
    """This request's time limit per attempt, in ms, in place of the deployment's ``timeout``
    (longer or shorter): ``execute``'s whole attempt; a stream's wait for its first chunk
    (still capped by ``firstTokenTimeoutMs``; later gaps are ``streamIdleTimeoutMs``'s). Also
    the SDK's own timeout for the call. Expired with no byte received: the attempt fails with
    ``TIMEOUT`` and the request falls back (not retried)."""
    max_retries: Annotated[int, _bounded(100, "retries")] | None = Field(
        default=None, json_schema_extra=_EXTENSION
    )
    """Retries of the same deployment for this request, in place of the deployment's
    ``maxRetries`` (at every candidate: each starts again from 0 retries)."""
    provider_options: dict[ProviderName, JsonObject] | None = Field(
        default=None, json_schema_extra=_EXTENSION
    )
    """Provider-specific fields by provider kind, sent only to that kind: ``{"openai":
    {...}, "claude": {...}}`` are merged into the request body (the SDK's ``extra_body``);
    ``{"gemini": {...}}`` into google-genai's ``GenerateContentConfig`` (its field names). A
    kind's options override what the router would send for the same field."""
    cache: RequestCacheOptions | None = Field(default=None, json_schema_extra=_EXTENSION)
    """Use the router's response cache for this request (see :class:`RequestCacheOptions`)."""

    @classmethod
    def model_validate(cls, obj: Any, **options: Any) -> Self:
        """Validate ``obj`` (a dict in the seed's JSON shape, or a ``ProviderRequest``); the
        typical request (text messages, a few knobs) takes a path that skips pydantic-core and
        builds the very same model (see ``schemas._fast``)."""
        if type(obj) is dict and not options and cls is ProviderRequest:
            fast = simple_request(cls, obj, _DEFAULTS)
            if fast is not None:
                return fast
        return super().model_validate(obj, **options)

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
        """Whether a sampling field beyond the common ones, provider options or ``timeoutMs``
        are set."""
        return (
            self.seed is not None
            or self.presence_penalty is not None
            or self.frequency_penalty is not None
            or self.provider_options is not None
            or self.timeout_ms is not None
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
_DEFAULTS = {name: field.default for name, field in ProviderRequest.model_fields.items()}
"""Every field in order, with its default (``request_id``'s is generated per request)."""


def _check_tools(tools: list[Tool] | None, choice: ToolChoice | None) -> None:
    names = [tool.name for tool in tools or ()]
    if len(set(names)) != len(names):
        raise ValueError("tools: two tools share a name; names must be unique")
    if isinstance(choice, NamedToolChoice) and choice.name not in names:
        raise ValueError(f"toolChoice: {choice.name!r} names no declared tool; add it to tools")
    if choice == "required" and not names:
        raise ValueError("toolChoice: 'required' needs tools")
