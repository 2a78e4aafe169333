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
- Prompt caching: per deployment (API key and origin) and model, like the services; see
  `_prompt_cache` for the rules (minimum lengths, breakpoints, TTLs, write billing).
- Reasoning: OpenAI `reasoning_effort` / Responses `reasoning.effort` ->
  `REASONING_TOKENS[effort]` reasoning tokens; Anthropic `thinking: enabled` -> a thinking
  block; Gemini `thinkingConfig` -> `thoughtsTokenCount` (budget-capped).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from automatosx.emulator._prompt_cache import LONG_TTL_S, PromptCache, Segments
from automatosx.emulator._reply import (
    Prompt,
    Reply,
    ToolCall,
    compose_reply,
)
from automatosx.emulator._schema_instance import instance_of
from automatosx.emulator._wire import new_id

__all__ = [
    "IMAGE_TOKENS",
    "REASONING_TOKENS",
    "Asked",
    "compose",
    "dialect_of",
    "enrich",
    "prompt_cache",
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
    cache: Segments | None = None  # the prompt as a prompt cache reads it


def dialect_of(wire: object) -> str:
    """The request dialect a wire's features are read in: its provider, or "responses"
    (OpenAI's Responses API). The clouds speak their provider's: Azure OpenAI's, Vertex
    Gemini's."""
    dialect = str(getattr(wire, "dialect", None) or getattr(wire, "provider", ""))
    return {"azure": "openai", "vertex": "gemini"}.get(dialect, dialect)


def prompt_cache(app: Any) -> PromptCache:
    """The app's prompt caches, made on first use."""
    cache = getattr(app.state, "prompt_cache", None)
    if not isinstance(cache, PromptCache):
        cache = PromptCache()
        app.state.prompt_cache = cache
    return cache


def enrich(
    provider: str, prompt: Prompt, cache: PromptCache, deployment: tuple[str, str]
) -> Prompt:
    """`prompt` with its image tokens and prompt-cache split filled in, for `deployment`
    (API key, origin)."""
    asked = read_asked(provider, prompt.body)
    prompt = replace(prompt, image_tokens=asked.images * IMAGE_TOKENS)
    if asked.cache is None:
        return prompt
    family = "openai" if provider == "responses" else provider
    split = cache.split(family, prompt.model, deployment, asked.cache, prompt.input_tokens)
    return replace(prompt, cache_read_tokens=split.read, cache_creation_tokens=split.written)


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
    segments: list[tuple[Any, Any]] = [({"tools": [t]}, _mark(t)) for t in _list(body.get("tools"))]
    system = body.get("system")
    for block in _list(system) if isinstance(system, list) else ([system] if system else []):
        segments.append((block, _mark(block)))
    images = 0
    for message in messages:
        content = message.get("content")
        role = message.get("role")
        for block in _list(content) if isinstance(content, list) else [content]:
            segments.append(({"role": role, **_unmarked(block)}, _mark(block)))
            images += _anthropic_images(block)
    if segments and isinstance(body.get("cache_control"), dict):  # automatic: the last block
        segments[-1] = (segments[-1][0], body["cache_control"])
    marks = [i for i, (_, mark) in enumerate(segments) if mark is not None]
    ttls = [LONG_TTL_S.get(str(_dict(mark).get("ttl")), 0.0) for _, mark in segments if mark]
    cache = None
    if marks:
        cache = Segments([s for s, _ in segments], marks, max(ttls, default=0.0) or None)
    return Asked(
        tools=tools,
        choice={"any": "any", "tool": "tool", "none": "none"}.get(str(choice.get("type")), "auto"),
        forced=str(choice["name"]) if "name" in choice else None,
        tool_result=tool_result,
        schema=_dict(output.get("schema")) if output.get("type") == "json_schema" else None,
        thinking_budget=budget,
        images=images,
        cache=cache,
    )


def _mark(block: Any) -> Any:
    """A block's `cache_control` (a breakpoint), or None."""
    return block.get("cache_control") if isinstance(block, dict) else None


def _unmarked(block: Any) -> dict[str, Any]:
    """A block as the cache compares it: without its marker; a string as a text block."""
    if not isinstance(block, dict):
        return {"type": "text", "text": block}
    return {k: v for k, v in block.items() if k != "cache_control"}


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
        cache=_automatic(body, messages, "response_format"),
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
    raw = body.get("input")
    turns: list[Any] = [raw] if isinstance(raw, str) else items
    turns = ([{"instructions": body["instructions"]}] if body.get("instructions") else []) + turns
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
        cache=_automatic(body, turns, "text"),
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
        cache=_automatic(body, [_dict(body.get("systemInstruction")), *contents], "toolConfig"),
    )


def _automatic(body: Mapping[str, Any], turns: list[Any], config: str) -> Segments:
    """Automatic caching (OpenAI, Gemini): the tools and `config` first, then each turn."""
    head = {"tools": [body.get("tools"), body.get(config)]}
    retention = LONG_TTL_S.get(str(body.get("prompt_cache_retention")))
    return Segments([head, *turns], None, retention)


_READERS = {
    "claude": _read_anthropic,
    "openai": _read_openai,
    "responses": _read_responses,
    "gemini": _read_gemini,
}
