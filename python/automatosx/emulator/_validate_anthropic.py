"""Anthropic Messages bodies checked like the service: pydantic-style "<loc>: <message>"."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from automatosx.emulator._wire import WireError, is_int, is_number

__all__ = ["check_anthropic"]

_ANTHROPIC_ROLES = ("user", "assistant")


def check_anthropic(data: Any) -> dict[str, Any]:
    def bad(loc: str, message: str) -> WireError:
        return WireError(400, f"{loc}: {message}")

    if not isinstance(data, dict):
        raise WireError(400, "Input should be a valid dictionary")
    for name in ("model", "max_tokens", "messages"):
        if name not in data:
            raise bad(name, "Field required")
    if not isinstance(data["model"], str):
        raise bad("model", "Input should be a valid string")
    max_tokens = data["max_tokens"]
    if not is_int(max_tokens):
        raise bad("max_tokens", "Input should be a valid integer")
    if max_tokens < 1:
        raise bad("max_tokens", "Input should be greater than or equal to 1")
    if data.get("stream") is not None and not isinstance(data["stream"], bool):
        raise bad("stream", "Input should be a valid boolean")
    _check_range(data, "temperature", 0.0, 1.0, bad)
    _check_range(data, "top_p", 0.0, 1.0, bad)
    system = data.get("system")
    if system is not None and not isinstance(system, (str, list)):
        raise bad("system", "Input should be a valid string")
    if isinstance(system, list):
        for j, block in enumerate(system):
            if not isinstance(block, dict) or block.get("type") != "text":
                raise bad(f"system.{j}", "Input should be a valid dictionary with type 'text'")
            if not isinstance(block.get("text"), str):
                raise bad(f"system.{j}.text", "Input should be a valid string")
    for name in ("tools", "stop_sequences"):
        if data.get(name) is not None and not isinstance(data[name], list):
            raise bad(name, "Input should be a valid list")
    messages = data["messages"]
    if not isinstance(messages, list):
        raise bad("messages", "Input should be a valid list")
    if not messages:
        raise bad("messages", "at least one message is required")
    for i, message in enumerate(messages):
        loc = f"messages.{i}"
        if not isinstance(message, dict):
            raise bad(loc, "Input should be a valid dictionary")
        for name in ("role", "content"):
            if name not in message:
                raise bad(f"{loc}.{name}", "Field required")
        if message["role"] not in _ANTHROPIC_ROLES:
            raise bad(f"{loc}.role", "Input should be 'user' or 'assistant'")
        _anthropic_content(message["content"], f"{loc}.content", bad)
    return data


def _anthropic_content(content: Any, loc: str, bad: Callable[[str, str], WireError]) -> None:
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise bad(loc, "Input should be a valid list")
    for j, block in enumerate(content):
        if not isinstance(block, dict):
            raise bad(f"{loc}.{j}", "Input should be a valid dictionary")
        if "type" not in block:
            raise bad(f"{loc}.{j}.type", "Field required")
        if block["type"] == "text" and not isinstance(block.get("text"), str):
            raise bad(f"{loc}.{j}.text", "Input should be a valid string")


def _check_range(
    data: dict[str, Any],
    name: str,
    low: float,
    high: float,
    bad: Callable[[str, str], WireError],
) -> None:
    value = data.get(name)
    if value is None:
        return
    if not is_number(value):
        raise bad(name, "Input should be a valid number")
    if value < low:
        raise bad(name, f"Input should be greater than or equal to {low:g}")
    if value > high:
        raise bad(name, f"Input should be less than or equal to {high:g}")
