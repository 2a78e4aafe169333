"""``automatosx stats`` and the demo's table at 80 and 120 columns, in a terminal and in a
pipe: a figure is never cut (narrow layouts leave columns out, then stack), a pipe gets every
column in full unless ``COLUMNS`` says otherwise."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from automatosx._report import DROPPED_FIRST

from ._term import run_in_pty, run_piped

HEADERS = ("provider", "model", "tries", "ok", "p50 ms", "p95 ms", "p99 ms", "tokens", "cost $",
           "retries", "fallbacks")  # fmt: skip


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The real demo, its output to a pipe (a log): the database and the log."""
    db = tmp_path_factory.mktemp("stats") / "demo.db"
    result = run_piped(["demo", "--requests", "60", "--db", str(db)], timeout=120)
    assert result.returncode == 0, result.stderr
    return db, result.stdout


@pytest.fixture(scope="module")
def figures(demo_run: tuple[Path, str]) -> list[dict[str, str]]:
    """Each provider row's figures as the table formats them, from ``stats --json``."""
    result = run_piped(["stats", "--db", str(demo_run[0]), "--json"])
    assert result.returncode == 0, result.stderr
    rows: list[dict[str, Any]] = json.loads(result.stdout)["providers"]

    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v:.0f}"

    return [
        {
            "provider": r["provider"],
            "model": r["model"],
            "tries": str(r["attempts"]),
            "ok": "-" if r["success_rate"] is None else f"{r['success_rate']:.1%}",
            "p50 ms": ms(r["p50_ms"]),
            "p95 ms": ms(r["p95_ms"]),
            "p99 ms": ms(r["p99_ms"]),
            "tokens": f"{r['total_tokens']:,}",
            "cost $": f"{r['cost']:.4f}",
            "retries": str(r["retries"]),
            "fallbacks": str(r["fallbacks"]),
        }
        for r in rows
    ]


def _table_rows(lines: list[str], figures: list[dict[str, str]]) -> dict[str, list[str]]:
    """Each provider's table row, split into cells."""
    found = {}
    for fig in figures:
        [row] = [ln for ln in lines if ln.split()[:2] == [fig["provider"], fig["model"]]]
        found[fig["provider"]] = row.split()
    return found


def _header(lines: list[str]) -> str:
    return next(" ".join(ln.split()) for ln in lines if ln.split()[:2] == ["provider", "model"])


def _assert_whole(lines: list[str], figures: list[dict[str, str]], columns: tuple[str, ...]):
    assert not any("…" in ln for ln in lines)
    assert _header(lines) == " ".join(columns)
    rows = _table_rows(lines, figures)
    for fig in figures:
        cells = rows[fig["provider"]]
        assert cells == [fig[c] for c in columns]


def _narrowed(columns_left_out: int) -> tuple[str, ...]:
    out = set(DROPPED_FIRST[:columns_left_out])
    return tuple(h for h in HEADERS if h not in out)


def test_the_demo_log_shows_every_figure_in_full(
    demo_run: tuple[Path, str], figures: list[dict[str, str]]
) -> None:
    lines = demo_run[1].splitlines()
    _assert_whole(lines, figures, HEADERS)


def test_a_pipe_gets_every_column_in_full(
    demo_run: tuple[Path, str], figures: list[dict[str, str]]
) -> None:
    result = run_piped(["stats", "--db", str(demo_run[0])])
    assert result.returncode == 0, result.stderr
    _assert_whole(result.stdout.splitlines(), figures, HEADERS)


@pytest.mark.parametrize("columns", [80, 60])
def test_a_pipe_honours_columns(
    demo_run: tuple[Path, str], figures: list[dict[str, str]], columns: int
) -> None:
    result = run_piped(["stats", "--db", str(demo_run[0])], {"COLUMNS": str(columns)})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    table = lines[: next(i for i, ln in enumerate(lines) if ln.startswith("latency"))]
    assert max(len(ln) for ln in table) <= columns
    header = _header(lines)
    left_out = sum(1 for h in DROPPED_FIRST if f" {h}" not in f" {header} ")
    assert left_out >= 1
    _assert_whole(lines, figures, _narrowed(left_out))
    assert "left out; see --json" in " ".join(result.stdout.split())  # the caption says so


@pytest.mark.parametrize("columns", [80, 120])
def test_a_terminal_table_fits_and_cuts_no_figure(
    demo_run: tuple[Path, str], figures: list[dict[str, str]], columns: int
) -> None:
    run = run_in_pty(["stats", "--db", str(demo_run[0])], columns)
    assert run.returncode == 0, run.raw
    assert all(len(row) <= columns for row in run.screen)
    header = _header(run.screen)
    left_out = sum(1 for h in DROPPED_FIRST if f" {h}" not in f" {header} ")
    if columns == 120:
        assert left_out == 0
    else:
        assert left_out >= 1
    _assert_whole(run.screen, figures, _narrowed(left_out))
    strips = [r for r in run.screen if r.strip().startswith("claude ") and "█" in r]
    assert strips  # the success strip is drawn too
    assert all(r.rstrip().endswith(f" {figures[0]['ok']}") for r in strips[-1:])


def test_a_very_narrow_terminal_stacks_each_row(
    demo_run: tuple[Path, str], figures: list[dict[str, str]]
) -> None:
    run = run_in_pty(["stats", "--db", str(demo_run[0])], 40)
    assert run.returncode == 0, run.raw
    lines = [" ".join(row.split()) for row in run.screen]
    for fig in figures:
        start = lines.index(f"provider {fig['provider']}")
        block = lines[start + 1 : start + len(HEADERS)]
        assert block == [f"{h} {fig[h]}" for h in HEADERS[1:]]
