"""What a request asks for beyond plain text, read the same way for every protocol, and the
reply that answers it: tool calls, tool results, structured output, images, prompt caching,
reasoning.

Rules (deterministic, so tests can pin them):

- Tools: a forced choice (Anthropic `any`/`tool`, OpenAI `required`/named function, Gemini
  `ANY`, Responses `required`/named) always calls a tool; `auto` calls one when the last user
  message names a declared tool (its name, or its name with `_` read as spaces); `none` never
  does. The called tool is the named one, else the one the message names, else the first.
  Its arguments are `instance_of(parameters)`: valid against the declared schema.
- A tool result in the last message (and no forced call) gets a text answer quoting it.
- Structured output: the reply text is `json.dumps(instance_of(schema))`; JSON mode without a
  schema gets `{"answer": "<the usual reply>"}`.
- Images: each image (Anthropic `image` block, OpenAI `image_url` / `input_image` part,
  Gemini `inlineData` / `fileData` part) adds `IMAGE_TOKENS` input tokens.
- Prompt caching: Anthropic caches the prefix up to the last `cache_control` marker; OpenAI
  and Gemini cache any earlier prefix of the conversation (all messages but the last). The
  first time a prefix is seen it is written (Anthropic: `cache_creation_input_tokens`),
  every later time it is read (`cache_read_input_tokens`, `cached_tokens`,
  `cachedContentTokenCount`). The memory is per app.
- Reasoning: OpenAI `reasoning_effort` / Responses `reasoning.effort` ->
  `REASONING_TOKENS[effort]` reasoning tokens; Anthropic `thinking: enabled` -> a thinking
  block; Gemini `thinkingConfig` -> `thoughtsTokenCount` (budget-capped).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from automatosx.emulator._reply import (
    Prompt,
    Reply,
    ToolCall,
    compose_reply,
    estimate_tokens,
)
from automatosx.emulator._schema_instance import instance_of
from automatosx.emulator._wire import new_id

__all__ = [
    "IMAGE_TOKENS",
    "REASONING_TOKENS",
    "Asked",
    "PrefixCache",
    "compose",
    "dialect_of",
    "enrich",
    "prefix_cache",
    "read_asked",
]

IMAGE_TOKENS = 258  # per image, whatever its size (Gemini's figure for a small image)
REASONING_TOKENS = {"none": 0, "minimal": 16, "low": 64, "medium": 128, "high": 256, "xhigh": 512}
_DEFAULT_THOUGHTS = 128
_QUOTE_CHARS = 200
_CALL_PREFIX = {"claude": "toolu_emu", "openai": "call_emu", "responses": "call_emu"}


@dataclass(frozen=True)
class Asked:
    """The non-text features of one request, provider-neutral."""

    tools: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # name -> schema
    choice: str = "auto"  # auto | any | none | tool
    forced: str | None = None
    tool_result: str | None = None
    schema: Mapping[str, Any] | None = None
    json_mode: bool = False
    thinking_budget: int | None = None  # Anthropic thinking / Gemini thinkingConfig
    reasoning_effort: str | None = None  # OpenAI
    images: int = 0
    cache_prefix: list[Any] | None = None  # what a cache would key on, None: nothing


class PrefixCache:
    """Prompt prefixes seen so far (hashes only), shared by one app's requests."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def seen_before(self, prefix: list[Any]) -> bool:
        """Whether `prefix` was seen; records it either way."""
        key = hashlib.sha256(json.dumps(prefix, sort_keys=True, default=str).encode()).hexdigest()
        with self._lock:
            known = key in self._seen
            self._seen.add(key)
        return known


def dialect_of(wire: object) -> str:
    """The request dialect a wire's features are read in: its provider, or "responses"
    (OpenAI's Responses API). The clouds speak their provider's: Azure OpenAI's, Vertex
    Gemini's."""
    dialect = str(getattr(wire, "dialect", None) or getattr(wire, "provider", ""))
    return {"azure": "openai", "vertex": "gemini"}.get(dialect, dialect)


def prefix_cache(app: Any) -> PrefixCache:
    """The app's prompt-prefix memory, made on first use."""
    cache = getattr(app.state, "prefix_cache", None)
    if not isinstance(cache, PrefixCache):
        cache = PrefixCache()
        app.state.prefix_cache = cache
    return cache


