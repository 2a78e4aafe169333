"""Bounded input: random and near-valid seed-shaped JSON fed to ``Router(...)``,
``execute``, ``stream`` and the models raises only the package's errors
(``AutomatosxError`` subclasses), a ``TypeError`` from our own argument checks naming the
argument, or pydantic's ``ValidationError`` — and every request that entered ends with a
terminal row."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from automatosx import Router
from automatosx.errors import AutomatosxError
from automatosx.schemas import ProviderConfig, ProviderRequest, RouterOptions

from .conftest import TERMINAL

if TYPE_CHECKING:
    from .conftest import Bench

ARGS = ("options", "providers", "store", "request", "observers")

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.text(max_size=8),
    st.sampled_from(["\ud800", "claude", "gpt-4o-mini", "", 2**32, 2**64, -1]),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.text(max_size=6), inner, max_size=3),
    ),
    max_leaves=12,
)

OPTION_KEYS = [
    "primaryProvider",
    "fallbackProviders",
    "maxRetries",
    "circuitBreakerThreshold",
    "backoffBaseMs",
    "requestsPerMinute",
    "enableFallback",
    "provider",
]
REQUEST_KEYS = [
    "requestId",
    "provider",
    "model",
    "messages",
    "maxTokens",
    "temperature",
    "stream",
    "metadata",
    "tools",
]
BIG = st.sampled_from([2**32, 2**64, 2**63, -(2**64), 5, "5", {"provider": {}}])


def near_valid(keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from(keys), st.one_of(json_values, BIG), max_size=5)


def allowed(exc: BaseException) -> bool:
    if isinstance(exc, (AutomatosxError, ValidationError)):
        return True
    return isinstance(exc, TypeError) and any(f"{a}:" in str(exc) for a in ARGS)


def check(exc: BaseException) -> None:
    """Fail the example when ``exc`` is not one the package may raise."""
    if not allowed(exc):
        pytest.fail(f"unexpected {exc!r}")


@settings(max_examples=150, deadline=None)
@given(
    options=st.one_of(near_valid(OPTION_KEYS), json_values, BIG),
    providers=st.one_of(json_values, BIG, st.lists(near_valid(["name", "apiKey"]), max_size=2)),
    store=st.one_of(json_values, BIG),
)
def test_router_construction_raises_only_typed_errors(
    options: Any, providers: Any, store: Any
) -> None:
    try:
        Router(options, providers, store=store)
    except Exception as exc:
        check(exc)


@pytest.mark.parametrize(
    "options",
    [
        {"maxRetries": 2**32},
        {"circuitBreakerThreshold": 2**64},
        {"backoffBaseMs": 2**64},
        {"requestsPerMinute": 2**64},
        {"provider": {}},
    ],
)
def test_out_of_range_router_options_are_refused_by_name(options: dict[str, Any]) -> None:
    with pytest.raises(AutomatosxError, match=next(iter(options))):
        Router({"primaryProvider": "claude", **options}, [], store=None)


@pytest.mark.parametrize(("providers", "store"), [(5, None), ([], 5), ("claude", None)])
def test_a_wrong_argument_type_is_a_type_error_naming_it(providers: Any, store: Any) -> None:
    with pytest.raises(TypeError, match=r"providers:|store:"):
        Router({"primaryProvider": "claude"}, providers, store=store)


@settings(max_examples=150, deadline=None)
@given(data=st.one_of(near_valid(REQUEST_KEYS), json_values))
def test_the_models_raise_only_validation_errors(data: Any) -> None:
    for model in (ProviderRequest, RouterOptions, ProviderConfig):
        with contextlib.suppress(ValidationError):
            model.model_validate(data)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(bodies=st.lists(st.one_of(near_valid(REQUEST_KEYS), json_values, BIG), max_size=4))
def test_execute_and_stream_raise_only_typed_errors_and_record_every_entry(
    hx: Bench, bodies: list[Any]
) -> None:
    hx.db_path.unlink(missing_ok=True)
    valid_shape = {"messages": [{"role": "user", "content": "hi"}]}

    async def main() -> None:
        async with hx.router() as router:
            for i, body in enumerate([*bodies, valid_shape]):
                try:
                    if i % 2:
                        async with router.stream(body) as stream:
                            async for _ in stream:
                                pass
                    else:
                        await router.execute(body)
                except Exception as exc:
                    check(exc)

    asyncio.run(main())
    states = hx.states()
    assert states  # the valid one at least
    assert all(state in TERMINAL for state, _ in states.values())
