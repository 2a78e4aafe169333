"""Four router processes saturating one shared RPM limit: the fleet admits the limit (within
5% over an 8 s window, after the start-up burst), and every process gets a fair share.

The processes are real (``subprocess``), each with its own router, SDK and Redis connections,
all sending to the emulator served on loopback by this test process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from automatosx.emulator import EmulatorServer

WORKER = Path(__file__).with_name("_fleet_worker.py")
PROCESSES, CONCURRENCY = 4, 4
RPM = 1_200  # 20 requests a second for the fleet
WARMUP_S, WINDOW_S = 2.0, 8.0


def test_four_processes_share_one_rpm_limit_fairly(
    emulator: EmulatorServer, redis_url: str, prefix: str
) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    args = [redis_url, prefix, emulator.openai_base_url, str(RPM), str(CONCURRENCY)]
    workers = [
        subprocess.Popen(
            [sys.executable, str(WORKER), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(PROCESSES)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            line = worker.stdout.readline()
            assert line.strip() == "ready", worker.communicate(timeout=30)[1][-2000:]
        start = time.time() + 0.5
        stop = start + WARMUP_S + WINDOW_S
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write(f"{start} {stop}\n")
            worker.stdin.flush()
        outputs = [w.communicate(timeout=60) for w in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.communicate(timeout=30)
    results = []
    for (out, err), worker in zip(outputs, workers, strict=True):
        assert worker.returncode == 0, err[-2000:]
        results.append(json.loads(out.strip().splitlines()[-1]))

    assert [r["errors"] for r in results] == [[]] * PROCESSES
    lo, hi = start + WARMUP_S, start + WARMUP_S + WINDOW_S
    per_process = [sum(lo <= t < hi for t in r["answered"]) for r in results]
    expected = RPM / 60 * WINDOW_S
    fleet = sum(per_process)
    assert abs(fleet - expected) <= 0.05 * expected, (fleet, expected, per_process)
    fair = expected / PROCESSES
    assert min(per_process) >= 0.6 * fair, per_process
    assert max(per_process) <= 1.4 * fair, per_process