def enrich(provider: str, prompt: Prompt, cache: PrefixCache) -> Prompt:
    """`prompt` with its image tokens and prompt-cache split filled in."""
    asked = read_asked(provider, prompt.body)
    prompt = replace(prompt, image_tokens=asked.images * IMAGE_TOKENS)
    if not asked.cache_prefix:
        return prompt
    size = sum(_size(segment) for segment in asked.cache_prefix)
    tokens = min(estimate_tokens(size), max(0, prompt.input_tokens - 1))
    if tokens == 0:
        return prompt
    if cache.seen_before(asked.cache_prefix):
        return replace(prompt, cache_read_tokens=tokens)
    if provider == "claude":  # only Anthropic reports what it wrote
        return replace(prompt, cache_creation_tokens=tokens)
    return prompt


def compose(provider: str, prompt: Prompt) -> Reply:
    """The reply to `prompt`, with tool calls, structured text and reasoning as asked."""
    asked = read_asked(provider, prompt.body)
    reply = compose_reply(prompt)
    name = _tool_to_call(asked, prompt.last_user_text)
    if name is not None:
        arguments = instance_of(asked.tools[name])
        call = ToolCall(
            id=new_id(_CALL_PREFIX.get(provider, "call_emu")),
            name=name,
            arguments=arguments if isinstance(arguments, dict) else {"value": arguments},
        )
        reply = Reply((), truncated=False, tool_calls=(call,))
    elif asked.tool_result is not None:
        quote = " ".join(asked.tool_result.split())[:_QUOTE_CHARS] or "(empty result)"
        text = f"Emulated reply from {prompt.model} using the tool result: {quote}"
        reply = _limited(tuple(text.split()), prompt.max_tokens)
    elif asked.schema is not None or asked.json_mode:
        value = instance_of(asked.schema) if asked.schema is not None else {"answer": reply.text}
        # split(" ") (not split()) so that joining the words gives the JSON back exactly.
        reply = _limited(tuple(json.dumps(value).split(" ")), prompt.max_tokens)
    return _with_reasoning(provider, asked, prompt, reply)


def _limited(words: tuple[str, ...], limit: int | None) -> Reply:
    if limit is not None and 0 < limit < len(words):
        return Reply(words[:limit], truncated=True)
    return Reply(words, truncated=False)


def _with_reasoning(provider: str, asked: Asked, prompt: Prompt, reply: Reply) -> Reply:
    if provider == "claude" and asked.thinking_budget is not None:
        thinking = (
            f"The user asked: {' '.join(prompt.last_user_text.split()[:8]) or '(nothing)'}. "
            "The emulator answers with its usual deterministic reply."
        )
        return replace(reply, thinking=thinking, reasoning_tokens=len(thinking.split()))
    if provider == "gemini" and asked.thinking_budget is not None:
        budget = asked.thinking_budget
        tokens = _DEFAULT_THOUGHTS if budget < 0 else min(budget, _DEFAULT_THOUGHTS)
        return replace(reply, reasoning_tokens=tokens)
    if asked.reasoning_effort is not None:
        return replace(reply, reasoning_tokens=REASONING_TOKENS.get(asked.reasoning_effort, 128))
    return reply


def _tool_to_call(asked: Asked, last_user_text: str) -> str | None:
    if not asked.tools or asked.choice == "none":
        return None
    if asked.choice == "tool" and asked.forced in asked.tools:
        return asked.forced
    text = last_user_text.lower()
    named = next(
        (n for n in asked.tools if n.lower() in text or n.replace("_", " ").lower() in text),
        None,
    )
    if asked.choice == "any":
        return named or next(iter(asked.tools))
    if asked.tool_result is not None:
        return None
    return named


def _size(segment: Any) -> int:
    if isinstance(segment, str):
        return len(segment)
    if isinstance(segment, dict) and isinstance(segment.get("text"), str):
        return len(segment["text"])
    return len(json.dumps(segment, default=str))


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _result_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [b.get("text", "") for b in content if isinstance(b, dict) and "text" in b]
        if texts:
            return " ".join(str(t) for t in texts)
    return json.dumps(content, default=str, ensure_ascii=False)


