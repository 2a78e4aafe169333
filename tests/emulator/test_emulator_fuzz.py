"""Hostile bodies at the probe's scale (issue 19, item 9): every malformed request on every
wire gets a 4xx in that provider's own error shape, within a second, never a 500.

The probe sent 1,525 malformed requests across the wires; 35 were answered 500 at 17 places:
`$ref`s that dangle, point outside or recurse; sub-schemas that are not objects; a lone
surrogate in text; `minLength: 1e12`; nested `minItems` (an 842-byte body took 4 s). These
tests send each of those on each wire, plus every value of a rich valid body replaced by
each JSON type in turn (about 2,450 bodies in all).
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest

from automatosx.emulator import create_app

CLAUDE_HEADERS = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
OPENAI_HEADERS = {"authorization": "Bearer k"}
AZURE_HEADERS = {"api-key": "k"}
GEMINI_HEADERS = {"x-goog-api-key": "k"}
SECOND = 1.0


@dataclass(frozen=True)
class WireCase:
    name: str
    path: str
    headers: dict[str, str]
    body: Callable[[dict[str, Any], str], dict[str, Any]]  # (schema, text) -> a rich body
    shape: Callable[[Any], bool]


def _claude(schema: dict[str, Any], text: str) -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4-6",
        "max_tokens": 64,
        "system": [{"type": "text", "text": "be brief"}],
        "tools": [{"name": "lookup", "description": "d", "input_schema": schema}],
        "tool_choice": {"type": "any"},
        "messages": [
            {"role": "user", "content": text},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t1", "name": "lookup", "input": {}}],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "t1", "content": text}],
            },
        ],
    }


def _openai(schema: dict[str, Any], text: str) -> dict[str, Any]:
    return {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": text},
        ],
        "tools": [{"type": "function", "function": {"name": "lookup", "parameters": schema}}],
        "tool_choice": "required",
        "response_format": {"type": "json_schema", "json_schema": {"name": "r", "schema": schema}},
    }


def _responses(schema: dict[str, Any], text: str) -> dict[str, Any]:
    return {
        "model": "gpt-4o",
        "instructions": "be brief",
        "input": [{"role": "user", "content": text}],
        "tools": [{"type": "function", "name": "lookup", "parameters": schema}],
        "tool_choice": "required",
        "text": {"format": {"type": "json_schema", "name": "r", "schema": schema}},
    }


def _gemini(schema: dict[str, Any], text: str) -> dict[str, Any]:
    return {
        "systemInstruction": {"parts": [{"text": "be brief"}]},
        "contents": [{"role": "user", "parts": [{"text": text}]}],
        "tools": [{"functionDeclarations": [{"name": "lookup", "parametersJsonSchema": schema}]}],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY"}},
        "generationConfig": {"responseMimeType": "application/json", "responseJsonSchema": schema},
    }


def _anthropic_shape(data: Any) -> bool:
    return (
        data.get("type") == "error"
        and isinstance(data["error"].get("message"), str)
        and isinstance(data["error"].get("type"), str)
    )


def _openai_shape(data: Any) -> bool:
    return set(data["error"]) == {"message", "type", "param", "code"}


def _gemini_shape(data: Any) -> bool:
    error = data["error"]
    return isinstance(error["code"], int) and isinstance(error["status"], str)


WIRES = [
    WireCase("claude", "/v1/messages", CLAUDE_HEADERS, _claude, _anthropic_shape),
    WireCase("openai", "/v1/chat/completions", OPENAI_HEADERS, _openai, _openai_shape),
    WireCase("responses", "/v1/responses", OPENAI_HEADERS, _responses, _openai_shape),
    WireCase(
        "azure",
        "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21",
        AZURE_HEADERS,
        _openai,
        _openai_shape,
    ),
    WireCase(
        "gemini",
        "/v1beta/models/gemini-2.5-flash:generateContent",
        GEMINI_HEADERS,
        _gemini,
        _gemini_shape,
    ),
    WireCase(
        "vertex",
        "/v1beta1/publishers/google/models/gemini-2.5-flash:generateContent",
        GEMINI_HEADERS,
        _gemini,
        _gemini_shape,
    ),
]

GOOD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
    "required": ["city", "days"],
}

# Schemas no generator can satisfy, or that would cost without bound: each is a 400.
BAD_SCHEMAS: dict[str, dict[str, Any]] = {
    "dangling ref": {"$ref": "#/$defs/missing"},
    "outside ref": {"$ref": "https://example.com/schema.json"},
    "relative file ref": {"$ref": "other.json#/a"},
    "ref not a string": {"$ref": 5},
    "self ref": {"$ref": "#"},
    "ref cycle": {
        "$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}},
        "$ref": "#/$defs/a",
    },
    "required self property": {
        "type": "object",
        "properties": {"me": {"$ref": "#"}},
        "required": ["me"],
    },
    "ref into a number": {"$defs": {"a": 5}, "$ref": "#/$defs/a"},
    "ref through a list": {"$defs": [{"type": "string"}], "$ref": "#/$defs/0/x"},
    "property not an object": {"type": "object", "properties": {"a": 5}},
    "property a string": {"type": "object", "properties": {"a": "string"}},
    "properties a list": {"type": "object", "properties": [1, 2], "required": ["a"]},
    "items a number": {"type": "array", "items": 5},
    "items a list of numbers": {"type": "array", "items": [5]},
    "prefixItems of numbers": {"type": "array", "prefixItems": [5, "x"]},
    "anyOf a number": {"anyOf": 5},
    "anyOf of numbers": {"anyOf": [5]},
    "oneOf empty": {"oneOf": []},
    "allOf of numbers": {"allOf": [5, None]},
    "additionalProperties a number": {
        "type": "object",
        "required": ["a"],
        "additionalProperties": 5,
    },
    "type a number": {"type": 5},
    "type unknown": {"type": "thing"},
    "enum empty": {"enum": []},
    "minLength 1e12": {"type": "string", "minLength": 1e12},
    "minLength 10**12": {"type": "string", "minLength": 10**12},
    "minLength huge string": {"type": "string", "minLength": "1000000000000"},
    "minLength above maxLength": {"type": "string", "minLength": 5, "maxLength": 2},
    "minItems 1e9": {"type": "array", "minItems": 1e9, "items": {"type": "integer"}},
    "minItems nested": {
        "type": "array",
        "minItems": 1000,
        "items": {
            "type": "array",
            "minItems": 1000,
            "items": {"type": "array", "minItems": 1000, "items": {"type": "string"}},
        },
    },
    "minItems above maxItems": {"type": "array", "minItems": 3, "maxItems": 1},
    "minimum above maximum": {"type": "integer", "minimum": 10, "maximum": 1},
    "multipleOf zero": {"type": "number", "multipleOf": 0},
    "multipleOf negative": {"type": "number", "multipleOf": -2},
    "minimum 1e308 multipleOf tiny": {"type": "number", "minimum": 1e308, "multipleOf": 1e-308},
    "deep nesting": json.loads('{"type":"object","properties":{"a":' * 40 + "{}" + "}}" * 40),
}


def _bodies() -> Iterator[tuple[str, WireCase, bytes]]:
    for wire in WIRES:
        for label, schema in BAD_SCHEMAS.items():
            yield f"{wire.name}: {label}", wire, json.dumps(wire.body(schema, "hi")).encode()
        for label, text in (("lone high surrogate", "\ud800"), ("lone low", "a\udc00b")):
            body = json.dumps(wire.body(GOOD_SCHEMA, text)).encode()
            assert b"\\ud" in body
            yield f"{wire.name}: {label}", wire, body
        for label, raw in (
            ("NaN", b'{"model": NaN}'),
            ("Infinity", b'{"temperature": Infinity, "model": "x"}'),
            ("not an object", b'"text"'),
            ("null", b"null"),
            ("bad utf-8", b'{"model": "\xff\xfe"}'),
            ("empty", b""),
        ):
            yield f"{wire.name}: {label}", wire, raw
        good = wire.body(GOOD_SCHEMA, "hi")
        misspelt = dict(good) | {"temprature": 0.5}
        yield f"{wire.name}: unknown top-level field", wire, json.dumps(misspelt).encode()


def _mutations(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Every (path, replacement) that swaps one value of `value` for another JSON type."""
    replacements: list[Any] = [None, -1, 1e300, "x", [], {}, True, [5], {"x": 5}]
    if path:
        for new in replacements:
            if type(new) is not type(value) or new != value:
                yield path, new
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _mutations(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _mutations(item, (*path, i))


def _replaced(body: dict[str, Any], path: tuple[Any, ...], new: Any) -> dict[str, Any]:
    out = copy.deepcopy(body)
    target: Any = out
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = new
    return out


@pytest.fixture
async def http() -> AsyncIterator[httpx2.AsyncClient]:
    """A raw client of a fresh emulator that sees a crash as the 500 a server would send."""
    transport = httpx2.ASGITransport(app=create_app(), raise_app_exceptions=False)
    async with httpx2.AsyncClient(transport=transport, base_url="http://emulator") as client:
        yield client


async def _post(
    http: httpx2.AsyncClient, wire: WireCase, body: bytes
) -> tuple[httpx2.Response, float]:
    started = time.perf_counter()
    response = await http.post(wire.path, content=body, headers=wire.headers)
    return response, time.perf_counter() - started


def _check(label: str, wire: WireCase, response: httpx2.Response, took: float) -> list[str]:
    problems = []
    if response.status_code >= 500:
        problems.append(f"{label}: {response.status_code} {response.text[:200]}")
    elif response.status_code >= 400:
        try:
            if not wire.shape(response.json()):
                problems.append(f"{label}: not {wire.name}'s error shape: {response.text[:200]}")
        except (ValueError, KeyError, TypeError, AttributeError):
            problems.append(f"{label}: not {wire.name}'s error shape: {response.text[:200]}")
    if took > SECOND:
        problems.append(f"{label}: took {took:.2f} s")
    return problems


async def test_malformed_bodies_get_a_400_in_the_providers_shape(http: httpx2.AsyncClient) -> None:
    problems: list[str] = []
    count = 0
    for label, wire, body in _bodies():
        response, took = await _post(http, wire, body)
        count += 1
        problems += _check(label, wire, response, took)
        if response.status_code != 400:
            problems.append(f"{label}: {response.status_code}, not 400: {response.text[:200]}")
    assert not problems, "\n".join(problems)
    assert count > 250


async def test_every_value_swapped_for_another_type_is_never_a_500(
    http: httpx2.AsyncClient,
) -> None:
    problems: list[str] = []
    count = 0
    for wire in WIRES:
        good = wire.body(GOOD_SCHEMA, "hi")
        response, _ = await _post(http, wire, json.dumps(good).encode())
        assert response.status_code == 200, (wire.name, response.text)
        for path, new in _mutations(good):
            body = json.dumps(_replaced(good, path, new)).encode()
            response, took = await _post(http, wire, body)
            count += 1
            label = f"{wire.name}: {'.'.join(map(str, path))} = {json.dumps(new)}"
            problems += _check(label, wire, response, took)
    assert not problems, "\n".join(problems[:60]) + f"\n({len(problems)} in all)"
    assert count > 1_200


TREE: dict[str, Any] = {
    "$defs": {
        "Tree": {
            "type": "object",
            "properties": {
                "value": {"type": "integer"},
                "children": {"type": "array", "items": {"$ref": "#/$defs/Tree"}},
            },
            "required": ["value", "children"],
        }
    },
    "$ref": "#/$defs/Tree",
}


@pytest.mark.parametrize("wire", WIRES, ids=[w.name for w in WIRES])
async def test_a_recursive_schema_with_a_base_case_gets_a_finite_instance(
    http: httpx2.AsyncClient, wire: WireCase
) -> None:
    response, took = await _post(http, wire, json.dumps(wire.body(TREE, "hi")).encode())
    assert response.status_code == 200, response.text
    assert took < SECOND
    assert len(response.content) < 20_000
