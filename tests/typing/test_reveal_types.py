"""What mypy --strict infers for users' code: ``execute(request, response_model=T)`` is a
``ParsedResponse[T]`` whose ``parsed`` is a ``T``, for models, lists, dataclasses and
TypedDicts; without ``response_model`` it is a plain ``ProviderResponse``; tool calls are a
list. Runs mypy in a subprocess on a small file, as a user's CI would."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SAMPLE = """
import dataclasses
from typing import TypedDict

from pydantic import BaseModel

from automatosx import Router, SyncRouter


class Item(BaseModel):
    name: str


@dataclasses.dataclass
class Point:
    x: float


class Person(TypedDict):
    name: str


async def main(router: Router) -> None:
    request = {"messages": [{"role": "user", "content": "hi"}]}
    plain = await router.execute(request)
    reveal_type(plain)
    reveal_type(plain.tool_calls)
    one = await router.execute(request, response_model=Item)
    reveal_type(one)
    reveal_type(one.parsed)
    many = await router.execute(request, response_model=list[Item])
    reveal_type(many.parsed)
    point = await router.execute(request, response_model=Point)
    reveal_type(point.parsed)
    person = await router.execute(request, response_model=Person)
    reveal_type(person.parsed)
    reveal_type(one.to_message())


def sync(router: SyncRouter) -> None:
    reveal_type(router.execute({"messages": []}, response_model=Item).parsed)
"""

EXPECTED = [
    "automatosx.schemas.ProviderResponse",
    "list[automatosx.schemas.ToolCall]",
    "automatosx._output.ParsedResponse[sample.Item]",
    "sample.Item",
    "list[sample.Item]",
    "sample.Point",
    "TypedDict(sample.Person, {'name': str})",
    "automatosx.schemas.Message",
    "sample.Item",
]


def test_mypy_infers_the_parsed_type(tmp_path: Path) -> None:
    pytest.importorskip("mypy", reason="mypy is a dev dependency: make test installs it")
    (tmp_path / "sample.py").write_text(SAMPLE)
    env = {**os.environ, "MYPYPATH": str(ROOT / "python")}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            "--follow-imports=silent",
            "--python-version=3.11",
            "--config-file=/dev/null",
            "sample.py",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    revealed = re.findall(r'Revealed type is "(.*)"', result.stdout)
    assert revealed == EXPECTED, result.stdout + result.stderr
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert errors == [], result.stdout
