"""How each protocol writes a reply that has more than text: tool calls, thinking, cache and
reasoning usage. The plain-text wire code builds the envelope; these functions fill it.

Streams follow the recordings in `shared/conformance`: Anthropic opens one content block per
thinking/text/tool_use part (`input_json_delta` fragments for tool input); OpenAI sends the
call's id and name first, then `arguments` fragments under the same `index`; Gemini sends a
function call whole, in one chunk, with finishReason STOP.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from automatosx.emulator._reply import Prompt, Reply
from automatosx.emulator._wire import StreamBody, dumps

__all__ = [
    "anthropic_json",
    "anthropic_stream",
    "anthropic_usage",
    "gemini_json",
    "gemini_stream",
    "gemini_usage",
    "is_rich",
    "openai_json",
    "openai_stream_chunks",
    "openai_usage",
]


def is_rich(prompt: Prompt, reply: Reply) -> bool:
    """Whether the reply needs more than the plain-text rendering."""
    return bool(
        reply.tool_calls
        or reply.thinking
        or reply.reasoning_tokens
        or prompt.cache_read_tokens
        or prompt.cache_creation_tokens
    )


def _signature(text: str) -> str:
    return "emu" + hashlib.sha256(text.encode()).hexdigest()[:40]


# --- Anthropic ---------------------------------------------------------------------------


def anthropic_usage(prompt: Prompt, output_tokens: int) -> dict[str, Any]:
    cached = prompt.cache_read_tokens + prompt.cache_creation_tokens
    return {
        "input_tokens": max(0, prompt.input_tokens - cached),
        "cache_creation_input_tokens": prompt.cache_creation_tokens,
        "cache_read_input_tokens": prompt.cache_read_tokens,
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


def _anthropic_stop(reply: Reply) -> str:
    if reply.tool_calls:
        return "tool_use"
    return "max_tokens" if reply.truncated else "end_turn"


def _anthropic_blocks(reply: Reply) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if reply.thinking:
        blocks.append(
            {
                "type": "thinking",
                "thinking": reply.thinking,
                "signature": _signature(reply.thinking),
            }
        )
    if reply.words:
        blocks.append({"type": "text", "text": reply.text})
    for call in reply.tool_calls:
        blocks.append(
            {"type": "tool_use", "id": call.id, "name": call.name, "input": dict(call.arguments)}
        )
    return blocks


def anthropic_json(prompt: Prompt, reply: Reply, message: dict[str, Any]) -> dict[str, Any]:
    """`message` (the plain-text reply) with its content, stop reason and usage made whole."""
    return message | {
        "content": _anthropic_blocks(reply),
        "stop_reason": _anthropic_stop(reply),
        "usage": anthropic_usage(prompt, reply.output_tokens),
    }


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: ".encode() + dumps(data) + b"\n\n"


def anthropic_stream(prompt: Prompt, reply: Reply, message: dict[str, Any]) -> StreamBody:
    """The `event:` stream of a reply with thinking, tool use or cache usage; every block
    event is a fault-counted chunk."""
    start = message | {"content": [], "stop_reason": None, "usage": anthropic_usage(prompt, 1)}
    chunks: list[bytes] = []
    for index, block in enumerate(_anthropic_blocks(reply)):
        kind = block["type"]
        empty: dict[str, Any] = {
            "thinking": {"type": "thinking", "thinking": "", "signature": ""},
            "text": {"type": "text", "text": ""},
        }.get(kind, {**block, "input": {}})
        chunks.append(
            _sse(
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": empty},
            )
        )
        if index == 0:
            chunks.append(_sse("ping", {"type": "ping"}))
        deltas: list[dict[str, Any]]
        if kind == "thinking":
            deltas = [{"type": "thinking_delta", "thinking": block["thinking"]}]
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
        elif kind == "text":
            deltas = [{"type": "text_delta", "text": text} for text in reply.chunks()]
        else:
            call = next(c for c in reply.tool_calls if c.id == block["id"])
            deltas = [{"type": "input_json_delta", "partial_json": ""}]
            deltas += [
                {"type": "input_json_delta", "partial_json": part}
                for part in call.argument_chunks()
            ]
        for delta in deltas:
            chunks.append(
                _sse(
                    "content_block_delta",
                    {"type": "content_block_delta", "index": index, "delta": delta},
                )
            )
        chunks.append(_sse("content_block_stop", {"type": "content_block_stop", "index": index}))
    usage = anthropic_usage(prompt, reply.output_tokens)
    del usage["service_tier"]
    epilogue = [
        _sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": _anthropic_stop(reply), "stop_sequence": None},
                "usage": usage,
            },
        ),
        _sse("message_stop", {"type": "message_stop"}),
    ]
    return StreamBody(
        [_sse("message_start", {"type": "message_start", "message": start})], chunks, epilogue
    )


# --- OpenAI Chat Completions ---------------------------------------------------------------


def openai_usage(prompt: Prompt, reply: Reply) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt.input_tokens,
        "completion_tokens": reply.output_tokens,
        "total_tokens": prompt.input_tokens + reply.output_tokens,
        "prompt_tokens_details": {"cached_tokens": prompt.cache_read_tokens, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reply.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def openai_json(reply: Reply, completion: dict[str, Any]) -> dict[str, Any]:
    """`completion` (the plain-text reply) with its tool calls and finish reason."""
    if not reply.tool_calls:
        return completion
    choice = completion["choices"][0]
    choice["message"] = choice["message"] | {
        "content": reply.text or None,
        "tool_calls": [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments_json},
            }
            for call in reply.tool_calls
        ],
    }
    choice["finish_reason"] = "tool_calls"
    return completion


def openai_stream_chunks(reply: Reply) -> tuple[dict[str, Any], list[dict[str, Any]], str]:
    """(first delta, the call deltas, finish reason) of a reply with tool calls."""
    first: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
    deltas: list[dict[str, Any]] = []
    for index, call in enumerate(reply.tool_calls):
        head = {
            "index": index,
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        if index == 0:
            first["tool_calls"] = [head]
        else:
            deltas.append({"tool_calls": [head]})
        deltas += [
            {"tool_calls": [{"index": index, "function": {"arguments": part}}]}
            for part in call.argument_chunks()
        ]
    return first, deltas, "tool_calls"


# --- Gemini --------------------------------------------------------------------------------


def gemini_usage(prompt: Prompt, reply: Reply, output_tokens: int) -> dict[str, Any]:
    """usageMetadata: `output_tokens` answer tokens so far plus the reply's thoughts."""
    thoughts = reply.reasoning_tokens
    candidates = max(0, output_tokens - thoughts)
    usage: dict[str, Any] = {
        "promptTokenCount": prompt.input_tokens,
        "candidatesTokenCount": candidates,
        "totalTokenCount": prompt.input_tokens + candidates + thoughts,
        "promptTokensDetails": _modalities(prompt, prompt.input_tokens),
    }
    if prompt.cache_read_tokens:
        usage["cachedContentTokenCount"] = prompt.cache_read_tokens
        usage["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": prompt.cache_read_tokens}]
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    return usage


