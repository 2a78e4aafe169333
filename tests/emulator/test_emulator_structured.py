"""Structured output: generated instances validate against their schemas (property tests),
and each SDK's structured-output request gets a reply that is such an instance."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from google.genai import types as genai_types
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from automatosx.emulator._schema_instance import SchemaError, instance_of

from .conftest import Emulated, user

_names = st.text("abcdefghij_", min_size=1, max_size=6)


def _leaf() -> st.SearchStrategy[dict[str, Any]]:
    ints = st.integers(-50, 50)
    return st.one_of(
        st.just({"type": "boolean"}),
        st.just({"type": "null"}),
        st.builds(
            lambda lo, span, ex: (
                {"type": "integer", "minimum": lo, "maximum": lo + span}
                | ({"exclusiveMinimum": lo - 1} if ex else {})
            ),
            ints,
            st.integers(0, 20),
            st.booleans(),
        ),
        st.builds(
            lambda lo, step: {"type": "number", "exclusiveMinimum": lo, "multipleOf": step},
            ints,
            st.sampled_from([0.5, 2, 3]),
        ),
        st.builds(
            lambda lo, extra, fmt: (
                {"type": "string", "minLength": lo, "maxLength": lo + extra}
                | ({"format": fmt} if fmt else {})
            ),
            st.integers(0, 5),
            st.integers(0, 30),
            st.sampled_from([None, "date-time", "email", "uuid", "ipv4"]),
        ),
        st.builds(lambda values: {"enum": values}, st.lists(st.text(max_size=5), min_size=1)),
        st.builds(lambda value: {"const": value}, st.integers() | st.text(max_size=5)),
    )


def _extend(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        st.builds(
            lambda props, extra, closed: (
                {
                    "type": "object",
                    "properties": props,
                    "required": sorted(props)[: len(props) // 2 + extra],
                }
                | ({"additionalProperties": False} if closed else {})
            ),
            st.dictionaries(_names, children, max_size=4),
            st.integers(0, 1),
            st.booleans(),
        ),
        st.builds(
            lambda items, low, unique: (
                {"type": "array", "items": items, "minItems": low}
                # uniqueItems only where any schema can meet it (three distinct booleans cannot).
                | ({"uniqueItems": True} if unique and low <= 1 else {})
            ),
            children,
            st.integers(0, 3),
            st.booleans(),
        ),
        st.builds(lambda branches: {"anyOf": branches}, st.lists(children, min_size=1, max_size=3)),
        st.builds(lambda branches: {"oneOf": branches[:1]}, st.lists(children, min_size=1)),
        st.builds(
            lambda kind: {"type": ["null", kind]},
            st.sampled_from(["string", "integer", "number", "boolean", "object", "array"]),
        ),
    )


schemas = st.recursive(_leaf(), _extend, max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(schemas)
def test_generated_instance_validates_against_its_schema(schema: dict[str, Any]) -> None:
    jsonschema.validate(instance_of(schema), schema)


@settings(max_examples=100, deadline=None)
@given(schemas, _names)
def test_instance_validates_through_defs_and_refs(schema: dict[str, Any], name: str) -> None:
    wrapped = {
        "type": "object",
        "properties": {"item": {"$ref": f"#/$defs/{name}"}},
        "required": ["item"],
        "$defs": {name: schema},
    }
    jsonschema.validate(instance_of(wrapped), wrapped)


def test_recursive_ref_with_no_base_case_is_a_schema_error() -> None:
    with pytest.raises(SchemaError, match="too deep"):
        instance_of({"$ref": "#/$defs/a", "$defs": {"a": {"$ref": "#/$defs/a"}}})


class City(BaseModel):
    name: str
    population: int
    tags: list[str]
    founded: str | None = None


CITY_SCHEMA = City.model_json_schema()


async def test_openai_json_schema_response_format_parses(in_process: Emulated) -> None:
    completion = await in_process.gpt.chat.completions.parse(
        model="gpt-4o", messages=user("A city please"), response_format=City
    )
    city = completion.choices[0].message.parsed
    assert isinstance(city, City)
    assert city.name == "name"


async def test_openai_json_object_mode_replies_with_an_object(in_process: Emulated) -> None:
    completion = await in_process.gpt.chat.completions.create(
        model="gpt-4o", messages=user("json please"), response_format={"type": "json_object"}
    )
    value = json.loads(completion.choices[0].message.content or "")
    assert value["answer"].startswith("Emulated reply from gpt-4o")


async def test_openai_streamed_structured_text_joins_to_an_instance(in_process: Emulated) -> None:
    stream = await in_process.gpt.chat.completions.create(
        model="gpt-4o",
        messages=user("A city please"),
        stream=True,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "city", "schema": CITY_SCHEMA, "strict": True},
        },
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    jsonschema.validate(json.loads(text), CITY_SCHEMA)


async def test_claude_output_config_json_schema_is_honoured(in_process: Emulated) -> None:
    message = await in_process.claude.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=500,
        messages=user("A city please"),
        output_config={"format": {"type": "json_schema", "schema": CITY_SCHEMA}},
    )
    jsonschema.validate(json.loads(message.content[0].text), CITY_SCHEMA)  # type: ignore[union-attr]


async def test_claude_streamed_structured_text_joins_to_an_instance(in_process: Emulated) -> None:
    async with in_process.claude.messages.stream(
        model="claude-sonnet-4-6",
        max_tokens=500,
        messages=user("A city please"),
        output_config={"format": {"type": "json_schema", "schema": CITY_SCHEMA}},
    ) as stream:
        text = "".join([t async for t in stream.text_stream])
    City.model_validate_json(text)


async def test_gemini_response_json_schema_is_honoured(in_process: Emulated) -> None:
    response = await in_process.gemini.models.generate_content(
        model="gemini-2.5-flash",
        contents="A city please",
        config=genai_types.GenerateContentConfig(
            response_mime_type="application/json", response_json_schema=CITY_SCHEMA
        ),
    )
    jsonschema.validate(json.loads(response.text or ""), CITY_SCHEMA)


async def test_gemini_response_schema_parses_into_the_model(in_process: Emulated) -> None:
    chunks = [
        chunk.text or ""
        async for chunk in await in_process.gemini.models.generate_content_stream(
            model="gemini-2.5-flash",
            contents="A city please",
            config=genai_types.GenerateContentConfig(
                response_mime_type="application/json", response_schema=City
            ),
        )
    ]
    City.model_validate_json("".join(chunks))
