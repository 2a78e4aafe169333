"""The ``automatosx`` command: demo, chat, stats, budgets, health, migrate, emulate.

User mistakes (a missing key, an unknown provider, a bad database path) print one line and
exit non-zero; tracebacks are for bugs only.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automatosx.errors import AutomatosxError

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["main"]


def _console(stderr: bool = False) -> Console:
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, highlight=False, width=None if stream.isatty() else 100)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="automatosx",
        description="Route chat requests to Claude, Gemini and OpenAI with fallback, "
        "retries, streaming and a record of every request.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="offline demo: emulator + SQLite, nothing to configure")
    demo.add_argument("--requests", type=int, default=300, help="requests to route (300)")
    demo.add_argument("--concurrency", type=int, default=8, help="requests in flight (8)")
    demo.add_argument("--db", default=None, help="database file (default: a temp file)")
    demo.add_argument("--seed", type=int, default=7, help="fault scenario seed (7)")

    from automatosx.providers._registry import KINDS

    kinds = list(KINDS)
    chat = sub.add_parser("chat", help="send one prompt to real providers from the environment")
    chat.add_argument("prompt")
    chat.add_argument("--provider", choices=kinds, help="primary provider")
    chat.add_argument(
        "--fallback",
        action="append",
        choices=kinds,
        default=[],
        help="fallback provider (repeatable)",
    )
    chat.add_argument("--model", help="model (default: the provider's default)")
    chat.add_argument("--system", help="system prompt")
    chat.add_argument("--max-tokens", type=int, default=None)
    chat.add_argument("--stream", action="store_true", help="stream the answer")
    chat.add_argument("--db", default=None, help="record the request in this SQLite file")

    stats = sub.add_parser(
        "stats", help="per-provider metrics, latency histograms and success over time"
    )
    stats.add_argument("--db", required=True, help="database file (SQLite) or store URL")
    stats.add_argument("--json", action="store_true", help="print a JSON document instead")
    stats.add_argument(
        "--by-kind",
        action="store_true",
        help="add up the deployments of each provider kind (claude, openai...) in the table",
    )

    budgets = sub.add_parser("budgets", help="spend of each budget and scope value, with a bar")
    budgets.add_argument("--db", required=True, help="database file (SQLite) or store URL")
    budgets.add_argument("--json", action="store_true", help="print a JSON document instead")

    health = sub.add_parser("health", help="check the providers configured in the environment")
    health.add_argument("--db", default=None, help="record the checks in this SQLite file")

    migrate = sub.add_parser("migrate", help="create or migrate a database")
    migrate.add_argument("--db", required=True, help="database file (SQLite) or store URL")

    emulate = sub.add_parser("emulate", help="serve the provider emulator on loopback")
    emulate.add_argument("--host", default="127.0.0.1")
    emulate.add_argument("--port", type=int, default=8765)
    emulate.add_argument("--scenario", default=None, help="fault scenario file (JSON/TOML)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``automatosx`` console script."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "emulate":
            from automatosx.emulator import serve

            serve(args.host, args.port, scenario_path=args.scenario)
            return 0
        if args.command in ("stats", "budgets"):
            args.db = _existing_db_url(args.db)
        if args.command != "demo" and args.db is not None:
            args.db = _db_url(args.db)
        return asyncio.run(_COMMANDS[args.command](args))
    except KeyboardInterrupt:
        return 130
    except AutomatosxError as exc:
        _console(stderr=True).print(f"[bold red]error:[/] {exc}", markup=True, highlight=False)
        return 2
    except ImportError as exc:
        missing = exc.name or str(exc)
        _console(stderr=True).print(
            f"error: {missing} is not installed; install it with: pip install 'automatosx[all]'"
        )
        return 2


def _db_url(path: str) -> str:
    """``--db``: a store URL as given, or a bare path meaning a SQLite file."""
    if "://" in path:
        return path
    db = Path(path).expanduser()
    if not db.parent.is_dir():
        from automatosx.errors import ConfigurationError

        raise ConfigurationError(f"--db: directory {str(db.parent)!r} does not exist")
    return f"sqlite:///{db}"


async def _chat(args: argparse.Namespace) -> int:
    from automatosx.providers import providers_from_env
    from automatosx.router import Router

    configs = providers_from_env()
    if not configs:
        from automatosx.errors import ConfigurationError

        raise ConfigurationError(
            "no provider keys in the environment: set ANTHROPIC_API_KEY, OPENAI_API_KEY or "
            "GEMINI_API_KEY (or run 'automatosx demo' to try it offline)"
        )
    configured = [c.name for c in configs]
    primary = args.provider or configured[0]
    fallbacks = args.fallback or [n for n in configured if n != primary]
    messages: list[dict[str, str]] = []
    if args.system:
        messages.append({"role": "system", "content": args.system})
    messages.append({"role": "user", "content": args.prompt})
    request: dict[str, Any] = {"provider": primary, "messages": messages}
    if args.model:
        request["model"] = args.model
    if args.max_tokens:
        request["maxTokens"] = args.max_tokens
    options = {"primaryProvider": primary, "fallbackProviders": fallbacks}
    store = args.db
    out = _console()
    async with Router(options, configs, store=store) as router:
        if args.stream:
            stream = router.stream(request)
            async with stream:
                async for chunk in stream:
                    out.print(chunk.chunk, end="", markup=False, highlight=False)
            out.print()
            response = stream.response
        else:
            response = await router.execute(request)
            out.print(response.content, markup=False, highlight=False)
    if response is not None:
        tokens = response.tokens
        cost = "?" if response.cost is None else f"${response.cost:.6f}"
        _console(stderr=True).print(
            f"[dim]{response.provider}/{response.model} · {tokens.input_tokens} in / "
            f"{tokens.output_tokens} out · {response.duration} ms · {cost}[/]"
        )
    return 0


def _existing_db_url(path: str) -> str:
    """``stats --db``: a bare path must name an existing file (reading never creates one)."""
    if "://" not in path and not Path(path).expanduser().is_file():
        from automatosx.errors import ConfigurationError

        raise ConfigurationError(f"--db: no database at {str(Path(path).expanduser())!r}")
    return path


def _shown(url: str) -> str:
    """A store URL fit to print: a SQLite path as is, otherwise only the scheme (the rest
    may hold a password)."""
    if url.startswith("sqlite:///"):
        return url.removeprefix("sqlite:///")
    return url.partition("://")[0] + "://..."


async def _stats(args: argparse.Namespace) -> int:
    import json

    from automatosx._report import read_report, report_json, stats_view
    from automatosx.store import open_store

    async with open_store(args.db) as store:
        report = await read_report(store, by="kind" if args.by_kind else "deployment")
    if args.json:
        sys.stdout.write(json.dumps(report_json(report), indent=2) + "\n")
    else:
        _console().print(stats_view(report))
    return 0


async def _health(args: argparse.Namespace) -> int:
    from rich.table import Table

    from automatosx.providers import providers_from_env
    from automatosx.router import Router

    configs = providers_from_env()
    if not configs:
        from automatosx.errors import ConfigurationError

        raise ConfigurationError(
            "no provider keys in the environment: set ANTHROPIC_API_KEY, OPENAI_API_KEY or "
            "GEMINI_API_KEY"
        )
    options = {"primaryProvider": configs[0].name, "enableFallback": False}
    async with Router(options, configs, store=args.db) as router:
        results = await router.check_health()
    table = Table(title="provider health")
    for col in ("provider", "status", "latency ms", "rate limit left", "error"):
        table.add_column(col)
    for name, h in results.items():
        latency = "" if h.latency is None else f"{h.latency:.0f}"
        left = "" if h.rate_limit_remaining is None else str(h.rate_limit_remaining)
        table.add_row(name, h.status, latency, left, h.error or "")
    _console().print(table)
    return 0 if all(h.status != "down" for h in results.values()) else 1


async def _migrate(args: argparse.Namespace) -> int:
    from automatosx.store import open_store

    async with open_store(args.db):
        pass
    _console().print(f"migrated {_shown(args.db)}")
    return 0


async def _demo(args: argparse.Namespace) -> int:
    from automatosx._demo import run_demo

    return await run_demo(
        requests=args.requests, concurrency=args.concurrency, db=args.db, seed=args.seed
    )


async def _budgets(args: argparse.Namespace) -> int:
    from automatosx.budgets._status import read_status, render_json, render_text

    statuses = await read_status(args.db)
    print(render_json(statuses) if args.json else render_text(statuses))
    return 0


_COMMANDS = {
    "budgets": _budgets,
    "chat": _chat,
    "demo": _demo,
    "health": _health,
    "migrate": _migrate,
    "stats": _stats,
}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
