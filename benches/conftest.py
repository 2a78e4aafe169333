"""Benchmark collection, a fresh event loop per benchmark, and the budget summary.

Benchmark modules are ``bench_*.py`` (collected here, so ``pytest benches`` finds them
without changing the test suite's ``python_files``). Each benchmark calls
``_budget.report(...)``; the PASS/MISS lines are printed once, at the end of the session.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

if importlib.util.find_spec("automatosx") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

import _budget


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Module | None:
    # A file named on the command line is collected by pytest itself: don't add it twice.
    if parent.session.isinitpath(file_path):
        return None
    if file_path.suffix == ".py" and file_path.name.startswith("bench_"):
        module: pytest.Module = pytest.Module.from_parent(parent, path=file_path)
        return module
    return None


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """A fresh event loop, driven by hand: pytest-benchmark fixtures are synchronous."""
    loop = asyncio.new_event_loop()
    try:
        yield loop
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _budget.RESULTS:
        return
    terminalreporter.section("budgets (medians unless marked p99; reported, never asserted)")
    for line in _budget.summary():
        terminalreporter.write_line(line)
