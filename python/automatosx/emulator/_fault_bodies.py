"""What the content faults put on the wire, per provider, as each service really sends it.

- `context_length_error`: the 400 a too-long prompt gets (OpenAI `context_length_exceeded`,
  Anthropic "prompt is too long: N tokens > M maximum", Gemini "The input token count (N)
  exceeds the maximum number of tokens allowed (M).").
- `prompt_blocked_error`: OpenAI's 400 `content_policy_violation` (the others answer 200).
- `filtered_json` / `filtered_event`: a reply (or one of its stream events) rewritten as
  stopped by the safety system: OpenAI `finish_reason: "content_filter"`, Anthropic
  `stop_reason: "refusal"`, Gemini candidate `finishReason: "SAFETY"` with a blocked rating.
- `blocked_prompt_reply`: Gemini's 200 with `promptFeedback.blockReason: "SAFETY"` and no
  candidates.
- `malformed_event`: one SSE event that is not JSON, or JSON of no known shape.
"""

from __future__ import annotations

import json
from typing import Any

from automatosx.emulator._reply import Prompt
from automatosx.emulator._wire import WireError, dumps, new_id

__all__ = [
    "CONTEXT_WINDOWS",
    "blocked_prompt_reply",
    "context_length_error",
    "filtered_event",
    "filtered_json",
    "malformed_event",
    "prompt_blocked_error",
]

CONTEXT_WINDOWS = {"claude": 200_000, "openai": 128_000, "gemini": 1_048_576}

_EMPTY_TEXT = {"type": "text", "text": ""}
_SAFETY_RATINGS = [
    {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"},
    {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True},
    {"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"},
    {"category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "probability": "NEGLIGIBLE"},
]


def context_length_error(provider: str, prompt: Prompt) -> WireError:
    """The service's 400 for a prompt longer than the model's context window."""
    window = CONTEXT_WINDOWS[provider]
    tokens = window + prompt.input_tokens
    if provider == "claude":
        return WireError(400, f"prompt is too long: {tokens} tokens > {window} maximum")
    if provider == "openai":
        return WireError(
            400,
            f"This model's maximum context length is {window} tokens. However, your messages "
            f"resulted in {tokens} tokens. Please reduce the length of the messages.",
            error="context_length_exceeded",
            param="messages",
        )
    return WireError(
        400,
        f"The input token count ({tokens}) exceeds the maximum number of tokens allowed "
        f"({window}).",
    )


def prompt_blocked_error() -> WireError:
    """OpenAI's 400 for a prompt its safety system rejects."""
    return WireError(
        400,
        "Your request was rejected as a result of our safety system. Your prompt may contain "
        "text that is not allowed by our safety system.",
        error="content_policy_violation",
    )


def blocked_prompt_reply(prompt: Prompt) -> dict[str, Any]:
    """Gemini's 200 for a prompt blocked for safety: feedback, usage, no candidates."""
    return {
        "promptFeedback": {"blockReason": "SAFETY", "safetyRatings": _SAFETY_RATINGS},
        "usageMetadata": {
            "promptTokenCount": prompt.input_tokens,
            "totalTokenCount": prompt.input_tokens,
        },
        "modelVersion": prompt.model,
        "responseId": new_id("emu"),
    }


def filtered_json(provider: str, reply: dict[str, Any]) -> dict[str, Any]:
    """A reply (a JSON body or one stream event's data) as stopped by the safety system."""
    if provider == "claude":
        if reply.get("type") == "message":
            reply["stop_reason"] = "refusal"
            # A refusal before any text carries no empty text block.
            reply["content"] = [b for b in reply.get("content", ()) if b != _EMPTY_TEXT]
        elif reply.get("type") == "message_delta":
            reply["delta"]["stop_reason"] = "refusal"
        return reply
    for choice in reply.get("choices") or ():
        if choice.get("finish_reason") is not None:
            choice["finish_reason"] = "content_filter"
    for candidate in reply.get("candidates") or ():
        if candidate.get("finishReason") is not None:
            candidate["finishReason"] = "SAFETY"
            candidate["safetyRatings"] = _SAFETY_RATINGS
            candidate.pop("content", None)
    return reply


def filtered_event(provider: str, event: bytes) -> bytes:
    """`filtered_json` applied to the `data:` line of one SSE event (others pass through)."""
    head, sep, rest = event.partition(b"data: ")
    if not sep:
        return event
    payload, newline, tail = rest.partition(b"\n")
    end = b"\r" if payload.endswith(b"\r") else b""
    try:
        data = json.loads(payload)
    except ValueError:
        return event
    if not isinstance(data, dict):
        return event
    return head + sep + dumps(filtered_json(provider, data)) + end + newline + tail


def malformed_event(provider: str, kind: str) -> bytes:
    """One SSE event whose data is not JSON (`kind="not_json"`) or is JSON of no shape the
    provider sends (`kind="wrong_shape"`), framed as the provider frames events."""
    data = (
        b'{"emulator": "malformed event", "choices": ['
        if kind == "not_json"
        else (b'{"emulator": "an event of no known shape"}')
    )
    if provider == "claude":
        return b"event: content_block_delta\ndata: " + data + b"\n\n"
    if provider == "gemini":
        return b"data: " + data + b"\r\n\r\n"
    return b"data: " + data + b"\n\n"
