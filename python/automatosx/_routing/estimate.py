"""Token estimates made before a reply exists: what a limiter or a budget reserves for a
request, and what a stream cut short had delivered (both settled with the real usage when
the provider reports it)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from automatosx.schemas import ProviderRequest

__all__ = ["delivered_tokens", "prompt_estimate", "prompt_walk", "token_estimate"]

_IMAGE_TOKENS = 1_000  # a rough per-image reservation

Walk = tuple[int, int, int]
"""What a budget's input estimate needs of the messages (``budgets/_estimate.py``): UTF-8
bytes of their text and tool calls, images, messages."""
_last: tuple[object, Walk] = (None, (0, 0, 0))  # the last request walked by prompt_estimate


def token_estimate(request: ProviderRequest) -> int:
    """Prompt characters / 4 + ``max_tokens`` (256 when the request sets none)."""
    chars = 0
    for msg in request.messages:
        content = msg.content
        chars += len(content) if type(content) is str else _text_len(content)
    return chars // 4 + (request.max_tokens or 256)


def prompt_estimate(request: ProviderRequest) -> int:
    """:func:`token_estimate`, in the one walk over the messages that also measures what a
    budget's input estimate needs (:func:`prompt_walk`): a router with attempt guards (its
    budgets) walks a request's messages once."""
    return _walked(request)[0]


def _walked(request: ProviderRequest) -> tuple[int, Walk]:
    """The estimate and the walk, each returned (the module's last walk is only a hint)."""
    chars = size = images = 0
    fields = request.__dict__  # not its attributes: see budgets' _estimate.py
    messages = fields["messages"]
    for message in messages:
        values = message.__dict__
        content = values["content"]
        if type(content) is str:
            chars += len(content)
            size += len(content) if content.isascii() else len(content.encode())
        elif isinstance(content, list):
            for part in content:
                if part.type == "text":
                    chars += len(part.text)
                    size += len(part.text.encode())
                else:
                    chars += _IMAGE_TOKENS * 4
                    images += 1
        calls = values["tool_calls"]
        if calls is not None:
            size += sum(len(c.name) + len(json.dumps(c.arguments)) for c in calls)
    walk = (size, images, len(messages))
    global _last
    _last = (request, walk)
    return chars // 4 + (fields["max_tokens"] or 256), walk


def prompt_walk(request: ProviderRequest) -> Walk:
    """``(UTF-8 bytes of text and tool calls, images, messages)`` of the request's messages,
    from the walk :func:`prompt_estimate` made of it (made now if it made none)."""
    last = _last
    if last[0] is request:
        return last[1]
    return _walked(request)[1]  # its own result: another thread may walk meanwhile


def delivered_tokens(chunks: Sequence[tuple[int, str, int]], delivered: int) -> int:
    """The last ``delivered`` chunks' text / 4, rounded up."""
    chars = sum(len(text) for _, text, _ in chunks[len(chunks) - delivered :])
    return -(-chars // 4)


def _text_len(content: object) -> int:
    if type(content) is str:
        return len(content)
    if isinstance(content, list):
        return sum(len(part.text) if part.type == "text" else _IMAGE_TOKENS * 4 for part in content)
    return 0
