"""``JsonObject``'s checks (depth, size, NaN/inf, lone surrogates) agree with a plain reading
of the rules on generated documents, at small bounds so that every rule is hit."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import automatosx.schemas._base as _base


def reference(document: dict[str, Any], max_depth: int, max_values: int) -> bool:
    """Whether ``document`` is acceptable: the rules, read literally."""

    def text(value: str) -> bool:
        return not any(0xD800 <= ord(c) <= 0xDFFF for c in value)

    def ok(node: Any, depth: int) -> bool:
        if isinstance(node, str):
            return text(node)
        if isinstance(node, float):
            return math.isfinite(node)
        if isinstance(node, dict):
            keys = all(text(key) for key in node)
            return keys and depth <= max_depth and all(ok(v, depth + 1) for v in node.values())
        if isinstance(node, list):
            return depth <= max_depth and all(ok(v, depth + 1) for v in node)
        return True

    def count(node: Any) -> int:
        children = node.values() if isinstance(node, dict) else node
        if isinstance(node, (dict, list)):
            return 1 + sum(count(child) for child in children)
        return 1

    return ok(document, 1) and count(document) <= max_values


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=4),
    st.sampled_from(["\ud800", "é", "a\udfff", "\U0001f600"]),
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=3), st.just("k\ud800")), inner, max_size=4),
    ),
    max_leaves=60,
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(max_size=3), JSON, max_size=5))
def test_json_checks_agree_with_the_rules(document: dict[str, Any]) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_base, "METADATA_MAX_DEPTH", 4)
        patch.setattr(_base, "METADATA_MAX_VALUES", 30)
        try:
            _base._check_json(document)
            accepted = True
        except ValueError:
            accepted = False
    assert accepted == reference(document, 4, 30)
