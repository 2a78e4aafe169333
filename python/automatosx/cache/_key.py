"""The response cache's key: a SHA-256 over a documented canonical form of what decides a reply.

The canonical form (version 1) is the JSON text of one object, keys sorted, no whitespace,
non-ASCII escaped (``json.dumps(form, sort_keys=True, separators=(",", ":"),
ensure_ascii=True)``); the key is the lowercase hex SHA-256 of its ASCII bytes::

    {"frequencyPenalty": float | null, "maxTokens": int | null,
     "messages": [message, ...], "model": str | null, "namespace": str | null,
     "parallelToolCalls": bool | null, "presencePenalty": float | null,
     "providerOptions": {kind: {...}} | null,
     "reasoning": {"budgetTokens"?, "effort"?} | null,
     "responseFormat": {"type", "name"?, "schema"?, "strict"?} | null, "route": str,
     "seed": int | null, "stop": [str, ...] | null, "temperature": float, "tenant": str | null,
     "toolChoice": str | {"name"} | null,
     "tools": [{"name", "description"?, "parameters"?}, ...] | null, "topP": float | null,
     "v": 1}

    message = {"role", "content": str | [part, ...] | null, "name"?, "toolCallId"?,
               "toolCalls"?: [{"arguments", "id", "name"}, ...]}
    part    = {"type": "text", "text"} | {"type": "image", "mediaType", "sha256"}
              | {"type": "image", "url"}

An image given as data is keyed by the SHA-256 of its decoded bytes (so its base64 text is
never part of the form, and the same picture gives the same key); optional keys of a message,
a tool or a format appear only when set. Floats are written as Python's ``repr`` (the shortest
text that reads back as the same number, the same in every version since 3.1), so
``temperature: 1`` and ``1.0`` are one key. Never part of it: the request id, ``metadata``
(of the request and of its messages), ``stream`` (a streamed and a plain call share entries),
``promptCache`` (it changes the bill, not the reply), ``timeoutMs``, ``maxRetries``, ``cache``
itself, ``user``, timing.

The scope: ``namespace`` is the request's ``cache.namespace`` (null without one), and
``tenant`` its ``tenant`` when it names no namespace (null otherwise). So tenants never share
entries, and two requests share only when both name the same explicit namespace (a namespace
that happens to equal a tenant's name is still not that tenant's default scope).

A text-only request (the common case) is written by :func:`_fast_form` without building the
object; a test holds it equal to the general path.

The memory cache does not hash with SHA-256: :func:`memory_key` is a tuple of the same
fields as they are (the route, model, scope, sampling fields, then each message's role and
text, and its name, tool calls and tool call id when any is set) when they are all strings,
numbers or None (a text-only request), and the SHA-256 key for any other, so two requests
share a memory entry exactly when their canonical forms are equal (a zero float is written
as its ``repr`` in the tuple, so ``-0.0`` and ``0.0`` stay apart as they do in the text). A
test holds the two equivalent.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
from json.encoder import encode_basestring_ascii as _enc
from operator import itemgetter
from typing import Any

from automatosx.schemas import (
    ImagePart,
    JsonSchemaFormat,
    Message,
    NamedToolChoice,
    ProviderRequest,
)

__all__ = ["KEY_VERSION", "MemoryKey", "cache_key", "canonical_form", "memory_key", "namespace_of"]

KEY_VERSION = 1
_sha256 = hashlib.sha256


def namespace_of(request: ProviderRequest) -> tuple[str | None, str | None]:
    """The request's scope: (explicit ``cache.namespace``, ``tenant`` when there is none)."""
    opts = request.cache
    if opts is not None and opts.namespace is not None:
        return opts.namespace, None
    return None, request.tenant


def cache_key(request: ProviderRequest, route: str, model: str | None) -> str:
    """The hex SHA-256 key of ``request`` sent to ``route`` (the group, deployment or
    ``"<group-or-id>/<model>"`` the caller named) for ``model`` (the model asked for; None
    for the route's default)."""
    text = _fast_form(request, route, model)
    if text is None:
        text = canonical_form(request, route, model)
    return _sha256(text.encode("ascii")).hexdigest()