def _modalities(prompt: Prompt, total: int) -> list[dict[str, Any]]:
    details = [{"modality": "TEXT", "tokenCount": total - prompt.image_tokens}]
    if prompt.image_tokens:
        details.append({"modality": "IMAGE", "tokenCount": prompt.image_tokens})
    return details


def _gemini_parts(reply: Reply, text: str) -> list[dict[str, Any]]:
    if reply.tool_calls:
        return [
            {"functionCall": {"name": c.name, "args": dict(c.arguments)}} for c in reply.tool_calls
        ]
    return [{"text": text}]


def gemini_json(prompt: Prompt, reply: Reply, response: dict[str, Any]) -> dict[str, Any]:
    """`response` (the plain-text reply) with function calls and full usage."""
    candidate = response["candidates"][0]
    candidate["content"]["parts"] = _gemini_parts(reply, reply.text)
    if reply.tool_calls:
        candidate["finishReason"] = "STOP"
    response["usageMetadata"] = gemini_usage(prompt, reply, reply.output_tokens)
    return response


def gemini_stream(prompt: Prompt, reply: Reply, response_id: str) -> StreamBody:
    """SSE chunks; usage is cumulative on every chunk, the thoughts counted from the first."""
    finish = "MAX_TOKENS" if reply.truncated else "STOP"
    texts = [""] if reply.tool_calls else reply.chunks() or [""]
    chunks, sent = [], reply.reasoning_tokens
    for i, text in enumerate(texts):
        sent += len(text.split())
        last = i == len(texts) - 1
        candidate: dict[str, Any] = {
            "content": {"parts": _gemini_parts(reply, text), "role": "model"},
        }
        if last:
            candidate["finishReason"] = finish
            sent = reply.output_tokens
        candidate["index"] = 0
        data = {
            "candidates": [candidate],
            "usageMetadata": gemini_usage(prompt, reply, sent),
            "modelVersion": prompt.model,
            "responseId": response_id,
        }
        chunks.append(b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\r\n\r\n")
    return StreamBody(chunks=chunks)
