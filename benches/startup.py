"""Import cost: wall time and peak memory of fresh interpreters, and what ``import automatosx``
loads. Run by ``make bench`` after the pytest suites: ``python benches/startup.py [-n 15]``.

Each case runs ``N`` times in a fresh ``python -c ...`` (interleaved, after two untimed warm-up
rounds, so byte-code and page caches are hot for every case). Wall time is measured around
spawn-to-exit by this process. Memory is what the child reports from ``/proc/self/status`` as
its last act: ``VmRSS`` (resident now) and ``VmHWM`` (peak). ``ru_maxrss`` of a child is not
used: after ``vfork``/``exec`` it keeps the parent's high-water mark. Figures are medians;
"added" is a case's median minus the bare interpreter's.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time

from _budget import Result, summary

CLAUDE = (
    "{'name': 'claude', 'apiKey': 'sk-startup-0123456789', 'rateLimits': "
    "{'requestsPerMinute': 60}, 'models': ['claude-sonnet-4-5'], "
    "'defaultModel': 'claude-sonnet-4-5'}"
)
CASES: dict[str, str] = {
    "bare interpreter": "pass",
    "import automatosx": "import automatosx",
    "+ Router (pydantic, router)": "import automatosx; from automatosx import Router",
    "+ create_provider(claude)": (
        "import automatosx; from automatosx.providers import create_provider; "
        f"create_provider({CLAUDE})"
    ),
}
IMPORT_BUDGET_MS, RSS_BUDGET_MB = 50.0, 40.0
HEAVY = (
    "pydantic",
    "pydantic_core",
    "anthropic",
    "openai",
    "google",
    "httpx",
    "httpx2",
    "aiosqlite",
    "sqlite3",
    "genai_prices",
    "starlette",
    "uvicorn",
    "asyncio",
)


REPORT = "\nprint(open('/proc/self/status').read())"
_KB = re.compile(r"^(VmRSS|VmHWM):\s+(\d+) kB$", re.MULTILINE)


def run_once(code: str) -> tuple[float, float, float]:
    """(wall ms, VmRSS MB, VmHWM MB) of one fresh interpreter running ``code``."""
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", code + REPORT],
        capture_output=True,
        text=True,
        check=True,
        cwd=tempfile.gettempdir(),
    )
    wall = (time.perf_counter() - started) * 1000
    kb = {name: int(value) for name, value in _KB.findall(out.stdout)}
    return wall, kb["VmRSS"] / 1024, kb["VmHWM"] / 1024


def loaded_modules(code: str) -> set[str]:
    probe = f"{code}\nimport json, sys; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        cwd=tempfile.gettempdir(),
    )
    return set(json.loads(out.stdout))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=15, help="runs per case (default 15)")
    runs = parser.parse_args().n

    walls: dict[str, list[float]] = {name: [] for name in CASES}
    rss: dict[str, list[float]] = {name: [] for name in CASES}
    hwm: dict[str, list[float]] = {name: [] for name in CASES}
    for round_ in range(runs + 2):
        for name, code in CASES.items():
            wall, resident, peak = run_once(code)
            if round_ >= 2:
                walls[name].append(wall)
                rss[name].append(resident)
                hwm[name].append(peak)

    base_wall = statistics.median(walls["bare interpreter"])
    base_rss = statistics.median(rss["bare interpreter"])
    print(f"\nstartup: {runs} fresh interpreters per case, medians ({sys.executable})")
    base_hwm = statistics.median(hwm["bare interpreter"])
    print(
        f"{'case':<30} {'wall ms':>8} {'added':>7} {'VmRSS MB':>9} {'added':>6}"
        f" {'VmHWM MB':>9} {'added':>6}"
    )
    for name in CASES:
        wall, resident = statistics.median(walls[name]), statistics.median(rss[name])
        peak = statistics.median(hwm[name])
        print(
            f"{name:<30} {wall:>8.1f} {wall - base_wall:>7.1f} {resident:>9.1f}"
            f" {resident - base_rss:>6.1f} {peak:>9.1f} {peak - base_hwm:>6.1f}"
        )

    bare, ours = loaded_modules("pass"), loaded_modules("import automatosx")
    added = sorted(ours - bare)
    heavy = sorted(m for m in added if m.split(".")[0] in HEAVY)
    print(f"\nimport automatosx: {len(ours)} modules in sys.modules ({len(added)} more than bare)")
    print("  added: " + ", ".join(added))
    print("  heavyweight: " + (", ".join(heavy) if heavy else "none"))

    import_ms = statistics.median(walls["import automatosx"]) - base_wall
    import_mb = statistics.median(rss["import automatosx"]) - base_rss
    results = [
        Result("startup: import automatosx, wall over bare", import_ms, IMPORT_BUDGET_MS, "ms"),
        Result("startup: import automatosx, VmRSS over bare", import_mb, RSS_BUDGET_MB, "MB"),
        Result("startup: heavyweight modules loaded by import", len(heavy), 0, "modules"),
    ]
    print()
    for line in summary(results):
        print(line)


if __name__ == "__main__":
    main()
