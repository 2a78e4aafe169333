"""The typical request's own validation path (``schemas._fast``) builds exactly the model the
full validation builds, and declines everything else to it."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from automatosx.schemas import Message, ProviderRequest
from automatosx.schemas._fast import simple_request
from automatosx.schemas._request import _DEFAULTS

PROMPT: dict[str, Any] = {
    "messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Say hello in five words."},
    ],
    "maxTokens": 64,
    "temperature": 0.7,
}
REQUEST_ID = "6f1c1f5e-0a6b-4d5e-9a7b-2c3d4e5f6a7b"


def full(doc: Any) -> ProviderRequest:
    """The pydantic-core validation, as ``model_validate`` does it for any other input."""
    return BaseModel.model_validate.__func__(ProviderRequest, doc)  # type: ignore[attr-defined, no-any-return]


def state(model: Any, *, generated_id: bool) -> Any:
    """Everything a model instance holds, with each value's type (``1.0`` is not ``1``)."""
    if isinstance(model, list):
        return [state(item, generated_id=False) for item in model]
    if not isinstance(model, BaseModel):
        return (type(model).__name__, model)
    fields = {
        name: state(value, generated_id=False)
        for name, value in model.__dict__.items()
        if not (generated_id and name == "request_id")
    }
    return (
        type(model).__name__,
        list(model.__dict__),
        fields,
        sorted(model.__pydantic_fields_set__),
        model.__pydantic_extra__,
        model.__pydantic_private__,
    )


def check_same(doc: dict[str, Any]) -> bool:
    """The fast path either declines ``doc`` or agrees with the full validation on it; returns
    whether it took it."""
    before = copy.deepcopy(doc)
    fast = simple_request(ProviderRequest, doc, _DEFAULTS)
    assert doc == before  # the input is not touched
    try:
        expected = full(doc)
    except ValidationError:
        assert fast is None, f"the fast path accepted what validation refuses: {doc!r}"
        return False
    if fast is None:
        return False
    generated = "requestId" not in doc and "request_id" not in doc
    assert state(fast, generated_id=generated) == state(expected, generated_id=generated)
    assert fast.model_dump_json(by_alias=True, exclude={"request_id"}) == (
        expected.model_dump_json(by_alias=True, exclude={"request_id"})
    )
    assert fast.model_dump(by_alias=True) == {**expected.model_dump(by_alias=True)} | (
        {"requestId": fast.request_id} if generated else {}
    )
    if generated:
        assert fast.request_id != expected.request_id  # a fresh one each
    return True


def test_the_typical_request_takes_the_fast_path_and_equals_the_validated_one() -> None:
    assert check_same(PROMPT)
    assert check_same({**PROMPT, "requestId": REQUEST_ID})
    snake = {"messages": PROMPT["messages"], "max_tokens": 64, "request_id": REQUEST_ID}
    assert check_same({**snake, "top_p": 0.5})
    request = ProviderRequest.model_validate(PROMPT)
    assert type(request) is ProviderRequest
    assert request == full({**PROMPT, "requestId": request.request_id})
    assert request.model_fields_set == {"messages", "max_tokens", "temperature"}
    assert all(m.model_fields_set == {"role", "content"} for m in request.messages)
    request.temperature = 1.5  # still validated on assignment
    with pytest.raises(ValidationError):
        request.temperature = 5.0


KEYS = ["messages", "maxTokens", "temperature", "topP", "model", "provider", "stream", "requestId"]
OTHER_KEYS = [
    "max_tokens",
    "top_p",
    "request_id",
    "tenant",
    "user",
    "stop",
    "metadata",
    "seed",
    "x",
]
EDGE = st.sampled_from(
    [
        None,
        True,
        False,
        0,
        1,
        2,
        3,
        -1,
        200_000,
        200_001,
        0.0,
        -0.0,
        0.5,
        1.0,
        1.5,
        2.0,
        2.0000001,
        -0.1,
        float("nan"),
        float("inf"),
        "",
        "x",
        "0.5",
        "64",
        "claude",
        "é",
        "a\ud800",
        "x" * 64,
        "x" * 65,
        "y" * 100,
        "y" * 101,
        REQUEST_ID,
        REQUEST_ID.upper(),
        REQUEST_ID + "\n",
        "6f1c1f5e-0a6b-4d5e-9a7b-2c3d4e5f6a7",
        [],
        {},
    ]
)
CONTENT = st.one_of(
    st.sampled_from(["", "hi", "é \U0001f600", "\ud800", "x" * 1_000_000, "x" * 1_000_001]),
    st.text(max_size=20),
    st.integers(),
    st.none(),
    st.just([{"type": "text", "text": "hi"}]),
)
ROLE = st.one_of(
    st.sampled_from(["system", "user", "assistant", "tool", "robot", ""]), st.integers(), st.none()
)
MESSAGE = st.one_of(
    st.fixed_dictionaries({"role": ROLE, "content": CONTENT}),
    st.fixed_dictionaries({"role": ROLE}, optional={"content": CONTENT, "name": st.just("bob")}),
    st.fixed_dictionaries(
        {"role": st.just("tool"), "content": st.just("r"), "toolCallId": st.just("c1")}
    ),
    st.just("hello"),
    st.none(),
)
REQUEST = st.fixed_dictionaries(
    {"messages": st.one_of(st.lists(MESSAGE, max_size=4), EDGE)},
    optional=dict.fromkeys([*KEYS[1:], *OTHER_KEYS], EDGE),
)

