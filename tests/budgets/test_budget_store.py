"""The budgets' tables in both dialects (sqlite 006, postgresql 005), applied by the store's
migrations: definitions stored, spend per attempt (reserved and charged) added up per budget,
scope value and window by the trigger, read back for resuming and for ``automatosx budgets``
(text with a bar, and ``--json``) from the database alone."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import _servers
from automatosx.budgets import parse_budgets
from automatosx.budgets._gate import Budgets, Reservation
from automatosx.budgets._sql import connect, definition_row, resume_rows, spend_row
from automatosx.budgets._status import read_status, render_json, render_text
from automatosx.cli import main
from automatosx.pricing import Rates
from automatosx.schemas import ProviderRequest, TokenUsage
from automatosx.store import open_store

NOW = 1_796_000_000.0  # 2026-11-30 (UTC), mid-day
DAY = int(NOW // 86_400 * 86_400)
RATES = Rates(1e-6, 4e-6)
ENTRIES = [
    {"id": "daily", "limitUsd": 0.0003, "window": "day", "per": ["user"]},
    {"id": "tokens", "limitTokens": 1_000_000, "window": "month", "onExceeded": "fallback"},
]


@pytest.fixture(params=["sqlite", "postgresql"])
async def url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'b.db'}"
    else:
        server = request.getfixturevalue("postgres_server")
        yield _servers.create_database(server)


def req(user: str) -> ProviderRequest:
    return ProviderRequest.model_validate(
        {"messages": [{"role": "user", "content": "hi"}], "maxTokens": 10, "user": user}
    )


async def spend(url: str, users: list[str]) -> Budgets:
    """A ledger with a store: each user's attempt reserved, then settled, recorded."""
    specs = parse_budgets(ENTRIES)
    gate = Budgets(specs, clock=lambda: NOW)
    gate.recording = True
    for i, user in enumerate(users):
        res = gate.reserve(req(user), "openai", "openai", "m", RATES, attempt=1)
        assert isinstance(res, Reservation)
        if i % 3 == 2:
            gate.release(res)  # failed before any byte: a row charged 0
        else:
            gate.settle(res, TokenUsage(input_tokens=5, output_tokens=10))
    async with open_store(url) as store:  # applies the migrations; writes behind, flushed
        await store.save_budget_definitions([definition_row(s) for s in specs])
        await store.save_budget_spend([spend_row(r) for r in gate.drain_records()])
    return gate


async def test_spend_is_recorded_per_attempt_and_added_up_per_scope(url: str) -> None:
    await spend(url, ["alice", "bob", "alice", "alice"])
    db = await connect(url)
    try:
        rows = await db.read(
            "SELECT budget_id, scope, reserved_nusd, charged_nusd, charged_tokens "
            "FROM budget_spend ORDER BY id"
        )
        specs = parse_budgets(ENTRIES)
        resumed = sorted(await resume_rows(db, specs, NOW))
    finally:
        await db.close()
    charge = 5 * 1000 + 10 * 4000  # nano-dollars of 5 in + 10 out (reserved: 9 in + 10 out)
    assert len(rows) == 8  # 4 attempts x 2 budgets
    daily = [r for r in rows if r[0] == "daily"]
    assert [r[1] for r in daily] == ["user=alice", "user=bob", "user=alice", "user=alice"]
    assert all(r[2] > r[3] for r in daily)  # reserved the maximum, charged less
    assert [r[3] for r in daily] == [charge, charge, 0, charge]
    month = int(parse_budgets(ENTRIES)[1].window.bounds(NOW)[0])
    assert resumed == [
        ("daily", "user=alice", DAY, 2 * charge, 0),
        ("daily", "user=bob", DAY, charge, 0),
        ("tokens", "*", month, 0, 45),
    ]


async def test_a_new_ledger_resumes_the_windows_spend(url: str) -> None:
    await spend(url, ["alice"] * 4)
    specs = parse_budgets(ENTRIES)
    async with open_store(url) as store:  # what a router opening reads (Store.read)
        rows = await resume_rows(store, specs, NOW)
    fresh = Budgets(specs, clock=lambda: NOW)
    fresh.resume(rows)
    res = fresh.reserve(req("alice"), "openai", "openai", "m", RATES)
    assert isinstance(res, Reservation)
    assert res.claims[0][0].spent == 3 * (5 * 1000 + 10 * 4000)


async def test_the_status_reads_every_budget_and_scope_from_the_database(url: str) -> None:
    await spend(url, ["alice", "bob"])
    statuses = await read_status(url, now=NOW)
    assert [(s.budget_id, s.scope) for s in statuses] == [
        ("daily", "user=alice"),
        ("daily", "user=bob"),
        ("tokens", "*"),
    ]
    alice = statuses[0]
    assert alice.spent_usd == pytest.approx(0.000045)
    assert alice.limit_usd == 0.0003
    assert alice.window == "day"
    assert alice.resets_at == DAY + 86_400
    assert alice.used == pytest.approx(0.15)
    text = render_text(statuses)
    assert "daily  user=alice  (day, resets 2026-12-01 00:00 UTC)" in text
    assert "[###.................]  15.0%  $0.000045 / $0.000300" in text
    assert max(len(line) for line in text.splitlines()) <= 80
    doc = json.loads(render_json(statuses))
    assert doc["budgets"][2]["spent_tokens"] == 30
    assert doc["budgets"][2]["on_exceeded"] == "fallback"


def test_the_cli_prints_budgets_from_a_sqlite_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "b.db"
    asyncio.run(spend(f"sqlite:///{db}", ["alice"]))
    capsys.readouterr()
    assert main(["budgets", "--db", str(db), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {b["budget_id"] for b in doc["budgets"]} == {"daily", "tokens"}
    assert main(["budgets", "--db", str(db)]) == 0
    assert "daily" in capsys.readouterr().out
    assert main(["budgets", "--db", str(tmp_path / "nope.db")]) == 2


async def test_the_latest_definition_of_a_budget_counts(url: str) -> None:
    await spend(url, ["alice"])
    raised = parse_budgets([{**ENTRIES[0], "limitUsd": 0.0009}])
    async with open_store(url) as store:
        await store.save_budget_definitions([definition_row(s) for s in raised])
    statuses = await read_status(url, now=NOW)
    assert {s.budget_id: s.limit_usd for s in statuses} == {"daily": 0.0009, "tokens": None}