def read_asked(provider: str, body: Mapping[str, Any]) -> Asked:
    """The features `body` asks for, in `provider`'s dialect ("claude", "openai", "gemini",
    or "responses" for OpenAI's Responses API)."""
    reader = _READERS.get(provider)
    return reader(body) if reader is not None else Asked()


def _read_anthropic(body: Mapping[str, Any]) -> Asked:
    tools = {
        str(t["name"]): _dict(t.get("input_schema"))
        for t in _list(body.get("tools"))
        if isinstance(t, dict) and "name" in t and "input_schema" in t
    }
    choice = _dict(body.get("tool_choice"))
    messages = [m for m in _list(body.get("messages")) if isinstance(m, dict)]
    tool_result = None
    if messages and isinstance(messages[-1].get("content"), list):
        results = [
            b
            for b in messages[-1]["content"]
            if isinstance(b, dict) and b.get("type") == "tool_result"
        ]
        if results:
            tool_result = " ".join(_result_text(b.get("content", "")) for b in results)
    output = _dict(_dict(body.get("output_config")).get("format")) or _dict(
        body.get("output_format")
    )
    thinking = _dict(body.get("thinking"))
    budget = None
    if thinking.get("type") in ("enabled", "adaptive"):
        raw = thinking.get("budget_tokens")
        budget = raw if isinstance(raw, int) else -1
    segments: list[tuple[Any, bool]] = [
        (t, isinstance(t, dict) and "cache_control" in t) for t in _list(body.get("tools"))
    ]
    system = body.get("system")
    for block in _list(system) if isinstance(system, list) else ([system] if system else []):
        segments.append((block, isinstance(block, dict) and "cache_control" in block))
    images = 0
    for message in messages:
        content = message.get("content")
        for block in _list(content) if isinstance(content, list) else [content]:
            segments.append((block, isinstance(block, dict) and "cache_control" in block))
            images += _anthropic_images(block)
    marks = [i for i, (_, marked) in enumerate(segments) if marked]
    prefix = [s for s, _ in segments[: marks[-1] + 1]] if marks else None
    return Asked(
        tools=tools,
        choice={"any": "any", "tool": "tool", "none": "none"}.get(str(choice.get("type")), "auto"),
        forced=str(choice["name"]) if "name" in choice else None,
        tool_result=tool_result,
        schema=_dict(output.get("schema")) if output.get("type") == "json_schema" else None,
        thinking_budget=budget,
        images=images,
        cache_prefix=prefix,
    )


def _anthropic_images(block: Any) -> int:
    if not isinstance(block, dict):
        return 0
    if block.get("type") == "image":
        return 1
    if block.get("type") == "tool_result":
        return sum(_anthropic_images(b) for b in _list(block.get("content")))
    return 0


def _openai_choice(choice: Any) -> tuple[str, str | None]:
    if isinstance(choice, dict):
        name = _dict(choice.get("function")).get("name", choice.get("name"))
        return ("tool", str(name)) if name else ("auto", None)
    return {"required": ("any", None), "none": ("none", None)}.get(str(choice), ("auto", None))


def _read_openai(body: Mapping[str, Any]) -> Asked:
    tools = {
        str(f["name"]): _dict(f.get("parameters")) or {"type": "object", "properties": {}}
        for f in (_dict(t.get("function")) for t in _list(body.get("tools")) if isinstance(t, dict))
        if "name" in f
    }
    choice, forced = _openai_choice(body.get("tool_choice", "auto"))
    messages = [m for m in _list(body.get("messages")) if isinstance(m, dict)]
    tool_result = None
    if messages and messages[-1].get("role") == "tool":
        tool_result = _result_text(messages[-1].get("content", ""))
    response_format = _dict(body.get("response_format"))
    schema = None
    if response_format.get("type") == "json_schema":
        schema = _dict(_dict(response_format.get("json_schema")).get("schema"))
    images = sum(
        1
        for m in messages
        for part in _list(m.get("content"))
        if isinstance(part, dict) and part.get("type") == "image_url"
    )
    effort = body.get("reasoning_effort")
    return Asked(
        tools=tools,
        choice=choice,
        forced=forced,
        tool_result=tool_result,
        schema=schema,
        json_mode=response_format.get("type") == "json_object",
        reasoning_effort=str(effort) if effort else None,
        images=images,
        cache_prefix=messages[:-1] or None,
    )