NEAR_MESSAGE = st.fixed_dictionaries(
    {
        "role": st.one_of(st.sampled_from(["system", "user", "assistant"]), ROLE),
        "content": st.one_of(st.text(min_size=1, max_size=30), CONTENT),
    }
)
GOOD = {
    "maxTokens": st.one_of(st.integers(-1, 200_001), st.none()),
    "temperature": st.one_of(st.floats(-0.5, 2.5), st.integers(-1, 3)),
    "topP": st.one_of(st.floats(-0.5, 1.5), st.integers(-1, 2), st.none()),
    "model": st.one_of(st.text(max_size=102), st.none()),
    "provider": st.one_of(st.text(max_size=66), st.none()),
    "stream": st.booleans(),
    "requestId": st.uuids().map(str),
    "max_tokens": st.integers(0, 10),
    "top_p": st.floats(0, 1),
    "request_id": st.uuids().map(str),
    "tenant": st.one_of(st.text(max_size=202), st.none()),
    "user": st.one_of(st.text(max_size=202), st.none()),
}
NEAR_REQUEST = st.fixed_dictionaries(
    {"messages": st.lists(NEAR_MESSAGE, min_size=1, max_size=4)},
    optional={key: st.one_of(good, good, EDGE) for key, good in GOOD.items()},
)

VALID_REQUEST = st.fixed_dictionaries(
    {
        "messages": st.lists(
            st.fixed_dictionaries(
                {
                    "role": st.sampled_from(["system", "user", "assistant"]),
                    "content": st.text(min_size=1, max_size=30),
                }
            ),
            min_size=1,
            max_size=4,
        )
    },
    optional=GOOD,
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(VALID_REQUEST, NEAR_REQUEST, REQUEST))
@example({**PROMPT, "temperature": 1})
@example({**PROMPT, "temperature": True})
@example({**PROMPT, "maxTokens": True})
@example({**PROMPT, "maxTokens": 64.0})
@example({**PROMPT, "topP": None, "model": None, "provider": None, "maxTokens": None})
@example({**PROMPT, "stream": 1})
@example({"messages": [{"role": "assistant", "content": "ok"}] * 1000})
@example({"messages": [{"role": "user", "content": "ok"}] * 1001})
def test_the_fast_path_agrees_with_full_validation(doc: dict[str, Any]) -> None:
    event("fast" if check_same(doc) else "full")


@pytest.mark.parametrize(
    "doc",
    [
        {**PROMPT, "max_tokens": 64},  # given twice: the full path refuses it
        {**PROMPT, "stop": "END"},
        {**PROMPT, "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]},
        {**PROMPT, "messages": [{"role": "user", "content": "hi", "name": "bob"}]},
        {**PROMPT, "temperature": "0.7"},
        {**PROMPT, "messages": [{"role": "user", "content": "a\ud800"}]},
    ],
    ids=["both-names", "stop", "parts", "name", "string-number", "surrogate"],
)
def test_anything_else_is_left_to_full_validation(doc: dict[str, Any]) -> None:
    assert simple_request(ProviderRequest, doc, _DEFAULTS) is None


def test_a_subclass_or_options_take_full_validation() -> None:
    class Tagged(ProviderRequest):
        pass

    assert type(Tagged.model_validate(PROMPT)) is Tagged
    with pytest.raises(ValidationError, match="maxTokens"):  # only snake_case names, then
        ProviderRequest.model_validate(PROMPT, by_alias=False, by_name=True)
    assert ProviderRequest.model_validate(PROMPT, context={"x": 1}).max_tokens == 64


def test_messages_built_by_the_fast_path_are_messages() -> None:
    request = ProviderRequest.model_validate(PROMPT)
    first = request.messages[0]
    assert first == Message(role="system", content="You are terse.")
    assert first.model_dump(by_alias=True) == {"role": "system", "content": "You are terse."}
    first.content = "changed"
    with pytest.raises(ValidationError, match="role"):
        first.role = "robot"  # type: ignore[assignment]


def test_the_defaults_the_fast_path_copies_are_immutable_values() -> None:
    """Shared by every request it builds: a list default or a default factory (other than the
    generated requestId) would need a value per instance, which the fast path does not make."""
    from automatosx.schemas._fast import _MESSAGE_DEFAULTS

    for model, defaults in ((ProviderRequest, _DEFAULTS), (Message, _MESSAGE_DEFAULTS)):
        for name, field in model.model_fields.items():
            if field.is_required() or name == "request_id":
                continue
            assert field.default_factory is None, name
            assert type(defaults[name]) in (type(None), bool, int, float, str), name
            assert defaults[name] == field.default, name
