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
from typing import TYPE_CHECKING

from automatosx.errors import AutomatosxError

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["main"]


def _console(stderr: bool = False) -> Console:
    from automatosx._report import console

    return console(stderr)


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
    chat = sub.add_parser(
        "chat", help="send one prompt (to the providers in the environment, or --emulator)"
    )
    chat.add_argument("prompt")
    chat.add_argument(
        "--provider", choices=kinds, help="ask only this provider (add --fallback for more)"
    )
    chat.add_argument(
        "--fallback",
        action="append",
        choices=kinds,
        default=[],
        help="fallback provider, in order (repeatable)",
    )
    chat.add_argument(
        "--model", help="model (default: the provider's; without --provider it picks one)"
    )
    chat.add_argument("--system", help="system prompt")
    chat.add_argument("--max-tokens", type=int, default=None)
    chat.add_argument("--stream", action="store_true", help="stream the answer")
    chat.add_argument("--db", default=None, help="record the request in this SQLite file")
    _emulator_flags(chat)

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
    _emulator_flags(health)

    migrate = sub.add_parser("migrate", help="create or migrate a database")
    migrate.add_argument("--db", required=True, help="database file (SQLite) or store URL")

    emulate = sub.add_parser(
        "emulate",
        help="serve the provider emulator on loopback",
        description="Serve the Claude, OpenAI and Gemini emulator until Ctrl-C.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    emulate.add_argument("--host", default="127.0.0.1", help="address to listen on")
    emulate.add_argument("--port", type=int, default=8765, help="TCP port (0: any free port)")
    emulate.add_argument("--scenario", default=None, help="fault scenario file (JSON/TOML)")
    return parser


def _emulator_flags(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--emulator",
        action="store_true",
        help="use an emulator started on loopback for this command (no keys, no network)",
    )
    command.add_argument(
        "--scenario", default=None, help="with --emulator: its fault scenario file (JSON/TOML)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``automatosx`` console script."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "emulate":
            return _emulate(args)
        if args.command in ("stats", "budgets"):
            args.db = _existing_db_url(args.db)
        if args.command != "demo" and args.db is not None:
            args.db = _db_url(args.db)
        return asyncio.run(_COMMANDS[args.command](args))
    except KeyboardInterrupt:
        return 130
    except AutomatosxError as exc:
        _console(stderr=True).print(
            f"[bold red]error:[/] {exc}", markup=True, highlight=False, soft_wrap=True
        )
        return 2
    except ImportError as exc:
        missing = exc.name or str(exc)
        _console(stderr=True).print(
            f"error: {missing} is not installed; install it with: pip install 'automatosx[all]'",
            soft_wrap=True,
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


def _emulate(args: argparse.Namespace) -> int:
    """``automatosx emulate``: a wrong port, a port in use or a bad scenario file is one line
    naming the flag, exit 2 (raised as ConfigurationError)."""
    from automatosx.errors import ConfigurationError

    if not 0 <= args.port <= 65_535:
        raise ConfigurationError(f"--port: {args.port} is not a TCP port (0-65535)")
    if args.scenario is not None:
        _check_scenario(args.scenario)
    from automatosx.emulator import serve

    try:
        serve(args.host, args.port, scenario_path=args.scenario)
    except (OSError, OverflowError) as exc:
        # The emulator's typed EmulatorBindError (an OSError) says it all in one line.
        typed = _emulator_error("EmulatorBindError")
        reason = (
            str(exc)
            if typed is not None and isinstance(exc, typed)
            else f"cannot listen on {args.host}:{args.port}: "
            f"{getattr(exc, 'strerror', None) or exc}"
        )
        raise ConfigurationError(
            f"--host/--port: {reason} (pick another --port, or 0 for any free one)"
        ) from None
    return 0


def _emulator_error(name: str) -> type[Exception] | None:
    """The emulator's typed error ``name`` (ScenarioError, EmulatorBindError), if it has it."""
    from automatosx import emulator

    found = getattr(emulator, name, None)
    return found if isinstance(found, type) and issubclass(found, Exception) else None


def _check_scenario(path: str) -> None:
    """The scenario file loads, or a ConfigurationError naming it and what is wrong."""
    from automatosx.emulator import Scenario
    from automatosx.errors import ConfigurationError

    if not Path(path).is_file():
        raise ConfigurationError(f"--scenario: no file at {path!r}")
    try:
        Scenario.from_file(path)
    except (ValueError, TypeError, KeyError, AttributeError, OSError, UnicodeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        typed = _emulator_error("ScenarioError")  # its message names the file and the key
        if typed is not None and isinstance(exc, typed):
            raise ConfigurationError(f"--scenario: {reason}") from None
        raise ConfigurationError(f"--scenario {path}: {reason}") from None


async def _chat(args: argparse.Namespace) -> int:
    from automatosx._chat import chat

    if args.scenario is not None:
        _check_scenario(args.scenario)
    return await chat(args, _console(stderr=True))


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

    from automatosx._report import print_fitted, read_report, report_json, stats_view
    from automatosx.store import open_store

    async with open_store(args.db) as store:
        report = await read_report(store, by="kind" if args.by_kind else "deployment")
    if args.json:
        sys.stdout.write(json.dumps(report_json(report), indent=2) + "\n")
    else:
        print_fitted(_console(), report, lambda width: stats_view(report, width=width))
    return 0


async def _health(args: argparse.Namespace) -> int:
    from automatosx._chat import health

    if args.scenario is not None:
        _check_scenario(args.scenario)
    return await health(args, _console())


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
