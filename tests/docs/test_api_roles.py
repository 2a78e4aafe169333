"""The API reference's one docstring style: Sphinx roles, turned into links by
scripts/docs_roles.py (a griffe extension) and refused in the built HTML by
scripts/check_docs_html.py (run by ``make docs``)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import griffe  # mkdocstrings' loader (the dev lock)
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_the_router_docstrings_roles_become_links_to_full_paths() -> None:
    roles = _script("docs_roles")
    package = griffe.load("automatosx", search_paths=[str(ROOT / "python")], allow_inspection=False)
    router = package["router"]["Router"]
    text = roles.rewrite(router, router.docstring.value)
    assert ":class:" not in text
    assert ":mod:" not in text
    assert '<autoref identifier="automatosx.schemas.RouterOptions" optional>' in text
    assert '<autoref identifier="automatosx.store.Store" optional><code>Store</code>' in text
    assert '<autoref identifier="automatosx.telemetry" optional>' in text


def test_role_forms() -> None:
    roles = _script("docs_roles")
    package = griffe.load("automatosx", search_paths=[str(ROOT / "python")], allow_inspection=False)
    sync = package["sync"]
    text = roles.rewrite(
        sync,
        ":meth:`Router.execute <automatosx.router.Router.execute>` and "
        ":func:`~automatosx.store.open_store` and :data:`FOO`",
    )
    assert (
        '<autoref identifier="automatosx.router.Router.execute" optional>'
        "<code>Router.execute</code></autoref>"
    ) in text
    assert "<code>open_store()</code>" in text
    assert '<autoref identifier="FOO" optional><code>FOO</code>' in text  # unknown: as code


def test_the_checker_fails_on_a_raw_role(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    check = _script("check_docs_html")
    (tmp_path / "ok.html").write_text("<p><a href='#x'><code>X</code></a></p>"
                                      "<pre>:class:`quoted in code`</pre>")  # fmt: skip
    assert check.main(["check", str(tmp_path)]) == 0
    (tmp_path / "bad.html").write_text("<p>a :class:<code>RouterOptions</code></p>")
    assert check.main(["check", str(tmp_path)]) == 1
    assert "bad.html: 1 raw role(s)" in capsys.readouterr().out
