"""What an attempt may cost at most (its reservation), and what it did cost (its charge).

The maximum cost of an attempt is its input tokens at the input price plus its output cap at
the output price:

* **input tokens** are estimated from the request, on the safe side: one token per three
  bytes of UTF-8 text (English runs about four characters a token), plus
  :data:`MESSAGE_OVERHEAD` per message, :data:`IMAGE_TOKENS` per image, and the tools' and
  response format's JSON at the same rate;
* **the output cap** is the request's ``maxTokens``; without it, what the adapter asks the
  provider for (Claude requires a cap: the ``claude`` kind sends 4,096), else the model's
  output limit when known (:data:`OUTPUT_LIMITS`), else :data:`DEFAULT_OUTPUT_CAP`.

A charge is the provider's usage at the model's rates (``Rates.cost``: cache reads and writes
at their own rates). A stream cut, stalled, cancelled or restarted before its usage arrived
is charged its input estimate plus the output tokens delivered so far (one token per four
characters of delivered text, at least one per chunk): never $0, since the provider bills
them. Money is integer nano-dollars, so sums are exact.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from automatosx.pricing import Rates
    from automatosx.schemas import ProviderRequest

__all__ = [
    "DEFAULT_OUTPUT_CAP",
    "IMAGE_TOKENS",
    "MESSAGE_OVERHEAD",
    "OUTPUT_LIMITS",
    "cost_nusd",
    "delivered_tokens",
    "input_tokens",
    "output_cap",
    "usd_nusd",
]

NANO = 1_000_000_000
DEFAULT_OUTPUT_CAP = 4_096
"""Output tokens reserved for a request with no ``maxTokens`` on a model of unknown limit."""
MESSAGE_OVERHEAD = 8
IMAGE_TOKENS = 1_600
_KIND_CAPS = {"claude": 4_096}  # providers/anthropic.py DEFAULT_MAX_TOKENS

OUTPUT_LIMITS: dict[str, int] = {
    "gpt-4o": 16_384,
    "gpt-4o-mini": 16_384,
    "gpt-4.1": 32_768,
    "gpt-4.1-mini": 32_768,
    "gpt-4.1-nano": 32_768,
    "gemini-2.0-flash": 8_192,
    "gemini-2.5-flash": 65_536,
    "gemini-2.5-flash-lite": 65_536,
    "gemini-2.5-pro": 65_536,
}
"""Known output limits (tokens) by model name prefix; the longest matching prefix wins."""


def input_tokens(request: ProviderRequest) -> int:
    """A safe-side estimate of the request's input tokens (see the module's docstring).

    On the request path the router has walked the messages already
    (``_routing/estimate.prompt_estimate``): ``Budgets.reserve_now`` takes what that walk
    measured and applies this formula to it (``tests/budgets/test_budget_fast_path.py``
    pins the two equal)."""
    # Fields are read from the models' __dict__: a pydantic attribute is an unspecialised
    # lookup (its class has a __getattr__), several times a dict item's cost, and this runs
    # before every attempt.
    fields = request.__dict__
    messages = fields["messages"]
    size = 0
    images = 0
    for message in messages:
        values = message.__dict__
        content = values["content"]
        if type(content) is str:
            size += len(content) if content.isascii() else len(content.encode())
        elif isinstance(content, list):
            for part in content:
                if part.type == "text":
                    size += len(part.text.encode())
                else:
                    images += 1
        calls = values["tool_calls"]
        if calls is not None:
            size += sum(len(c.name) + len(json.dumps(c.arguments)) for c in calls)
    extra = 0
    if fields["tools"] is not None or fields["response_format"] is not None:
        extra = len(request.model_dump_json(include={"tools", "response_format"}, by_alias=True))
    return -(-(size + extra) // 3) + MESSAGE_OVERHEAD * len(messages) + IMAGE_TOKENS * images


def output_cap(request: ProviderRequest, kind: str, model: str) -> int:
    """The most output tokens the attempt can be billed for."""
    if request.max_tokens is not None:
        return request.max_tokens
    cap = _KIND_CAPS.get(kind)
    if cap is not None:
        return cap
    best = ""
    for prefix in OUTPUT_LIMITS:
        if model.startswith(prefix) and len(prefix) > len(best):
            best = prefix
    return OUTPUT_LIMITS[best] if best else DEFAULT_OUTPUT_CAP


def cost_nusd(rates: Rates, n_in: int, n_out: int) -> int:
    """Nano-dollars for ``n_in`` input and ``n_out`` output tokens, rounded up."""
    if rates.input_tiers or rates.output_tiers:
        rate_in, rate_out = rates.for_prompt(n_in)
    else:
        rate_in, rate_out = rates.input, rates.output
    return usd_nusd(n_in * rate_in + n_out * rate_out)


def usd_nusd(usd: float) -> int:
    """A dollar amount (a usage's ``Rates.cost``) in nano-dollars, rounded up (a float's
    noise below a thousandth of a nano-dollar is not a nano-dollar more)."""
    scaled = usd * NANO
    whole = int(scaled)
    return whole + 1 if scaled - whole > 1e-3 else whole


def delivered_tokens(texts: list[str]) -> int:
    """Output tokens of a cut stream's delivered chunks: a token per four characters, at
    least one per chunk."""
    return sum(max(1, math.ceil(len(t) / 4)) for t in texts)
