"""The write-behind loss window under CPU load, measured the hard way: a router process whose
event loop rarely yields (a task burns the CPU 100 ms between yields) records requests into
SQLite, 256 at a time through an in-process adapter (``benches/_stub.py``: as fast as a
provider can answer), and is SIGKILLed once it has acknowledged 760 of them; then every
acknowledged request is looked for in the file, in its final state, as the next process
sees it (its store replays what the dead one spooled, ``_spool.py``, and finalises what it
left open).

Before the writer was a thread, commits waited for a loop that rarely came round: this run
lost 32 rows and left 217 more ``requesting`` (249 of 760 acknowledged requests not recorded
as they ended; the issue's probe: 116 of 758 lost). The goal: at most 50, with
``max_lag_requests=32`` (the default, 256, trades a wider window for throughput)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

from crash_harness import run_and_kill

from automatosx.store import SQLiteStore

ACKS = 760


async def stored(path: Path) -> dict[str, str]:
    """The rows as the next process sees them: its store opens first (replaying what the
    dead one spooled, finalising what it left open), then the file is read."""
    async with SQLiteStore(path):
        pass
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT id, state FROM provider_requests").fetchall()
    conn.close()
    return {str(rid): str(state) for rid, state in rows}


def test_a_busy_loop_sigkilled_loses_at_most_fifty_acknowledged_requests(
    tmp_path: Path,
) -> None:
    db = tmp_path / "crash.db"
    crash = run_and_kill(
        f"sqlite:///{db}",
        "stub",
        acks=ACKS,
        in_flight=256,
        busy_ms=100,
        durability=json.dumps({"max_lag_requests": 32}),
    )
    rows = asyncio.run(stored(db))
    missing = [rid for rid in crash.acked if rid not in rows]
    unfinished = [rid for rid in crash.acked if rows.get(rid, "completed") != "completed"]
    assert len(crash.acked) >= ACKS
    assert len(missing) + len(unfinished) <= 50, (
        f"of {len(crash.acked)} acknowledged: {len(missing)} missing,"
        f" {len(unfinished)} not in their final state"
    )
