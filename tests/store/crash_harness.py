"""Runs ``crash_worker.py`` against an emulator, SIGKILLs it, and says what it acknowledged.

``run_and_kill`` starts the worker, waits (on its output, not on a clock) until it has
acknowledged ``acks`` requests (with ``block``: until its loop then stops yielding, plus
``kill_after_block_s`` into that block), SIGKILLs it, and returns every id it sent and
acknowledged.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

WORKER = Path(__file__).with_name("crash_worker.py")


@dataclass
class Crash:
    sent: list[str] = field(default_factory=list)
    acked: list[str] = field(default_factory=list)


def run_and_kill(
    store_url: str,
    base_url: str,
    *,
    acks: int,
    in_flight: int,
    busy_ms: float,
    block: bool = False,
    kill_after_block_s: float = 1.0,
    durability: str = "",
    pythonpath: str | None = None,
    timeout_s: float = 240,
) -> Crash:
    env = {**os.environ, "PYTHONPATH": pythonpath or os.pathsep.join(sys.path)}
    args = [sys.executable, str(WORKER), store_url, base_url, str(in_flight), str(busy_ms)]
    args.append(str(acks if block else 0))
    proc = subprocess.Popen(
        [*args, durability], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    crash = Crash()
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            kind, _, rid = line.strip().partition(" ")
            if kind == "sent":
                crash.sent.append(rid)
            elif kind == "ack":
                crash.acked.append(rid)
                if len(crash.acked) >= acks and not block:
                    break
            elif kind == "busy":  # the loop stopped yielding: kill it in the middle of that
                time.sleep(kill_after_block_s)
                break
        else:
            raise AssertionError(f"the worker ended early: {proc.stderr.read()[-3000:]}")  # type: ignore[union-attr]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout_s)
        if proc.stdout is not None:
            for line in proc.stdout:  # what it wrote before the kill and was not read yet
                kind, _, rid = line.strip().partition(" ")
                if kind == "sent":
                    crash.sent.append(rid)
                elif kind == "ack":
                    crash.acked.append(rid)
            proc.stdout.close()
        if proc.stderr is not None:
            proc.stderr.close()
    return crash