MemoryKey = tuple[object, ...] | str
"""The memory cache's key: a tuple (a text-only request) or the SHA-256 hex key."""

_FIELDS = itemgetter(  # a set tool/format/reasoning/provider option is unhashable: the SHA path
    "temperature",  # the four floats first (see _zeros)
    "top_p",
    "presence_penalty",
    "frequency_penalty",
    "max_tokens",
    "parallel_tool_calls",
    "seed",
    "tools",
    "tool_choice",
    "response_format",
    "reasoning",
    "provider_options",
    "stop_sequences",  # last: a list, kept as a tuple
)
_MESSAGE = itemgetter("role", "content", "name", "tool_calls", "tool_call_id")


def memory_key(request: ProviderRequest, route: str, model: str | None) -> MemoryKey:
    """The key the memory cache keeps ``request``'s reply under (see the module's docstring):
    equal for two requests exactly when their canonical forms are equal."""
    return memory_key_hash(request, route, model)[0]


def memory_key_hash(
    request: ProviderRequest, route: str, model: str | None
) -> tuple[MemoryKey, int]:
    """:func:`memory_key` and its hash (computed once: the memory cache is keyed by it).

    The tuple holds the fields' values as they are; any that is not a string, number or
    None (tools, a format, a list of content parts, tool calls...) makes it unhashable, and
    the request is keyed by :func:`cache_key` instead."""
    d = request.__dict__
    opts = d["cache"]
    namespace = None if opts is None else opts.namespace
    fields = _FIELDS(d)
    t, p, r, f = fields[0], fields[1], fields[2], fields[3]
    # any float that is zero (``not`` is true for it; ``0.0 in fields`` compares each None
    # with 0.0 slowly): -0.0 and 0.0 are two texts in the canonical form, keep them apart
    if not t or (p is not None and not p) or (r is not None and not r) or (f is not None and not f):
        fields = _zeros(fields)
    if fields[12] is not None:
        fields = (*fields[:12], tuple(fields[12]))
    messages = []
    for m in d["messages"]:
        md = m.__dict__
        if md["name"] is None and md["tool_calls"] is None and md["tool_call_id"] is None:
            messages.append((md["role"], md["content"]))  # a plain message: two fields
        else:
            messages.append(_MESSAGE(md))  # five: never equal to a plain one's two
    key = (
        route,
        model,
        namespace,
        d["tenant"] if namespace is None else None,
        fields,
        tuple(messages),
    )
    try:
        return key, hash(key)
    except TypeError:
        sha = cache_key(request, route, model)
        return sha, hash(sha)


def _zeros(fields: tuple[Any, ...]) -> tuple[Any, ...]:
    """``fields`` with each of its four floats that is zero as its ``repr``."""
    floats = tuple(repr(f) if f == 0.0 else f for f in fields[:4])
    return floats + fields[4:]


