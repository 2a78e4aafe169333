"""What each feature costs, as a ratio against its baseline measured in the same run (issue 23).

Run: ``python benches/bench_features.py`` (``make bench`` runs it; about a minute). Every
case is timed call by call (``perf_counter_ns``) in one event loop over ``_stub.py``'s stub
provider, and the cases take turns batch by batch (a round runs one batch of each), so a
noisy minute on this shared machine hits both sides of every ratio. All figures are medians:

* overhead(case) = p50(routed case) - p50(the stub called directly);
* ``execute`` overhead, ``store=None``: the one absolute figure (budget 10 us on a quiet
  machine; absolute figures move x2 between hours here, so read its verdict with the load);
* SQLite store / ``store=None``: the two overheads, for a dict the router validates and for a
  ``ProviderRequest`` validated beforehand (each call its own request id);
* stream per request: a 1-chunk stream's overhead; per chunk: (100-chunk overhead - 1-chunk
  overhead) / 99; both divided by the ``execute`` overhead;
* ``telemetry`` (OTel SDK, in-memory span exporter behind a ``SimpleSpanProcessor``, an
  ``InMemoryMetricReader``) added over ``store=None``, divided by what the OTel SDK itself
  takes to make the same spans and metric records with the same attributes (taken from what
  the observer recorded), called directly; for information, that same SDK work run by an
  observer that does nothing else, inside routed requests (the row's floor);
* PrometheusObserver added / ``execute`` overhead;
* budgets, cache miss (``cache="memory"``, every request new), sticky routing (a group of two
  deployments, against the same group without it), shared state (a throwaway redis-server):
  each added / ``execute`` overhead, and all of them on together / ``store=None``. A feature
  this branch does not have prints ``SKIP (not on this branch)``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import inspect
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _budget import Result, summary
from _otel_replay import observer_hooks, otel_providers, replay_observer, sdk_replay
from _stub import PROMPT, StubProvider, percentile
from automatosx import Router
from automatosx.schemas import ProviderRequest, RouterOptions
from automatosx.store import SQLiteStore

CHUNKS = 100
OPTIONS: dict[str, Any] = {"primaryProvider": "claude", "fallbackProviders": []}
STREAM_SHORT = {**PROMPT, "maxTokens": 1}
STREAM_LONG = {**PROMPT, "maxTokens": CHUNKS}

Call = Callable[[int], Awaitable[Any]]  # the i-th call of a batch


@dataclass
class Case:
    """One timed case: ``call(i)`` is awaited ``batch`` times per round."""

    name: str
    call: Call
    batch: int
    prepare: Callable[[int], None] | None = None  # untimed, before each batch
    settle: Callable[[], Awaitable[None]] | None = None  # untimed, after each batch
    samples: list[int] = field(default_factory=list)

    def p50(self) -> float:
        return percentile(self.samples, 50) / 1000


async def _drain(stream: AsyncIterator[Any]) -> None:
    async for _ in stream:
        pass


async def _run_batch(case: Case) -> None:
    if case.prepare is not None:
        case.prepare(case.batch)
    clock, append, call = time.perf_counter_ns, case.samples.append, case.call
    for i in range(case.batch):
        t0 = clock()
        await call(i)
        append(clock() - t0)
    if case.settle is not None:
        await case.settle()


def has_budgets() -> bool:
    return "budgets" in RouterOptions.model_fields


def has_sticky() -> bool:
    return "sticky_routing" in RouterOptions.model_fields


def has_cache() -> bool:
    return "cache" in inspect.signature(Router.__init__).parameters


# -- the cases -------------------------------------------------------------------------------


@dataclass
class Setup:
    cases: dict[str, Case]
    routers: list[Router]
    skipped: list[str]
    sdk_exporter: Any = None
    clear: list[Callable[[], None]] = field(default_factory=list)
    broken: dict[str, str] = field(default_factory=dict)
    """Features that are here but failed to build, open or answer: name -> the error."""


def _group(n: int = 2) -> list[StubProvider]:
    stubs = []
    for i in range(n):
        stub = StubProvider(chunks=CHUNKS)
        stub.config = stub.config.model_copy(update={"id": f"claude-{i}", "group": "claude"})
        stubs.append(stub)
    return stubs


def _feature_options() -> dict[str, dict[str, Any]]:
    return {
        "budgets": {
            "budgets": [{"id": "bench", "limitUsd": 1e6, "window": "day"}],
        },
        "sticky": {"stickyRouting": {"key": "prefix"}},
    }


async def build(batch: int, stream_batch: int, tmp: Path, redis_url: str | None) -> Setup:
    direct = StubProvider(chunks=CHUNKS)
    request = ProviderRequest.model_validate(PROMPT)
    short = ProviderRequest.model_validate(STREAM_SHORT)
    long = ProviderRequest.model_validate(STREAM_LONG)
    cases: dict[str, Case] = {}
    routers: list[Router] = []
    skipped: list[str] = []
    clear: list[Callable[[], None]] = []

    def router(*args: Any, **kwargs: Any) -> Router:
        r = Router(*args, **kwargs)
        routers.append(r)
        return r

    def execute(r: Router, prompts: list[Any] | None = None) -> Call:
        if prompts is None:
            return lambda i: r.execute(PROMPT)
        return lambda i: r.execute(prompts[i])

    cases["direct"] = Case("direct", lambda i: direct.execute(request), batch)
    none = router(OPTIONS, providers=[StubProvider(chunks=CHUNKS)], store=None)
    cases["none"] = Case("none", execute(none), batch)
    models: list[ProviderRequest] = []

    def fresh_models(n: int) -> None:  # each call its own request id, validated untimed
        models[:] = [ProviderRequest.model_validate(PROMPT) for _ in range(n)]

    cases["none_model"] = Case("none_model", execute(none, models), batch, fresh_models)  # type: ignore[arg-type]
    store = SQLiteStore(tmp / "bench.db")
    sqlite = router(OPTIONS, providers=[StubProvider(chunks=CHUNKS)], store=store)
    cases["sqlite"] = Case("sqlite", execute(sqlite), batch, settle=store.flush)
    cases["sqlite_model"] = Case(
        "sqlite_model",
        execute(sqlite, models),  # type: ignore[arg-type]
        batch,
        fresh_models,
        store.flush,
    )
    cases["direct_s1"] = Case("direct_s1", lambda i: _drain(direct.stream(short)), stream_batch)
    cases["none_s1"] = Case("none_s1", lambda i: _drain(none.stream(STREAM_SHORT)), stream_batch)
    cases["direct_s100"] = Case("direct_s100", lambda i: _drain(direct.stream(long)), stream_batch)
    cases["none_s100"] = Case("none_s100", lambda i: _drain(none.stream(STREAM_LONG)), stream_batch)

    # telemetry
    from prometheus_client import CollectorRegistry

    from automatosx.telemetry import OTelObserver
    from automatosx.telemetry.prometheus import PrometheusObserver

    tracer_provider, meter_provider, (exporter, reader) = otel_providers()
    observer = OTelObserver(tracer_provider, meter_provider)
    otel = router(OPTIONS, providers=[StubProvider(chunks=CHUNKS)], store=None, telemetry=observer)
    cases["otel"] = Case("otel", execute(otel), batch)
    clear.append(exporter.clear)
    prom = router(
        OPTIONS,
        providers=[StubProvider(chunks=CHUNKS)],
        store=None,
        telemetry=PrometheusObserver(CollectorRegistry()),
    )
    cases["prometheus"] = Case("prometheus", execute(prom), batch)

    # features (run when this branch has them)
    features: dict[str, dict[str, Any]] = {}  # name -> Router keyword arguments / options
    extra = _feature_options()
    all_opts: dict[str, Any] = dict(OPTIONS)
    all_kwargs: dict[str, Any] = {}
    if has_budgets():
        features["budgets"] = {"options": {**OPTIONS, **extra["budgets"]}}
        all_opts.update(extra["budgets"])
    else:
        skipped.append("budgets")
    if has_cache():
        cache_opts = {**OPTIONS, "cache": {"cacheByDefault": True}}
        features["cache"] = {"options": cache_opts, "kwargs": {"cache": "memory"}}
        all_opts["cache"] = cache_opts["cache"]
        all_kwargs["cache"] = "memory"
    else:
        skipped.append("cache")
    if has_sticky():
        features["sticky"] = {"options": {**OPTIONS, **extra["sticky"]}, "group": True}
        all_opts.update(extra["sticky"])
    else:
        skipped.append("sticky")
    if redis_url is not None:
        from automatosx.shared import SharedState

        def shared() -> Any:
            return SharedState(redis_url, prefix=f"bench{uuid.uuid4().hex[:8]}:")

        features["shared"] = {"options": OPTIONS, "kwargs": {"shared": shared}}
        all_kwargs["shared"] = shared
    else:
        skipped.append("shared")

    # every call a new request (a cache miss, a new sticky prefix): the same prompts for the
    # baseline and the feature
    distinct: list[dict[str, Any]] = []

    def fresh_prompts(n: int) -> None:
        tag = uuid.uuid4().hex
        distinct[:] = [
            {**PROMPT, "messages": [*PROMPT["messages"][:1], _user(f"{tag} {i}")]} for i in range(n)
        ]

    cases["base_distinct"] = Case("base_distinct", execute(none, distinct), batch, fresh_prompts)
    group = router(OPTIONS, providers=_group(), store=None)
    cases["base_group"] = Case("base_group", execute(group, distinct), batch, fresh_prompts)
    for r in routers:
        await r.open()

    async def feature(
        name: str, options: dict[str, Any], kwargs: dict[str, Any], group: bool
    ) -> None:
        """A feature's router, opened and tried once; a feature that is here but refuses
        these settings is reported as such (its row says ERROR), not a crash of the bench."""
        try:
            made = {k: v() if callable(v) else v for k, v in kwargs.items()}
            providers = _group() if group else [StubProvider(chunks=CHUNKS)]
            r = Router(options, providers=providers, store=None, **made)
            await r.open()
        except Exception as exc:
            broken[name] = f"{type(exc).__name__}: {exc}"[:160]
            return
        routers.append(r)
        try:
            await r.execute({**PROMPT, "messages": [PROMPT["messages"][0], _user(name)]})
        except Exception as exc:
            broken[name] = f"{type(exc).__name__}: {exc}"[:160]
            return
        cases[name] = Case(name, execute(r, distinct), batch, fresh_prompts)

    broken: dict[str, str] = {}
    for name, spec in features.items():
        await feature(name, spec["options"], spec.get("kwargs", {}), bool(spec.get("group")))
    if not skipped:
        await feature("all", all_opts, all_kwargs, "sticky" in features)
    # one request through the OTel router: what the SDK replay makes (then cleared)
    response = await otel.execute(PROMPT)
    replay, clear_replayed = sdk_replay(exporter, reader)
    hooks = observer_hooks(observer, response)
    cases["otel_hooks"] = Case("otel_hooks", lambda i: _sync(hooks), batch)
    cases["sdk_own"] = Case("sdk_own", lambda i: _sync(replay), batch)
    floor = Router(  # the telemetry row's floor: the SDK's same work, no observer code
        OPTIONS,
        providers=[StubProvider(chunks=CHUNKS)],
        store=None,
        telemetry=replay_observer(replay),
    )
    routers.append(floor)
    await floor.open()
    cases["sdk_routed"] = Case("sdk_routed", execute(floor), batch)
    clear.append(clear_replayed)  # both exporters emptied after each round
    exporter.clear()
    return Setup(cases, routers, skipped, clear=clear, broken=broken)


def _user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


async def _sync(fn: Callable[[], None]) -> None:
    fn()


# -- the verdicts ----------------------------------------------------------------------------


def verdicts(cases: dict[str, Case], skipped: list[str]) -> list[Result]:
    p = {name: case.p50() for name, case in cases.items()}
    direct = p["direct"]
    exec_ov = p["none"] - direct
    model_ov = p["none_model"] - direct
    results = [
        Result("execute overhead, store=None (absolute, quiet machine)", exec_ov, 10, "us"),
        Result(
            "execute overhead, SQLite / store=None, dicts",
            (p["sqlite"] - direct) / exec_ov,
            1.5,
            "x",
        ),
        Result(
            "execute overhead, SQLite / store=None, validated requests",
            (p["sqlite_model"] - direct) / model_ov,
            1.5,
            "x",
        ),
    ]
    per_stream = p["none_s1"] - p["direct_s1"]
    per_chunk = ((p["none_s100"] - p["direct_s100"]) - per_stream) / (CHUNKS - 1)
    results += [
        Result("stream overhead per request / execute overhead", per_stream / exec_ov, 1.2, "x"),
        Result("stream overhead per chunk / execute overhead", per_chunk / exec_ov, 0.1, "x"),
        Result(
            "telemetry=True added / the OTel SDK's own cost",
            (p["otel"] - p["none"]) / p["sdk_own"],
            1.2,
            "x",
        ),
        Result(
            "  (for information: OTelObserver's hooks alone / the SDK's own)",
            p["otel_hooks"] / p["sdk_own"],
            None,
            "x",
        ),
        Result(
            "  (for information: the SDK's same work run in a routed request / the SDK's own)",
            (p["sdk_routed"] - p["none"]) / p["sdk_own"],
            None,
            "x",
        ),
        Result(
            "PrometheusObserver added / execute overhead",
            (p["prometheus"] - p["none"]) / exec_ov,
            0.5,
            "x",
        ),
    ]
    labels = {
        "budgets": "budgets",
        "cache": "cache miss",
        "sticky": "sticky routing",
        "shared": "shared state",
    }
    for name, label in labels.items():
        row = f"{label} added / execute overhead"
        if name in cases:
            base = p["base_group"] if name == "sticky" else p["base_distinct"]
            results.append(Result(row, (p[name] - base) / exec_ov, 0.2, "x"))
        else:  # not measured: SKIP or ERROR (``_lines``)
            results.append(Result(row, float("nan"), 0.2, "x"))
        FEATURE_OF[row] = name
    row = "all of them on / store=None overhead"
    FEATURE_OF[row] = "all"
    if "all" in cases:
        results.append(Result(row, (p["all"] - direct) / exec_ov, 2.0, "x"))
    else:
        results.append(Result(row, float("nan"), 2.0, "x"))
    return results


FEATURE_OF: dict[str, str] = {}
"""A feature row's name -> the feature (``budgets``, ``cache``, ``sticky``, ``shared``, ``all``)."""


