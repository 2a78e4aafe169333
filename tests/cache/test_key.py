"""The response cache's key: a SHA-256 over the documented canonical form, the same in every
process and dict order, scoped by namespace/tenant, blind to ids, metadata and timing."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from automatosx.cache import cache_key, canonical_form
from automatosx.cache._key import _fast_form
from automatosx.schemas import ProviderRequest

BASE: dict[str, Any] = {
    "messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": 'Name a colour. é ☃ "quoted" \\ \n'},
    ],
    "maxTokens": 64,
    "temperature": 0.5,
}

# The literal key of BASE sent to route "claude" with no explicit model: if this changes,
# every stored entry of every user is orphaned — bump KEY_VERSION and say so in the notes.
PINNED_KEY = "57af7da1d9b5a8903782721dab3d897bb10fa74f7be93d550d93f2187b47900a"


def key(**fields: Any) -> str:
    return cache_key(ProviderRequest.model_validate({**BASE, **fields}), "claude", None)


def test_the_key_of_a_known_request_is_pinned() -> None:
    form = canonical_form(ProviderRequest.model_validate(BASE), "claude", None)
    assert form == (
        '{"frequencyPenalty":null,"maxTokens":64,"messages":['
        '{"content":"You are terse.","role":"system"},'
        '{"content":"Name a colour. \\u00e9 \\u2603 \\"quoted\\" \\\\ \\n","role":"user"}],'
        '"model":null,"namespace":null,"parallelToolCalls":null,"presencePenalty":null,'
        '"providerOptions":null,"reasoning":null,"responseFormat":null,"route":"claude",'
        '"seed":null,"stop":null,"temperature":0.5,'
        '"tenant":null,"toolChoice":null,"tools":null,"topP":null,"v":1}'
    )
    assert key() == hashlib.sha256(form.encode()).hexdigest()
    assert key() == PINNED_KEY


def test_the_key_is_the_same_in_another_process_with_another_hash_seed(tmp_path: Path) -> None:
    script = tmp_path / "k.py"
    script.write_text(
        "import json, sys\n"
        "from automatosx.cache import cache_key\n"
        "from automatosx.schemas import ProviderRequest\n"
        "req = ProviderRequest.model_validate(json.loads(sys.argv[1]))\n"
        "print(cache_key(req, 'claude', 'claude-sonnet-4-6'))\n"
    )
    rich = {
        **BASE,
        "tools": [
            {"name": "f", "parameters": {"type": "object", "properties": {"b": {}, "a": {}}}}
        ],
        "tenant": "acme",
    }
    seen = set()
    for seed in ("1", "2", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, str(script), json.dumps(rich)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        seen.add(out.stdout.strip())
    here = cache_key(ProviderRequest.model_validate(rich), "claude", "claude-sonnet-4-6")
    assert seen == {here}


def test_dict_order_does_not_change_the_key() -> None:
    tools_a = [
        {
            "name": "weather",
            "description": "d",
            "parameters": {"type": "object", "properties": {"city": {}, "unit": {}}},
        }
    ]
    tools_b = [
        {
            "parameters": {"properties": {"unit": {}, "city": {}}, "type": "object"},
            "description": "d",
            "name": "weather",
        }
    ]
    call_a = {"id": "c1", "name": "weather", "arguments": {"city": "Oslo", "unit": "C"}}
    call_b = {"arguments": {"unit": "C", "city": "Oslo"}, "name": "weather", "id": "c1"}

    def msgs(call: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {"role": "user", "content": "weather in Oslo?"},
            {"role": "assistant", "toolCalls": [call]},
            {"role": "tool", "toolCallId": "c1", "content": "5 C"},
        ]

    assert key(tools=tools_a, messages=msgs(call_a)) == key(tools=tools_b, messages=msgs(call_b))


def test_ids_metadata_stream_user_and_prompt_cache_are_not_part_of_the_key() -> None:
    base = key()
    assert key(requestId="7b0c5f0e-1111-4a2b-9c3d-000000000001") == base
    assert key(metadata={"trace": "x", "at": 123}) == base
    assert key(stream=True) == base
    assert key(user="u1") == base
    assert key(promptCache=True) == base
    assert key(cache={"ttlS": 5, "mode": "read"}) == base
    assert key(timeoutMs=5_000, maxRetries=1) == base
    msgs = [dict(m) for m in BASE["messages"]]
    msgs[1]["metadata"] = {"client": "web"}
    assert key(messages=msgs) == base


@pytest.mark.parametrize(
    "change",
    [
        {"temperature": 0.51},
        {"maxTokens": 65},
        {"topP": 0.9},
        {"stopSequences": ["END"]},
        {"parallelToolCalls": False},
        {"reasoning": {"effort": "low"}},
        {"reasoning": {"budgetTokens": 1024}},
        {"responseFormat": {"type": "json_object"}},
        {"responseFormat": {"type": "json_schema", "name": "c", "schema": {"type": "object"}}},
        {"tools": [{"name": "f"}]},
        {"tools": [{"name": "f"}], "toolChoice": "required"},
        {"tools": [{"name": "f"}], "toolChoice": {"name": "f"}},
        {"messages": [{"role": "user", "content": "Name a colour."}]},
        {"messages": [{"role": "user", "content": "Name a colour.", "name": "bob"}]},
        {"tenant": "acme"},
        {"cache": {"namespace": "shared"}},
        {"seed": 7},
        {"presencePenalty": 0.5},
        {"frequencyPenalty": -0.5},
        {"providerOptions": {"openai": {"logit_bias": {"50256": -100}}}},
    ],
)
def test_what_decides_the_reply_changes_the_key(change: dict[str, Any]) -> None:
    assert key(**change) != key()


def test_route_and_model_are_part_of_the_key() -> None:
    req = ProviderRequest.model_validate(BASE)
    keys = {
        cache_key(req, "claude", None),
        cache_key(req, "openai", None),
        cache_key(req, "claude", "claude-haiku-4-5"),
    }
    assert len(keys) == 3


def test_tenants_never_share_unless_they_name_the_same_namespace() -> None:
    assert key(tenant="a") != key(tenant="b")
    assert key(tenant="a", cache={"namespace": "n"}) == key(tenant="b", cache={"namespace": "n"})
    assert key(tenant="a", cache={"namespace": "n"}) != key(cache={"namespace": "m"})
    # a namespace that equals a tenant's name is not that tenant's default scope
    assert key(tenant="a") != key(cache={"namespace": "a"})
    assert key(tenant="b", cache={"namespace": "a"}) != key(tenant="a")


def test_integer_and_float_temperature_are_one_key() -> None:
    assert key(temperature=1) == key(temperature=1.0)


def test_images_are_keyed_by_the_hash_of_their_bytes_not_their_text() -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
    data = base64.b64encode(png).decode()
    other = base64.b64encode(png[:-1] + b"\x00").decode()

    def with_image(b64: str) -> str:
        return key(
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what is this?"},
                        {"type": "image", "data": b64, "mediaType": "image/png"},
                    ],
                }
            ]
        )

    assert with_image(data) == with_image(data)
    assert with_image(data) != with_image(other)
    req = ProviderRequest.model_validate(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "image", "data": data, "mediaType": "image/png"}],
                }
            ]
        }
    )
    form = canonical_form(req, "claude", None)
    assert data[:40] not in form
    assert hashlib.sha256(png).hexdigest() in form
    url = [{"role": "user", "content": [{"type": "image", "url": "https://x.test/a.png"}]}]
    assert key(messages=url) != with_image(data)


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"maxTokens": None, "temperature": 2},
        {"topP": 0.25, "stopSequences": ["a", "ö", "\\"]},
        {"tenant": "t-1"},
        {"tenant": "t-1", "cache": {"namespace": "ns ☃"}},
        {"cache": {"mode": "read"}},
        {"parallelToolCalls": True},
        {"seed": -3, "presencePenalty": 1, "frequencyPenalty": 0.25},
        {"messages": [{"role": "user", "content": "x" * 10_000}]},
        {
            "messages": [
                {"role": "system", "content": "s"},
                {"role": "user", "content": "u"},
                {"role": "assistant", "content": "a"},
                {"role": "user", "content": "\u0000\u001f\u2028"},
            ]
        },
    ],
)
def test_the_text_only_fast_path_writes_the_documented_form(fields: dict[str, Any]) -> None:
    req = ProviderRequest.model_validate({**BASE, **fields})
    for route, model in (("claude", None), ("g/m", "gemini-2.5-flash"), ("é", 'x"y')):
        fast = _fast_form(req, route, model)
        assert fast is not None
        assert fast == canonical_form(req, route, model)


def test_the_fast_path_declines_rich_requests() -> None:
    req = ProviderRequest.model_validate({**BASE, "tools": [{"name": "f"}]})
    assert _fast_form(req, "claude", None) is None


# Requests that differ in one field each (and some that differ only where the key is blind):
# the memory cache's tuple key must split and merge them exactly as the canonical form does.
_VARIANTS: list[dict[str, Any]] = [
    {},
    {"requestId": "7b0c5f0e-1111-4a2b-9c3d-000000000009", "metadata": {"a": 1}},
    {"cache": {"mode": "read", "ttlS": 5}},
    {"temperature": 0.0},
    {"temperature": -0.0},
    {"temperature": 1},
    {"temperature": 1.0},
    {"topP": 0.0},
    {"topP": -0.0},
    {"topP": 0.5},
    {"presencePenalty": 0.0},
    {"presencePenalty": -0.0},
    {"frequencyPenalty": 0.25},
    {"maxTokens": None},
    {"maxTokens": 65},
    {"stopSequences": ["a"]},
    {"stopSequences": []},
    {"stopSequences": ["a", "b"]},
    {"tenant": "t-1"},
    {"tenant": "t-2"},
    {"tenant": "t-1", "cache": {"namespace": "n"}},
    {"tenant": "t-2", "cache": {"namespace": "n"}},
    {"cache": {"namespace": "t-1"}},
    {"parallelToolCalls": True},
    {"parallelToolCalls": False},
    {"seed": 1},
    {"seed": 0},
    {"user": "u-1", "timeoutMs": 5_000, "maxRetries": 1},
    {"messages": [{"role": "user", "content": "hi", "name": "ann"}]},
    {"messages": [{"role": "user", "content": "hi"}]},
    {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]},
    {"messages": [{"role": "user", "content": "hi", "metadata": {"k": "v"}}]},
    {"tools": [{"name": "f"}]},
    {"tools": [{"name": "f"}], "toolChoice": "auto"},
    {"toolChoice": "none"},
    {"responseFormat": {"type": "json_object"}},
    {"reasoning": {"effort": "low"}},
]


def test_the_memory_key_splits_and_merges_requests_exactly_as_the_canonical_form() -> None:
    from automatosx.cache._key import memory_key

    reqs = [ProviderRequest.model_validate({**BASE, **v}) for v in _VARIANTS]
    routes = (("claude", None), ("claude", "claude-haiku-4-5"), ("g", None))
    cases = [(r, route, model) for r in reqs for route, model in routes]
    forms = [canonical_form(*c) for c in cases]
    keys = [memory_key(*c) for c in cases]
    for i in range(len(cases)):
        hash(keys[i])  # every key is usable in a dict
        for j in range(len(cases)):
            assert (keys[i] == keys[j]) == (forms[i] == forms[j]), (_VARIANTS[i // 3], j)
    # the -0.0/0.0 pair and the int/float pair behave as in the text
    assert memory_key(reqs[3], "c", None) != memory_key(reqs[4], "c", None)
    assert memory_key(reqs[5], "c", None) == memory_key(reqs[6], "c", None)
    # a rich request is keyed by its SHA-256 key
    assert memory_key(reqs[32], "claude", None) == cache_key(reqs[32], "claude", None)
