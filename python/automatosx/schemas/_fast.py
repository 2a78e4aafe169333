"""The common request, validated without pydantic-core: text messages and a few knobs.

``ProviderRequest.model_validate`` of the typical dict (a system prompt, a user turn,
``maxTokens``, ``temperature``) costs pydantic-core and the models' Python validators ~8 us
on the bench machine, much of it in defaulting, field by field, the 22 fields the dict leaves
out and the two ``Message`` models' four each. This module checks that dict in plain Python
and assembles the same models from precomputed defaults (~4.5 us there). It accepts only
input whose every value is of the exact type the model stores and within its bounds, so the
result is the model pydantic would build: the same field values, the same
``model_fields_set``. Anything else (another key, a field given twice, a string where a
number goes, a value out of range, a list of parts, a message with a name, a tool turn, a
subclass, validation options) returns ``None`` and takes the full validation, which also
writes every error message.
``tests/test_schemas_fast.py`` checks both paths agree on generated input.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

from pydantic import BaseModel

from automatosx.schemas._base import UUID_PATTERN, _new_request_id
from automatosx.schemas._content import Message

_M = TypeVar("_M", bound=BaseModel)

_new = object.__new__
_setattr = object.__setattr__
_ROLES = frozenset({"system", "user", "assistant"})
"""A ``tool`` message needs a ``toolCallId``: not this path's."""
_MESSAGE_DEFAULTS = {name: field.default for name, field in Message.model_fields.items()}
_uuid = re.compile(UUID_PATTERN).fullmatch
_NAMES = {
    "messages": "messages",
    "maxTokens": "max_tokens",
    "temperature": "temperature",
    "topP": "top_p",
    "model": "model",
    "provider": "provider",
    "stream": "stream",
    "requestId": "request_id",
    "max_tokens": "max_tokens",
    "top_p": "top_p",
    "request_id": "request_id",
    "tenant": "tenant",
    "user": "user",
}
"""The keys this path takes (the seed's camelCase names, and snake_case ones) and their
fields."""
_KEYS = _NAMES.keys()


def _is_text(value: str) -> bool:
    """What ``Text`` accepts: no lone surrogate (ASCII has none)."""
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def simple_request(cls: type[_M], obj: dict[str, Any], defaults: dict[str, Any]) -> _M | None:
    """``cls`` (ProviderRequest) from ``obj`` if it is a simple request, else ``None``.
    ``defaults``: every field of ``cls`` in order, each with its default. The models are
    assembled as ``schemas._base._assemble`` does, inline (three calls fewer)."""
    if not obj.keys() <= _KEYS:
        return None
    messages_in = obj.get("messages")
    if type(messages_in) is not list or not 0 < len(messages_in) <= 1000:
        return None
    for item in messages_in:  # all checked before any is built: declining costs little
        if type(item) is not dict or len(item) != 2:
            return None
        role = item.get("role")
        content = item.get("content")
        if (
            type(role) is not str
            or role not in _ROLES
            or type(content) is not str
            or not 0 < len(content) <= 1_000_000
            or not (content.isascii() or _is_text(content))
        ):
            return None
    messages = []
    for item in messages_in:
        message = _new(Message)
        _setattr(message, "__dict__", {**_MESSAGE_DEFAULTS, **item})
        _setattr(message, "__pydantic_fields_set__", {"role", "content"})
        _setattr(message, "__pydantic_extra__", None)
        _setattr(message, "__pydantic_private__", None)
        messages.append(message)
    data = defaults.copy()
    data["messages"] = messages
    fields_set = {"messages"}
    for key, value in obj.items():
        name = _NAMES[key]
        if name == "messages":
            continue
        if name == "max_tokens":
            if value is not None and (type(value) is not int or not 0 < value <= 200_000):
                return None
        elif name == "temperature":
            if type(value) is not float:
                if type(value) is not int:
                    return None
                value = float(value)
            if not 0 <= value <= 2:
                return None
        elif name == "top_p":
            if value is not None:
                if type(value) is not float:
                    if type(value) is not int:
                        return None
                    value = float(value)
                if not 0 <= value <= 1:
                    return None
        elif name == "model":
            if value is not None and (
                type(value) is not str or not 0 < len(value) <= 100 or not _is_text(value)
            ):
                return None
        elif name == "provider":
            if value is not None and (
                type(value) is not str or not 0 < len(value) <= 64 or not value.isascii()
            ):
                return None
        elif name == "stream":
            if value is not True and value is not False:
                return None
        elif name == "tenant" or name == "user":
            if value is not None and (
                type(value) is not str or not 0 < len(value) <= 200 or not _is_text(value)
            ):
                return None
        elif type(value) is not str or _uuid(value) is None:  # request_id
            return None
        data[name] = value
        fields_set.add(name)
    if len(fields_set) != len(obj):  # a field given under both names: pydantic picks one
        return None
    if "request_id" not in fields_set:
        data["request_id"] = _new_request_id()
    request = _new(cls)
    _setattr(request, "__dict__", data)
    _setattr(request, "__pydantic_fields_set__", fields_set)
    _setattr(request, "__pydantic_extra__", None)
    _setattr(request, "__pydantic_private__", None)
    return request
