"""Where the recorded real traffic (`shared/conformance`) lives, if it is here at all."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CONFORMANCE_ENV", "conformance_dir", "conformance_files"]

CONFORMANCE_ENV = "AUTOMATOSX_CONFORMANCE_DIR"


def conformance_dir() -> Path | None:
    """The conformance directory: `$AUTOMATOSX_CONFORMANCE_DIR` if set, else
    `../shared/conformance` next to the repository (found from this file, then from the
    working directory). None when there is none; tests should skip then."""
    override = os.environ.get(CONFORMANCE_ENV)
    if override:
        path = Path(override).expanduser()
        return path if path.is_dir() else None
    repo_root = Path(__file__).resolve().parents[3]
    for root in (repo_root, Path.cwd(), *Path.cwd().parents):
        candidate = root.parent / "shared" / "conformance"
        if candidate.is_dir():
            return candidate
    return None


def conformance_files(provider: str | None = None) -> list[Path]:
    """Every recording (`*.yaml`, `*.sse.txt`) under the conformance directory, sorted;
    only `provider`'s subdirectory ("anthropic", "openai", "gemini") when given."""
    root = conformance_dir()
    if root is None:
        return []
    base = root / provider if provider else root
    return sorted(
        p for p in base.rglob("*") if p.is_file() and p.name.endswith((".yaml", ".sse.txt"))
    )
