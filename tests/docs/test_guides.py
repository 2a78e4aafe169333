"""Every ```python block of the guides (docs/guides/*.md) and of docs/index.md runs.

The convention the pages document (docs/index.md, "How the code blocks on this site run"):

* a page's blocks run in order in one namespace, like a notebook's cells;
* a block that needs an emulator reads its address from ``AUTOMATOSX_EMULATOR_URL``
  (default ``http://127.0.0.1:8765``, where ``automatosx emulate`` listens); this test serves
  one on loopback and sets the variable, so a block runs here exactly as a reader sees it;
* blocks run in a scratch directory (they may write ``requests.db``);
* a block right after a ``<!-- skip-test: reason -->`` line is not run. It is for blocks that
  need a real cloud key only, and there may be at most ``MAX_SKIPPED`` of them.

Every guide must also be in mkdocs.yml's nav (mkdocs --strict would only warn about it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from automatosx.emulator import EmulatorServer, Scenario

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = [DOCS / "index.md", *sorted((DOCS / "guides").glob("*.md"))]
SKIP_MARK = "<!-- skip-test:"
MAX_SKIPPED = 2
_FENCE = re.compile(r"^(?P<indent> *)```(?P<info>[^\n`]*)$")


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # 1-based line of the block's first code line
    info: str  # the fence's info string, e.g. "python"
    code: str
    skipped: bool

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    """The fenced code blocks of a page, with the line they start on."""
    found: list[Block] = []
    lines = page.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        info, indent = opening["info"].strip(), len(opening["indent"])
        skipped = i > 0 and lines[i - 1].strip().startswith(SKIP_MARK)
        start = i + 1
        i = start
        while i < len(lines) and lines[i].strip() != "```":
            i += 1
        code = "\n".join(line[indent:] for line in lines[start:i])
        found.append(Block(page, start + 1, info, code + "\n", skipped))
        i += 1
    return found


def python_blocks(page: Path) -> list[Block]:
    return [b for b in blocks(page) if b.info == "python"]


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(Scenario()) as server:
        yield server


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_every_python_block_of_the_page_runs(
    page: Path,
    emulator: EmulatorServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emulator.app.state.scenario = Scenario()
    monkeypatch.setenv("AUTOMATOSX_EMULATOR_URL", emulator.base_url)
    monkeypatch.chdir(tmp_path)
    runnable = [b for b in python_blocks(page) if not b.skipped]
    assert runnable, f"{page.name} has no runnable python block"
    namespace: dict[str, Any] = {"__name__": f"docs_{page.stem}"}
    for block in runnable:
        # Compiled with its page and line as the file name: a failure points at the block.
        code = compile("\n" * (block.line - 1) + block.code, str(block.page), "exec")
        exec(code, namespace)  # running the documentation is the point


def test_only_a_few_blocks_are_skipped_and_each_says_why() -> None:
    skipped = [b for page in PAGES for b in python_blocks(page) if b.skipped]
    assert len(skipped) <= MAX_SKIPPED, [b.where for b in skipped]
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for mark in re.findall(r"<!-- skip-test:(.*?)-->", text):
            assert "key" in mark, f"{page.name}: skip-test must give its reason (a cloud key)"


def test_every_guide_is_in_the_nav() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))

    def paths(node: Any) -> Iterator[str]:
        if isinstance(node, str):
            yield node
        elif isinstance(node, list):
            for item in node:
                yield from paths(item)
        elif isinstance(node, dict):
            for value in node.values():
                yield from paths(value)

    in_nav = set(paths(config["nav"]))
    pages = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")}
    assert pages - in_nav == set(), "pages missing from mkdocs.yml's nav"
    assert in_nav - pages == set(), "nav entries without a page"


def test_the_block_extractor_finds_fences_lines_and_skip_marks(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    page.write_text(
        "# T\n\n```python\nx = 1\n```\n\n<!-- skip-test: needs a real key -->\n"
        "```python\ncloud()\n```\n\n```sh\nls\n```\n",
        encoding="utf-8",
    )
    found = blocks(page)
    assert [(b.info, b.line, b.code, b.skipped) for b in found] == [
        ("python", 4, "x = 1\n", False),
        ("python", 9, "cloud()\n", True),
        ("sh", 13, "ls\n", False),
    ]
