"""The public namespace: complete, sorted, lazy."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import automatosx


def test_all_is_sorted_and_unique() -> None:
    assert automatosx.__all__ == sorted(set(automatosx.__all__))


@pytest.mark.parametrize("name", automatosx.__all__)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(automatosx, name) is not None


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        automatosx.Nope  # noqa: B018


def test_errors_share_one_base_with_the_core() -> None:
    assert issubclass(automatosx.InvalidTransitionError, automatosx.AutomatosxError)
    assert issubclass(automatosx.ProviderError, automatosx.AutomatosxError)
    assert automatosx.RouterOptions is automatosx.ProviderRouterOptions


def _modules_after(code: str) -> list[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return list(json.loads(out.stdout))


HEAVY = (
    "pydantic",
    "anthropic",
    "openai",
    "google",
    "httpx2",
    "aiosqlite",
    "genai_prices",
    "rich",
    "starlette",
    "uvicorn",
)


def test_import_loads_only_the_core() -> None:
    loaded = _modules_after("import automatosx")
    heavy = [m for m in loaded if m.split(".")[0] in HEAVY]
    assert heavy == []
    assert "automatosx._core" in loaded


def test_building_one_provider_imports_only_its_sdk() -> None:
    code = (
        "from automatosx.providers import create_provider\n"
        "create_provider({'name': 'openai', 'apiKey': 'sk-test-0123456789abcdef',"
        " 'rateLimits': {'requestsPerMinute': 10}, 'models': ['gpt-4o-mini'],"
        " 'defaultModel': 'gpt-4o-mini'})"
    )
    roots = {m.split(".")[0] for m in _modules_after(code)}
    assert "openai" in roots
    assert not roots & {"anthropic", "google", "genai_prices", "aiosqlite"}


def test_a_router_without_a_store_does_not_load_the_sqlite_backend() -> None:
    roots = set(_modules_after("import automatosx.router"))
    assert "aiosqlite" not in roots
    assert "automatosx.store.sqlite" not in roots


def test_the_type_checking_imports_name_exactly_the_lazy_table() -> None:
    # __all__ is written once (the lazy table and the core's names); the TYPE_CHECKING
    # imports are for type checkers and must name the same things from the same modules.
    import ast
    from pathlib import Path

    tree = ast.parse(Path(automatosx.__file__).read_text())
    imported: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom)
                for alias in stmt.names:
                    imported[alias.name] = stmt.module or ""
    assert imported == automatosx._LAZY
    assert set(automatosx._CORE) | set(imported) == set(automatosx.__all__)
