"""Module-level pieces of the extension: clock, exports."""

from __future__ import annotations

import ast
from pathlib import Path

import automatosx._core as core
from automatosx._core import AutomatosxError, monotonic_ms


def test_monotonic_clock_never_goes_back() -> None:
    readings = [monotonic_ms() for _ in range(1_000)]
    assert readings == sorted(readings)
    assert readings[0] >= 0


def test_the_core_has_no_table_of_retryable_codes() -> None:
    # The router's policy decides retries; the machine only checks invariants.
    assert not hasattr(core, "is_retryable_code")


def test_base_error_is_an_exception() -> None:
    assert issubclass(AutomatosxError, Exception)


def test_public_names_match_the_stubs_all() -> None:
    stub = ast.parse(Path(core.__file__).with_name("_core.pyi").read_text())
    declared = next(
        node.value
        for node in stub.body
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
    )
    stub_all = ast.literal_eval(declared)
    assert stub_all == sorted(stub_all)
    assert {name for name in dir(core) if not name.startswith("_")} == set(stub_all)