def _read_responses(body: Mapping[str, Any]) -> Asked:
    tools = {
        str(t["name"]): _dict(t.get("parameters")) or {"type": "object", "properties": {}}
        for t in _list(body.get("tools"))
        if isinstance(t, dict) and t.get("type") == "function" and "name" in t
    }
    choice, forced = _openai_choice(body.get("tool_choice", "auto"))
    items = body.get("input")
    items = [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []
    tool_result = None
    if items and items[-1].get("type") == "function_call_output":
        tool_result = _result_text(items[-1].get("output", ""))
    text_format = _dict(_dict(body.get("text")).get("format"))
    effort = _dict(body.get("reasoning")).get("effort")
    images = sum(
        1
        for item in items
        for part in _list(item.get("content"))
        if isinstance(part, dict) and part.get("type") == "input_image"
    )
    prefix = ([body["instructions"]] if body.get("instructions") else []) + items[:-1]
    return Asked(
        tools=tools,
        choice=choice,
        forced=forced,
        tool_result=tool_result,
        schema=_dict(text_format.get("schema"))
        if text_format.get("type") == "json_schema"
        else None,
        json_mode=text_format.get("type") == "json_object",
        reasoning_effort=str(effort) if effort else None,
        images=images,
        cache_prefix=prefix if items[:-1] else None,
    )


def _read_gemini(body: Mapping[str, Any]) -> Asked:
    tools: dict[str, Mapping[str, Any]] = {}
    for tool in _list(body.get("tools")):
        for decl in _list(_dict(tool).get("functionDeclarations")):
            if isinstance(decl, dict) and "name" in decl:
                # google-genai sends this one field in snake_case; the service takes both.
                schema = (
                    decl.get("parametersJsonSchema")
                    or decl.get("parameters_json_schema")
                    or decl.get("parameters")
                )
                tools[str(decl["name"])] = _dict(schema) or {"type": "object", "properties": {}}
    calling = _dict(_dict(body.get("toolConfig")).get("functionCallingConfig"))
    allowed = [str(n) for n in _list(calling.get("allowedFunctionNames"))]
    if allowed:
        tools = {n: s for n, s in tools.items() if n in allowed}
    mode = str(calling.get("mode", "AUTO")).upper()
    choice = {"ANY": "any", "NONE": "none"}.get(mode, "auto")
    contents = [c for c in _list(body.get("contents")) if isinstance(c, dict)]
    tool_result = None
    if contents:
        responses = [
            _dict(p.get("functionResponse"))
            for p in _list(contents[-1].get("parts"))
            if isinstance(p, dict) and "functionResponse" in p
        ]
        if responses:
            tool_result = " ".join(
                json.dumps(r.get("response", {}), default=str, ensure_ascii=False)
                for r in responses
            )
    config = _dict(body.get("generationConfig"))
    json_out = config.get("responseMimeType") == "application/json"
    schema = (
        config.get("responseJsonSchema")
        or config.get("response_json_schema")
        or config.get("responseSchema")
    )
    thinking = config.get("thinkingConfig")
    budget = None
    if isinstance(thinking, dict):
        raw = thinking.get("thinkingBudget", thinking.get("thinking_budget", -1))
        budget = int(raw) if isinstance(raw, (int, str)) and str(raw).lstrip("-").isdigit() else -1
    images = sum(
        1
        for c in contents
        for p in _list(c.get("parts"))
        if isinstance(p, dict) and ("inlineData" in p or "fileData" in p)
    )
    return Asked(
        tools=tools,
        choice=choice,
        tool_result=tool_result,
        schema=_dict(schema) if json_out and isinstance(schema, dict) else None,
        json_mode=json_out,
        thinking_budget=budget,
        images=images,
        cache_prefix=contents[:-1] or None,
    )


_READERS = {
    "claude": _read_anthropic,
    "openai": _read_openai,
    "responses": _read_responses,
    "gemini": _read_gemini,
}