def canonical_form(request: ProviderRequest, route: str, model: str | None) -> str:
    """The canonical JSON text the key hashes (the general path)."""
    namespace, tenant = namespace_of(request)
    form: dict[str, Any] = {
        "v": KEY_VERSION,
        "route": route,
        "model": model,
        "namespace": namespace,
        "tenant": tenant,
        "messages": [_message(m) for m in request.messages],
        "maxTokens": request.max_tokens,
        "temperature": float(request.temperature),
        "topP": _float(request.top_p),
        "stop": request.stop_sequences,
        "tools": None if request.tools is None else [_tool(t) for t in request.tools],
        "toolChoice": _tool_choice(request.tool_choice),
        "parallelToolCalls": request.parallel_tool_calls,
        "responseFormat": _format(request.response_format),
        "reasoning": _reasoning(request),
        "seed": request.seed,
        "presencePenalty": _float(request.presence_penalty),
        "frequencyPenalty": _float(request.frequency_penalty),
        "providerOptions": request.provider_options,
    }
    return json.dumps(form, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _float(value: float | None) -> float | None:
    return None if value is None else float(value)


def _message(m: Message) -> dict[str, Any]:
    content: Any = m.content
    if isinstance(content, list):
        content = [_part(p) for p in content]
    out: dict[str, Any] = {"role": m.role, "content": content}
    if m.name is not None:
        out["name"] = m.name
    if m.tool_calls is not None:
        out["toolCalls"] = [
            {"id": c.id, "name": c.name, "arguments": c.arguments} for c in m.tool_calls
        ]
    if m.tool_call_id is not None:
        out["toolCallId"] = m.tool_call_id
    return out


def _part(part: Any) -> dict[str, Any]:
    if part.type == "text":
        return {"type": "text", "text": part.text}
    assert isinstance(part, ImagePart)
    if part.data is not None:
        raw = part.data.encode("ascii", "replace")
        with contextlib.suppress(binascii.Error, ValueError):  # else keyed by its text
            raw = base64.b64decode(raw, validate=False)
        return {"type": "image", "mediaType": part.media_type, "sha256": _sha256(raw).hexdigest()}
    return {"type": "image", "url": part.url}


def _tool(tool: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": tool.name}
    if tool.description is not None:
        out["description"] = tool.description
    if tool.parameters is not None:
        out["parameters"] = tool.parameters
    return out


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, NamedToolChoice):
        return {"name": choice.name}
    return choice


def _format(fmt: Any) -> dict[str, Any] | None:
    if fmt is None:
        return None
    if isinstance(fmt, JsonSchemaFormat):
        out: dict[str, Any] = {"type": fmt.type, "name": fmt.name, "schema": fmt.json_schema}
        if fmt.strict is not None:
            out["strict"] = fmt.strict
        return out
    return {"type": fmt.type}


def _reasoning(request: ProviderRequest) -> dict[str, Any] | None:
    r = request.reasoning
    if r is None:
        return None
    if r.effort is not None:
        return {"effort": r.effort}
    return {"budgetTokens": r.budget_tokens}


def _fast_form(request: ProviderRequest, route: str, model: str | None) -> str | None:
    """The canonical text of a text-only request, written directly (a few us less than
    building the object); None when the request has anything else."""
    d = request.__dict__
    if (
        d["tools"] is not None
        or d["tool_choice"] is not None
        or d["response_format"] is not None
        or d["reasoning"] is not None
        or d["provider_options"] is not None
    ):
        return None
    parts = []
    for m in d["messages"]:
        md = m.__dict__
        content = md["content"]
        if (
            type(content) is not str
            or md["name"] is not None
            or md["tool_calls"] is not None
            or md["tool_call_id"] is not None
        ):
            return None
        parts.append('{"content":' + _enc(content) + ',"role":"' + md["role"] + '"}')
    stop = d["stop_sequences"]
    opts = d["cache"]
    namespace = None if opts is None else opts.namespace
    tenant = d["tenant"] if namespace is None else None
    max_tokens = d["max_tokens"]
    top_p = d["top_p"]
    parallel = d["parallel_tool_calls"]
    seed = d["seed"]
    presence = d["presence_penalty"]
    frequency = d["frequency_penalty"]
    return "".join(
        (
            '{"frequencyPenalty":',
            "null" if frequency is None else repr(float(frequency)),
            ',"maxTokens":',
            "null" if max_tokens is None else str(max_tokens),
            ',"messages":[',
            ",".join(parts),
            '],"model":',
            "null" if model is None else _enc(model),
            ',"namespace":',
            "null" if namespace is None else _enc(namespace),
            ',"parallelToolCalls":',
            "null" if parallel is None else ("true" if parallel else "false"),
            ',"presencePenalty":',
            "null" if presence is None else repr(float(presence)),
            ',"providerOptions":null,"reasoning":null,"responseFormat":null,"route":',
            _enc(route),
            ',"seed":',
            "null" if seed is None else str(seed),
            ',"stop":',
            "null" if stop is None else "[" + ",".join(map(_enc, stop)) + "]",
            ',"temperature":',
            repr(float(d["temperature"])),
            ',"tenant":',
            "null" if tenant is None else _enc(tenant),
            ',"toolChoice":null,"tools":null,"topP":',
            "null" if top_p is None else repr(float(top_p)),
            ',"v":1}',
        )
    )
