"""The schemas reference page lists its members by name (``automatosx.schemas`` is a package
that re-exports them from private modules, and mkdocstrings renders such names only when
listed): every public model of the package must be on that list, and nothing stale."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

import automatosx.schemas as schemas

PAGE = Path(__file__).resolve().parents[2] / "docs" / "reference" / "schemas.md"


def listed_members() -> list[str]:
    return re.findall(r"^ {8}- (\w+)$", PAGE.read_text(), re.M)


def test_every_public_model_is_on_the_reference_page() -> None:
    listed = listed_members()
    models = {
        name
        for name, value in vars(schemas).items()
        if not name.startswith("_") and isinstance(value, type) and issubclass(value, BaseModel)
    }
    assert len(models) > 20  # the scan sees the package
    # RouterOptions is ProviderRouterOptions under its short name: documented once
    unlisted = sorted(n for n in models if n not in listed and getattr(schemas, n).__name__ == n)
    assert unlisted == [], f"add these to the members of {PAGE.name}: {unlisted}"
    stale = sorted(n for n in listed if not hasattr(schemas, n))
    assert stale == [], f"{PAGE.name} lists names automatosx.schemas does not have: {stale}"
    assert len(listed) == len(set(listed))
