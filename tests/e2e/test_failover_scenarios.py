"""The 16 failoverbench scenarios (``benches/failover_scenarios.py``) as a test: every one must
be rescued (``pass`` or ``partial``). A scenario that degrades to merely ``safe`` (a clean
error where the caller should have had its answer) fails here, as does a hang or a truncated
success."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benches" / "failover_scenarios.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("failover_scenarios", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(600)
async def test_every_failover_scenario_is_rescued() -> None:
    bench = _load()
    rows = await bench.run_all()
    assert len(rows) == 16
    missed = [
        f"{case.id} {case.title}: {result} {notes} ({bench.detail(run)})"
        for case, result, notes, run in rows
        if result not in bench.RESCUED
    ]
    assert missed == [], "not rescued:\n" + "\n".join(missed)
