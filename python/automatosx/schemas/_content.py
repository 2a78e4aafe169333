"""The rich request's parts: messages, content parts (text, image), tools and tool calls,
response formats, reasoning."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from typing_extensions import Self

from automatosx.schemas._base import (
    _CHECKED,
    _TEXT,
    HttpUrlStr,
    JsonObject,
    Role,
    Text,
    _check_text,
    _SeedModel,
)

MEDIA_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
ToolName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
"""A tool's name: 1-64 of ``A-Z a-z 0-9 _ -`` (what all three providers accept)."""
ToolCallId = Annotated[str, StringConstraints(min_length=1, max_length=256), _TEXT]


class TextPart(_SeedModel):
    """A text part of a message's content."""

    model_config = _CHECKED

    type: Literal["text"] = "text"
    text: Annotated[str, StringConstraints(max_length=1_000_000), _TEXT]


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
    description: Annotated[str, StringConstraints(max_length=100_000), _TEXT] | None = None
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


_validate_list: Callable[[Any], list[TextPart | ImagePart]] | None = None
"""pydantic-core's own ``validate_python`` of ``_parts_adapter()``, once built (the adapter's
method and the cache in front of it cost a call each)."""


def _validate_parts(value: list[Any]) -> list[TextPart | ImagePart]:
    global _validate_list
    validate = _validate_list
    if validate is None:
        validate = _validate_list = _parts_adapter().validator.validate_python
    try:
        return validate(value)
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
