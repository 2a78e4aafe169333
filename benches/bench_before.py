"""The routed hot path against the code before a change, side by side in one run (issue 18 item 6).

Run: ``python benches/bench_before.py [--before 7d292e6] [--rounds 12]`` (``make bench``
runs it; about 2-3 minutes once the old side is built, ~10 more the first time). The old side
is the commit ``--before``: its tree is exported (``git archive``) into
``.bench-cache/<commit>/`` and built there with ``maturin build --release`` (its own
``CARGO_TARGET_DIR`` under ``.bench-cache/``), and the wheel's extension is unzipped next to
its Python sources, so a second run reuses the build. The new side is this checkout (its
``python/``, the extension already in it).

Each round runs one child process per side (old then new on even rounds, new then old on odd
ones, so a noisy minute on a shared machine hits both), and each child times, in one event
loop over ``_stub.py``'s stub provider, for ``store=None`` and for a SQLite write-behind store:

* ``execute``: p50(routed ``execute``) - p50(the stub called directly), in us;
* ``stream per request``: the same for a 1-chunk stream;
* ``stream per chunk``: (100-chunk overhead - 1-chunk overhead) / 99;
* ``burst of 1,000``: the median wall time (ms) of 1,000 concurrent ``execute``s
  (``asyncio.gather``) until they are recorded: with a store, until ``flush()`` returns (the
  work of the path is recording them; a burst that returns before its rows are committed has
  not done it). With ``store=None`` it is the time until the gather returns.
* ``burst, returned`` (INFO, no verdict): with a store, the time until the gather returns.
  The old store acknowledged every request before any row was committed (a SIGKILL lost what
  was queued, 116 of 758 in issue 19's probe); the new one lets at most ``max_lag_requests``
  requests run with rows not yet committed (issue 19), so a burst returns once most of it is
  committed: it pays the commit the old code left to ``flush``.

Each figure's verdict compares the medians over rounds: PASS when new/old <= 1.03.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCHES = ROOT / "benches"
CACHE = ROOT / ".bench-cache"
LIMIT = 1.03
METRICS = (
    ("execute_us", "execute"),
    ("stream_us", "stream per request"),
    ("per_chunk_us", "stream per chunk"),
    ("burst_ms", "burst of 1,000"),
)
INFO = (("burst_returned_ms", "burst, returned"),)
BURST = 1_000
STORES = ("none", "sqlite")


def build_before(commit: str) -> Path:
    """The old side's ``python/`` directory, its extension built (cached per full commit)."""
    full = subprocess.run(
        ["git", "rev-parse", "--verify", f"{commit}^{{commit}}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    side = CACHE / full
    python = side / "python"
    if (python / "automatosx" / "_core.abi3.so").exists():
        return python
    src = side / "src"
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", full], cwd=ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(src)], input=archive.stdout, check=True)
    wheels = side / "wheels"
    shutil.rmtree(wheels, ignore_errors=True)
    print(f"building {full[:12]} (release) into {side} ...", flush=True)
    env = {**os.environ, "CARGO_TARGET_DIR": str(CACHE / "target")}
    subprocess.run(
        ["maturin", "build", "--release", "-q", "-o", str(wheels)], cwd=src, env=env, check=True
    )
    (wheel,) = wheels.glob("*.whl")
    staged = side / "python.tmp"
    shutil.rmtree(staged, ignore_errors=True)
    shutil.copytree(src / "python", staged)
    with zipfile.ZipFile(wheel) as zf:
        (so,) = [n for n in zf.namelist() if n.endswith("_core.abi3.so")]
        (staged / "automatosx" / "_core.abi3.so").write_bytes(zf.read(so))
    shutil.rmtree(python, ignore_errors=True)
    staged.rename(python)
    shutil.rmtree(src)
    return python


# --- one side (a child process: ``--child``) -------------------------------------------------


async def _drain(stream: Any) -> None:
    async for _ in stream:
        pass


async def _measure(store_kind: str) -> dict[str, float]:
    sys.path.insert(0, str(BENCHES))
    from _stub import PROMPT, StubProvider, percentile, time_calls
    from automatosx import Router
    from automatosx.schemas import ProviderRequest

    long = {**PROMPT, "maxTokens": 100}
    short = {**PROMPT, "maxTokens": 1}
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        store = None
        if store_kind == "sqlite":
            from automatosx.store import SQLiteStore

            store = SQLiteStore(Path(tmp) / "b.db")
        stub = StubProvider(chunks=100)
        router = Router({"primaryProvider": "claude"}, providers=[stub], store=store)
        await router.open()
        req = ProviderRequest.model_validate(PROMPT)
        req_long = ProviderRequest.model_validate(long)
        req_short = ProviderRequest.model_validate(short)
        for _ in range(200):
            await router.execute(PROMPT)
        direct: list[int] = []
        routed: list[int] = []
        for _ in range(6):
            await time_calls(lambda: stub.execute(req), 500, direct)
            await time_calls(lambda: router.execute(PROMPT), 500, routed)
            if store is not None:
                await store.flush()
        out["execute_us"] = (percentile(routed, 50) - percentile(direct, 50)) / 1000
        dl: list[int] = []
        sl: list[int] = []
        ds: list[int] = []
        ss: list[int] = []
        for _ in range(5):
            await time_calls(lambda: _drain(stub.stream(req_long)), 60, dl)
            await time_calls(lambda: _drain(router.stream(long)), 60, sl)
            await time_calls(lambda: _drain(stub.stream(req_short)), 60, ds)
            await time_calls(lambda: _drain(router.stream(short)), 60, ss)
            if store is not None:
                await store.flush()
        long_o = percentile(sl, 50) - percentile(dl, 50)
        short_o = percentile(ss, 50) - percentile(ds, 50)
        out["stream_us"] = short_o / 1000
        out["per_chunk_us"] = (long_o - short_o) / 99 / 1000
        out["burst_ms"], out["burst_returned_ms"] = await _burst(router, store)
        await router.aclose()
    return out


async def _burst(router: Any, store: Any) -> tuple[float, float]:
    """The median wall times (ms) of ``BURST`` concurrent executes, after one untimed burst:
    until recorded (the store flushed), and until the gather returned."""
    from _stub import PROMPT

    recorded: list[float] = []
    returned: list[float] = []
    for i in range(6):
        started = time.perf_counter()
        await asyncio.gather(*(router.execute(PROMPT) for _ in range(BURST)))
        back = time.perf_counter()
        if store is not None:
            await store.flush()
        if i:  # the first one warms up
            returned.append((back - started) * 1000)
            recorded.append((time.perf_counter() - started) * 1000)
    return statistics.median(recorded), statistics.median(returned)


def child() -> None:
    print(json.dumps({kind: asyncio.run(_measure(kind)) for kind in STORES}))


# --- the A/B ----------------------------------------------------------------------------------


def _run_side(python: Path) -> dict[str, dict[str, float]]:
    env = {**os.environ, "PYTHONPATH": str(python)}
    done = subprocess.run(
        [sys.executable, __file__, "--child"], env=env, capture_output=True, text=True, check=True
    )
    result: dict[str, dict[str, float]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", default="7d292e6", help="the commit to compare against")
    parser.add_argument("--rounds", type=int, default=12, help="child processes per side")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child()
        return
    sides = {"old": build_before(args.before), "new": ROOT / "python"}
    results: dict[str, list[dict[str, dict[str, float]]]] = {side: [] for side in sides}
    for rnd in range(args.rounds):
        order = ("old", "new") if rnd % 2 == 0 else ("new", "old")
        for side in order:
            results[side].append(_run_side(sides[side]))
        print(f"round {rnd + 1}/{args.rounds} done", flush=True)
    print(
        f"\nnew ({ROOT.name}) against {args.before}, medians over {args.rounds} rounds"
        " (us; bursts in ms):"
    )
    for store in STORES:
        for key, label in METRICS:
            old = statistics.median(r[store][key] for r in results["old"])
            new = statistics.median(r[store][key] for r in results["new"])
            ratio = new / old
            verdict = "PASS" if ratio <= LIMIT else "MISS"
            print(
                f"{verdict}  store={store:6} {label:19} old {old:7.2f}  new {new:7.2f}"
                f"  new/old {ratio:5.3f} (<= {LIMIT})"
            )
        if store == "none":
            continue
        for key, label in INFO:
            old = statistics.median(r[store][key] for r in results["old"])
            new = statistics.median(r[store][key] for r in results["new"])
            print(
                f"INFO  store={store:6} {label:19} old {old:7.2f}  new {new:7.2f}"
                f"  new/old {new / old:5.3f} (no verdict: see the module's docstring)"
            )


if __name__ == "__main__":
    main()
