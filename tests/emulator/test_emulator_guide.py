"""The emulator guide documents what the code does (issue 22, item 4): its fault table lists
every `Fault` field, and the rules it states for tools and prompt caching are the code's."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from automatosx.emulator import Fault
from automatosx.emulator._prompt_cache import (
    DEFAULT_TTL_S,
    MIN_TOKENS_ANTHROPIC_HAIKU,
    MIN_TOKENS_AUTOMATIC,
    MIN_TOKENS_GEMINI_PRO,
    OPENAI_STEP,
)

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "guides" / "emulator.md"


def fault_table() -> str:
    text = GUIDE.read_text(encoding="utf-8")
    start = text.index("| `Rule` / `Fault` field | effect |")
    end = text.index("\n\n", start)
    return text[start:end]


def test_the_fault_table_lists_every_fault_field() -> None:
    rows = fault_table().splitlines()[2:]
    documented = {name for row in rows for name in re.findall(r"`(\w+)`", row.split("|")[1])}
    fields = {f.name for f in dataclasses.fields(Fault)}
    assert fields - documented == set(), "add these Fault fields to the guide's table"
    assert documented - fields == set(), "the guide's table names fields Fault does not have"


def test_the_guide_states_the_caching_values_the_code_uses() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    section = text[text.index("## Prompt caching") :]
    for figure in (MIN_TOKENS_AUTOMATIC, MIN_TOKENS_ANTHROPIC_HAIKU, MIN_TOKENS_GEMINI_PRO):
        assert f"{figure:,}" in section
    assert f"{OPENAI_STEP}" in section
    assert f"{DEFAULT_TTL_S:.0f} s" in section


def test_the_guide_states_the_auto_tool_choice_rule() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    assert "only when the last user message\n  names a declared tool" in text
