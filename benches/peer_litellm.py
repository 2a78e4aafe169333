"""automatosx against LiteLLM, side by side in one run (optional; not part of `make bench`).

    make bench-peers

LiteLLM is not a dependency: `make bench-peers` builds a throwaway virtualenv for it
(.venv-peers/, gitignored: LiteLLM pinned in the Makefile, the openai SDK held to
requirements/dev.lock so both sides call the same SDK) and runs this file with
``LITELLM_PYTHON=.venv-peers/bin/python``. By hand::

    python3 -m venv /tmp/peer && /tmp/peer/bin/pip install -c requirements/dev.lock litellm openai
    LITELLM_PYTHON=/tmp/peer/bin/python .venv/bin/python benches/peer_litellm.py

One emulator serves every side on loopback (OpenAI Chat Completions). Each side is measured in
its own interpreter against the direct OpenAI SDK call of that same interpreter, interleaved in
batches, so what is compared is each router's *added* time per call (median and p99), plus
`import` wall time and resident memory over a bare interpreter (fresh processes, medians).
LiteLLM is measured twice: ``litellm.acompletion`` (its one-call API) and ``litellm.Router``
(since 1.110 a Rust core behind a Python facade), which is what compares to automatosx's Router.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from automatosx.emulator import EmulatorServer

RUNS = 7
CHILD = r"""
import asyncio, json, sys, time
mode, base = sys.argv[1], sys.argv[2]
ROUNDS, BATCH, WARM = 20, 20, 60
MSGS = [{"role": "user", "content": "Say hello in five words."}]

async def main():
    import openai
    client = openai.AsyncOpenAI(api_key="sk-peer-0123456789", base_url=base + "/v1", max_retries=0)

    async def direct():
        r = await client.chat.completions.create(model="gpt-4o-mini", messages=MSGS, max_tokens=64)
        return r.choices[0].message.content

    if mode == "litellm-router":
        import litellm
        litellm.suppress_debug_info = True
        router = litellm.Router(model_list=[{
            "model_name": "gpt-4o-mini",
            "litellm_params": {
                "model": "openai/gpt-4o-mini", "api_base": base + "/v1",
                "api_key": "sk-peer-0123456789",
            },
        }], num_retries=0)

        async def routed():
            r = await router.acompletion(model="gpt-4o-mini", messages=MSGS, max_tokens=64)
            return r.choices[0].message.content
    elif mode == "litellm":
        import litellm
        litellm.suppress_debug_info = True

        async def routed():
            r = await litellm.acompletion(
                model="openai/gpt-4o-mini", api_base=base + "/v1", api_key="sk-peer-0123456789",
                messages=MSGS, max_tokens=64, num_retries=0,
            )
            return r.choices[0].message.content
    else:
        from automatosx import Router
        router = Router({"primaryProvider": "openai"}, [{
            "name": "openai", "apiKey": "sk-peer-0123456789", "baseUrl": base + "/v1",
            "rateLimits": {"requestsPerMinute": 10**9}, "models": ["gpt-4o-mini"],
            "defaultModel": "gpt-4o-mini", "maxRetries": 0,
        }])
        await router.open()
        request = {"messages": MSGS, "maxTokens": 64}

        async def routed():
            return (await router.execute(request)).content

    for _ in range(WARM):
        await direct(); await routed()
    times = {"direct": [], "routed": []}
    for _ in range(ROUNDS):
        for name, call in (("direct", direct), ("routed", routed)):
            for _ in range(BATCH):
                t = time.perf_counter_ns()
                await call()
                times[name].append(time.perf_counter_ns() - t)
    from importlib.metadata import version
    out = {"version": version("litellm" if mode.startswith("litellm") else "automatosx"),
           "openai": version("openai")}
    for name, values in times.items():
        values.sort()
        out[name + "_p50"] = values[len(values) // 2] / 1000
        out[name + "_p99"] = values[int(len(values) * 0.99)] / 1000
    print(json.dumps(out))

asyncio.run(main())
"""
PROBE = r"""
import sys, time
t = time.perf_counter()
if sys.argv[1] != "-":
    __import__(sys.argv[1])
wall = (time.perf_counter() - t) * 1000
rss = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS:")) / 1024
print(wall, rss)
"""


def _env() -> dict[str, str]:
    # LiteLLM fetches a price map from GitHub at import unless told not to; there is no network.
    return {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR"}


def _import_cost(python: str, module: str) -> tuple[float, float]:
    """Median (import ms, RSS MB) of ``module`` over a bare interpreter, fresh processes."""

    def sample(mod: str) -> tuple[float, float]:
        out = subprocess.run(
            [python, "-c", PROBE, mod], capture_output=True, text=True, check=True, env=_env()
        ).stdout.split()
        return float(out[0]), float(out[1])

    bare = [sample("-") for _ in range(RUNS)]
    loaded = [sample(module) for _ in range(RUNS)]
    return (
        statistics.median(w for w, _ in loaded),
        statistics.median(r for _, r in loaded) - statistics.median(r for _, r in bare),
    )


def _calls(python: str, mode: str, base: str) -> dict[str, Any]:
    out = subprocess.run(
        [python, "-c", CHILD, mode, base], capture_output=True, text=True, env=_env()
    )
    if out.returncode:
        raise SystemExit(f"{mode} ({python}) failed:\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    peer = os.environ.get("LITELLM_PYTHON", "/tmp/peer/bin/python")
    if not Path(peer).exists():
        print(
            f"no LiteLLM interpreter at {peer}: run `make bench-peers` (see this file's docstring)"
        )
        return 1
    ours = sys.executable
    rows = []
    load_before = os.getloadavg()[0]
    with EmulatorServer() as server:
        imports = {"automatosx": _import_cost(ours, "automatosx")}
        imports["litellm"] = _import_cost(peer, "litellm")
        for label, python, mode, module in (
            ("automatosx Router", ours, "automatosx", "automatosx"),
            ("litellm.acompletion", peer, "litellm", "litellm"),
            ("litellm.Router", peer, "litellm-router", "litellm"),
        ):
            calls = _calls(python, mode, server.base_url)
            rows.append((label, calls, *imports[module]))
    print(
        "per call against the same loopback emulator (OpenAI chat, 400 calls a side; "
        "import and RSS: medians of 7 fresh interpreters)"
    )
    # The figures scale with the machine's load (a shared VM): say what it was.
    print(
        f"machine: {os.cpu_count()} CPUs, 1-min load average {load_before:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end"
    )
    print(
        f"{'':20} {'version':>8} {'direct SDK':>11} {'routed':>9} {'added p50':>10}"
        f" {'added p99':>10} {'import ms':>10} {'RSS MB':>7}"
    )
    for label, c, wall, rss in rows:
        added50 = c["routed_p50"] - c["direct_p50"]
        added99 = c["routed_p99"] - c["direct_p50"]
        print(
            f"{label:20} {c['version']:>8} {c['direct_p50']:9.0f}us {c['routed_p50']:7.0f}us"
            f" {added50:8.0f}us {added99:8.0f}us {wall:10.0f} {rss:7.1f}"
        )
    print(
        f"openai SDK: {rows[0][1]['openai']} (automatosx side), "
        f"{rows[1][1]['openai']} (litellm side)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
