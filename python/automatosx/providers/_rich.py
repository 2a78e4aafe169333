"""What the three adapters' rich-request mappings share: tool-call ids that survive a change
of provider, tool calls read from the wire, reasoning effort <-> budget, refusals.

A conversation may start on one provider and continue on another after a fallback, so the
tool-call ids in its history come from any of them (``toolu_...``, ``call_...``, ids we made
up for Gemini). Each adapter maps ids with a pure function of the id, so an assistant turn's
call and the tool message answering it map to the same native id.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from typing import Any

from automatosx.errors import InvalidRequestError
from automatosx.schemas import ProviderRequest, Reasoning, ToolCall

__all__ = [
    "EFFORT_BUDGET",
    "anthropic_call_id",
    "budget_of",
    "effort_of",
    "knob_params",
    "new_call_id",
    "openai_call_id",
    "parse_arguments",
    "unsupported",
    "wire_tool_call",
]

EFFORT_BUDGET = {"low": 2_048, "medium": 8_192, "high": 24_576}
"""Thinking-token budget sent for an ``effort`` to a provider that takes budgets."""

_ANTHROPIC_ID = re.compile(r"[^A-Za-z0-9_-]")
_OPENAI_ID_MAX = 40


def unsupported(provider: str, what: str, fix: str) -> InvalidRequestError:
    """The error for a feature ``provider`` cannot do, raised before any HTTP is sent."""
    return InvalidRequestError(
        f"{provider} cannot take {what}; {fix}", provider=provider, code="UNSUPPORTED_FEATURE"
    )


_KNOBS = (
    ("seed", "seed"),
    ("presence_penalty", "presencePenalty"),
    ("frequency_penalty", "frequencyPenalty"),
)


def knob_params(
    request: ProviderRequest, kind: str, target: dict[str, Any], *, takes_knobs: bool
) -> dict[str, Any] | None:
    """Put ``seed``/``presencePenalty``/``frequencyPenalty`` into ``target`` (or refuse them
    before any HTTP is sent when the provider has none), and return this kind's
    ``providerOptions`` (None when there are none)."""
    for name, alias in _KNOBS:
        value = getattr(request, name)
        if value is None:
            continue
        if not takes_knobs:
            raise unsupported(kind, alias, f"leave {alias} unset for {kind} deployments")
        target[name] = value
    options = request.provider_options
    return None if options is None else options.get(kind)


def anthropic_call_id(call_id: str) -> str:
    """An id Anthropic accepts (``^[a-zA-Z0-9_-]+$``): other characters become ``_``."""
    return _ANTHROPIC_ID.sub("_", call_id)


def openai_call_id(call_id: str) -> str:
    """An id OpenAI accepts (at most 40 characters): longer ones become a stable digest."""
    if len(call_id) <= _OPENAI_ID_MAX:
        return call_id
    return "call_" + hashlib.sha256(call_id.encode()).hexdigest()[:32]


def new_call_id() -> str:
    """An id for a call the provider sent without one (Gemini)."""
    return "call_" + os.urandom(12).hex()


def effort_of(reasoning: Reasoning) -> str:
    """The effort of a reasoning setting: given, or the nearest to its budget."""
    if reasoning.effort is not None:
        return reasoning.effort
    budget = reasoning.budget_tokens or 0
    return "low" if budget <= 4_096 else "medium" if budget <= 16_384 else "high"


def budget_of(reasoning: Reasoning) -> int:
    """The thinking budget of a reasoning setting: given, or the effort's."""
    if reasoning.budget_tokens is not None:
        return reasoning.budget_tokens
    return EFFORT_BUDGET[reasoning.effort or "medium"]


def parse_arguments(raw: Any) -> dict[str, Any]:
    """A tool call's arguments: a JSON object, or a JSON string of one (OpenAI). An empty
    string is ``{}``; anything else raises ``ValueError`` (a malformed reply)."""
    if isinstance(raw, dict):
        return raw
    if raw is None or raw == "":
        return {}
    if isinstance(raw, str):
        value = json.loads(raw)
        if isinstance(value, dict):
            return value
    raise ValueError(f"tool call arguments are {type(raw).__name__}, not a JSON object")


def wire_tool_call(call_id: Any, name: Any, arguments: Any) -> ToolCall:
    """A ToolCall read from a reply, checked field by field (``ValueError`` if malformed)."""
    if not isinstance(name, str) or not name:
        raise ValueError("tool call without a name")
    if call_id is None or call_id == "":
        call_id = new_call_id()
    if not isinstance(call_id, str):
        raise ValueError("tool call id is not a string")
    return ToolCall._trusted(id=call_id, name=name, arguments=parse_arguments(arguments))