def _lines(results: list[Result], skipped: list[str], broken: dict[str, str]) -> list[str]:
    """One line per row: PASS/MISS, SKIP (the feature is not on this branch) or ERROR (it
    is, but its router could not be built, opened or asked with these settings)."""
    lines = []
    judged = []
    for r in results:
        if r.measured == r.measured:  # not nan: measured
            lines.append(r.line())
            if r.budget is not None:
                judged.append(r)
            continue
        name = FEATURE_OF[r.name]
        if name in broken:
            lines.append(f"ERROR {r.name:<58} (on this branch, but: {broken[name]})")
        elif name == "all":
            missing = ", ".join(skipped) or "a feature failed"
            lines.append(f"SKIP  {r.name:<58} (not on this branch: {missing})")
        elif name == "shared":  # on every branch; needs a redis-server
            lines.append(f"SKIP  {r.name:<58} (no redis-server here, or --no-redis)")
        else:
            lines.append(f"SKIP  {r.name:<58} (not on this branch)")
    errors = f", {len(broken)} could not be measured" if broken else ""
    lines.append(summary(judged)[-1] + errors)
    return lines


async def measure(rounds: int, batch: int, stream_batch: int, redis_url: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        setup = await build(batch, stream_batch, Path(tmp), redis_url)
        cases = setup.cases
        try:
            for case in cases.values():  # warm up: caches, leases, the writer thread
                await _run_batch(Case(case.name, case.call, 100, case.prepare, case.settle))
            for _ in range(rounds):
                for case in cases.values():
                    await _run_batch(case)
                for clear in setup.clear:
                    clear()
                gc.collect()
        finally:
            for r in setup.routers:
                await r.aclose()
    p = {name: case.p50() for name, case in cases.items()}
    print("p50 per call, us: " + ", ".join(f"{k} {v:.2f}" for k, v in p.items()))
    for line in _lines(verdicts(cases, setup.skipped), setup.skipped, setup.broken):
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--stream-batch", type=int, default=20)
    parser.add_argument("--no-redis", action="store_true", help="skip the shared-state row")
    args = parser.parse_args()
    server = None
    if not args.no_redis:
        import _servers

        try:
            server = _servers.start_redis()
        except Exception as exc:  # no redis-server here: the row says so
            print(f"no redis-server ({exc}); shared state skipped")
    try:
        asyncio.run(
            measure(args.rounds, args.batch, args.stream_batch, server.url if server else None)
        )
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
