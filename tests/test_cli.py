"""The ``automatosx`` command: real runs against the emulator and real database files."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest

from automatosx.cli import main
from automatosx.emulator import EmulatorServer

KEY_VARS = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY")


@pytest.fixture
def no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in KEY_VARS:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def emulated_claude(monkeypatch: pytest.MonkeyPatch, no_keys: None) -> Iterator[EmulatorServer]:
    with EmulatorServer() as server:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-key-0123456789")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.anthropic_base_url)
        yield server


def test_demo_routes_requests_and_prints_the_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "demo.db"
    assert main(["demo", "--requests", "40", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "per provider" in out
    assert "claude" in out
    with sqlite3.connect(db) as conn:
        states = dict(conn.execute("SELECT state, COUNT(*) FROM provider_requests GROUP BY state"))
    assert sum(states.values()) >= 41  # the streamed answer, the 40, and any trickle
    assert set(states) <= {"completed", "failed"}


def test_chat_without_keys_is_one_clear_line(
    no_keys: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["chat", "hello"]) == 2
    err = capsys.readouterr().err
    assert "ANTHROPIC_API_KEY" in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) <= 2


def test_chat_against_the_emulator_prints_the_reply_and_records_it(
    emulated_claude: EmulatorServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "chat.db"
    assert main(["chat", "hello there", "--provider", "claude", "--db", str(db)]) == 0
    captured = capsys.readouterr()
    assert "Emulated reply" in captured.out
    assert "claude/" in captured.err
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT state FROM provider_requests").fetchall() == [("completed",)]
    assert "sk-ant-test-key" not in db.read_bytes().decode("latin-1")


def test_chat_streams(emulated_claude: EmulatorServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["chat", "stream please", "--stream", "--system", "be brief"]) == 0
    assert "Emulated reply" in capsys.readouterr().out


def test_chat_with_an_unknown_provider_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["chat", "hi", "--provider", "mistral"])
    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_bad_database_directory_is_one_clear_line(
    emulated_claude: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["chat", "hi", "--db", "/nonexistent/dir/x.db"]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err
    assert "Traceback" not in err


def test_migrate_then_stats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "m.db"
    assert main(["migrate", "--db", str(db)]) == 0
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()[0] >= 1
    assert main(["stats", "--db", str(db)]) == 0
    assert "per provider" in capsys.readouterr().out


def test_stats_on_a_missing_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stats", "--db", str(tmp_path / "nope.db")]) == 2
    assert "no database" in capsys.readouterr().err


def test_health_reports_the_emulated_provider(
    emulated_claude: EmulatorServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "h.db"
    assert main(["health", "--db", str(db)]) == 0
    assert "healthy" in capsys.readouterr().out
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT provider, status FROM provider_health").fetchall() == [
            ("claude", "healthy")
        ]


def test_health_without_keys(no_keys: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["health"]) == 2
    assert "no provider keys" in capsys.readouterr().err


def test_console_script_help() -> None:
    exe = Path(sys.executable).with_name("automatosx")
    result = subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=True)
    for command in ("demo", "chat", "stats", "health", "migrate", "emulate"):
        assert command in result.stdout


def _recorded_db(path: Path) -> None:
    import asyncio

    from automatosx.schemas import ProviderResponse, TokenUsage
    from automatosx.store import AttemptRecord, RequestRecord, SQLiteStore

    rid = "11111111-1111-4111-8111-111111111111"

    async def record() -> None:
        async with SQLiteStore(path) as store:
            await store.save_request(
                RequestRecord(
                    rid,
                    "claude",
                    "m",
                    "[]",
                    None,
                    1.0,
                    False,
                    "completed",
                    0,
                    ["completed"],
                    1,
                    1,
                    None,
                )
            )
            for attempt, outcome, duration in ((1, "failure", 5), (2, "success", 80)):
                await store.save_attempt(
                    AttemptRecord(
                        rid, attempt, "claude", "m", outcome, None, None, None, duration, 1
                    )
                )
            await store.save_response(
                ProviderResponse(
                    request_id=rid,
                    provider="claude",
                    model="m",
                    content="x",
                    duration=80,
                    tokens=TokenUsage(input_tokens=2, output_tokens=3, total_tokens=5),
                    cost=0.5,
                )
            )

    asyncio.run(record())


def test_stats_json_prints_the_figures_of_the_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    db = tmp_path / "s.db"
    _recorded_db(db)
    assert main(["stats", "--db", str(db), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    [row] = document["providers"]
    assert (row["provider"], row["model"], row["attempts"], row["successes"]) == (
        "claude",
        "m",
        2,
        1,
    )
    assert (row["retries"], row["p50_ms"], row["total_tokens"], row["cost"]) == (1, 80, 5, 0.5)
    assert row["success_rate"] == 0.5
    assert document["requests_by_state"] == {"completed": 1}
    assert main(["stats", "--db", f"sqlite:///{db}"]) == 0  # a URL works too
    out = capsys.readouterr().out
    assert "claude" in out
    assert "completed 1" in out


def test_stats_reads_through_the_store_reader_of_any_scheme(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    import automatosx.store as store_module
    from automatosx.store import NullStore, ProviderSummary

    class CannedReader(NullStore):
        async def get_provider_summaries(self) -> list[ProviderSummary]:
            return [
                ProviderSummary("my-llm", "m1", 4, 3, 1, 2, 2, 0, 10.0, 20.0, 30.0, 1, 2, 3, 0.25)
            ]

        async def count_requests_by_state(self) -> dict[str, int]:
            return {"completed": 2}

    saved = dict(store_module._FACTORIES)
    store_module.register_store("canned", lambda url, **kw: CannedReader())
    try:
        assert main(["stats", "--db", "canned://user:pw@host/db", "--json"]) == 0
    finally:
        store_module._FACTORIES.clear()
        store_module._FACTORIES.update(saved)
    document = json.loads(capsys.readouterr().out)
    assert [(p["provider"], p["p99_ms"]) for p in document["providers"]] == [("my-llm", 30.0)]
    assert document["requests"] == 2


def test_migrate_with_a_url_does_not_print_its_secret_part(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["migrate", "--db", "mysql://root:hunter2@db/x"]) == 2
    err = capsys.readouterr().err
    assert "hunter2" not in err
    assert "unsupported store URL scheme" in err


T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
MINUTE = 60_000
# (provider, outcome, duration ms, minutes after T0): claude answers, fails, then answers
# again two minutes later; openai answers once in between.
CHARTED: list[tuple[str, Literal["success", "failure"], int, int]] = [
    ("claude", "success", 20, 0),
    ("claude", "success", 22, 0),
    ("claude", "failure", 5, 1),
    ("openai", "success", 40, 2),
    ("claude", "success", 400, 3),
]


def _charted_db(path: Path) -> None:
    import asyncio

    from automatosx.store import AttemptRecord, RequestRecord, SQLiteStore

    async def record() -> None:
        async with SQLiteStore(path) as store:
            for i, (provider, outcome, duration, minute) in enumerate(CHARTED):
                rid, at = f"r{i}", T0 + minute * MINUTE
                request = RequestRecord(rid, provider, "m", "[]", None, 1.0, False, "completed",
                                        0, [], at, at, None)  # fmt: skip
                await store.save_request(request)
                attempt = AttemptRecord(rid, 1, provider, "m", outcome, None, None, None,
                                        duration, at)  # fmt: skip
                await store.save_attempt(attempt)

    asyncio.run(record())


def test_stats_draws_the_latency_histograms_and_the_success_strips(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "charts.db"
    _charted_db(db)
    assert main(["stats", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "\x1b[" not in out  # not a terminal: no colour
    lines = [" ".join(line.split()) for line in out.splitlines()]
    assert "latency of successful attempts (ms)" in lines
    assert "claude · 3 ok · p50 22 · p95 362 · p99 392" in lines
    assert "openai · 1 ok · p50 40 · p95 40 · p99 40" in lines
    assert "0-27 " + "█" * 40 + " 2" in lines  # claude's 20 and 22 ms: the tallest bar
    # 37 cells of 5 s over the three minutes: ok at 0:00, failed at 1:00, ok at 3:00
    assert "claude █" + "·" * 11 + "▁" + "·" * 23 + "█ 4 75.0%" in lines
    assert "openai " + "·" * 24 + "█" + "·" * 12 + " 1 100.0%" in lines
    assert any(line.startswith("one cell = 5 s from 2026-01-01 00:00:00 UTC") for line in lines)


def test_stats_json_carries_the_histogram_buckets_and_the_success_series(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    db = tmp_path / "charts.db"
    _charted_db(db)
    assert main(["stats", "--db", str(db), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    claude, openai = document["latency"]
    assert (claude["provider"], claude["count"], claude["p50_ms"]) == ("claude", 3, 22)
    assert claude["buckets"][0] == {"lower_ms": 0, "upper_ms": 27, "count": 2}
    assert claude["buckets"][-1]["upper_ms"] is None
    assert sum(b["count"] for b in claude["buckets"]) == 3
    assert [b["count"] for b in openai["buckets"]] == [
        1 if b["lower_ms"] <= 40 < (b["upper_ms"] or 10**9) else 0 for b in openai["buckets"]
    ]
    series = {s["provider"]: s for s in document["success_series"]}
    assert {s["bucket_ms"] for s in series.values()} == {5_000}
    busy = {
        name: [(p["start_ms"], p["successes"], p["failures"]) for p in s["points"]
               if p["successes"] or p["failures"]]
        for name, s in series.items()
    }  # fmt: skip
    assert busy == {
        "claude": [(T0, 2, 0), (T0 + MINUTE, 0, 1), (T0 + 3 * MINUTE, 1, 0)],
        "openai": [(T0 + 2 * MINUTE, 1, 0)],
    }
    assert len(series["claude"]["points"]) == len(series["openai"]["points"]) == 37


def _two_deployments_db(path: Path) -> None:
    """openai-eu and openai-us (kind openai) each answered once; claude failed once."""
    import asyncio

    from automatosx.store import AttemptRecord, RequestRecord, SQLiteStore

    rows = [("openai-eu", "openai", "success", 10), ("openai-us", "openai", "success", 30),
            ("claude", "claude", "failure", 5)]  # fmt: skip

    async def record() -> None:
        async with SQLiteStore(path) as store:
            for i, (provider, kind, outcome, duration) in enumerate(rows):
                rid, at = f"k{i}", T0 + i
                request = RequestRecord(rid, provider, "m", "[]", None, 1.0, False, "completed",
                                        0, [], at, at, None)  # fmt: skip
                await store.save_request(request)
                attempt = AttemptRecord(rid, 1, provider, "m", outcome, None, None, None,
                                        duration, at, kind)  # fmt: skip
                await store.save_attempt(attempt)

    asyncio.run(record())


def test_stats_by_kind_adds_up_the_deployments_of_each_kind(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "kinds.db"
    _two_deployments_db(db)
    assert main(["stats", "--db", str(db), "--by-kind"]) == 0
    lines = [" ".join(line.split()) for line in capsys.readouterr().out.splitlines()]
    assert "per provider kind" in lines
    assert any(line.startswith("kind model tries ok") for line in lines)
    assert any(line.startswith("openai m 2 100.0% 20 ") for line in lines)
    assert any(line.startswith("claude m 1 0.0% ") for line in lines)
    assert not any(line.startswith(("openai-eu m", "openai-us m")) for line in lines)
    assert main(["stats", "--db", str(db)]) == 0  # the default stays per deployment
    lines = [" ".join(line.split()) for line in capsys.readouterr().out.splitlines()]
    assert "per provider" in lines
    assert any(line.startswith("openai-eu m 1 100.0% 10 ") for line in lines)
    assert any(line.startswith("openai-us m 1 100.0% 30 ") for line in lines)


def test_stats_json_by_kind_says_so_and_groups_the_rows_by_kind(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    db = tmp_path / "kinds.db"
    _two_deployments_db(db)
    assert main(["stats", "--db", str(db), "--json", "--by-kind"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["grouped_by"] == "kind"
    assert [(p["provider"], p["attempts"], p["successes"]) for p in document["providers"]] == [
        ("claude", 1, 0),
        ("openai", 2, 2),
    ]
    assert {s["provider"] for s in document["success_series"]} == {
        "claude",
        "openai-eu",
        "openai-us",
    }  # the charts stay per deployment
    assert main(["stats", "--db", str(db), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["grouped_by"] == "deployment"
    assert [p["provider"] for p in document["providers"]] == ["claude", "openai-eu", "openai-us"]
