"""Token estimates made before a reply exists: what a limiter or a budget reserves for a
request, and what a stream cut short had delivered (both settled with the real usage when
the provider reports it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from automatosx.schemas import ProviderRequest

__all__ = ["delivered_tokens", "token_estimate"]

_IMAGE_TOKENS = 1_000  # a rough per-image reservation


def token_estimate(request: ProviderRequest) -> int:
    """Prompt characters / 4 + ``max_tokens`` (256 when the request sets none)."""
    chars = 0
    for msg in request.messages:
        content = msg.content
        chars += len(content) if type(content) is str else _text_len(content)
    return chars // 4 + (request.max_tokens or 256)


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
