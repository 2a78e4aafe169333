"""``automatosx chat`` and ``automatosx health``: which providers, which route, and a stream
shown the way the stream contract says.

Providers come from the environment (each kind's API key variable, and the SDKs' own
base-URL variables), or, with ``--emulator``, from an emulator started on loopback for the
command (fake keys, all three kinds, an optional ``--scenario`` of faults).

The route is said before anything is sent (on stderr): ``--provider P`` alone asks only
``P``; ``--fallback Q`` (repeatable) adds fallbacks in order; with neither, the request goes
where its model belongs (``--model gpt-4o`` → openai, see :mod:`automatosx._routing.by_model`)
or to the first configured provider, and falls back to every other configured one.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
from collections.abc import AsyncIterator, Sequence
from typing import IO, TYPE_CHECKING, Any

from automatosx.errors import ConfigurationError

if TYPE_CHECKING:
    from automatosx.schemas import ProviderConfig, StreamChunk

__all__ = ["StreamView", "chat", "health", "providers_for"]

_ERASE_BELOW = "\x1b[J"
PIPE_MARK = "[automatosx: the reply restarted after a failure; discard the text above]"
"""The line a restarted stream writes into a pipe (a terminal has the text erased instead)."""


def _key_vars(kind: str) -> str:
    from automatosx.providers._registry import provider_kind

    return " or ".join(provider_kind(kind).env_keys) or f"the API key of {kind}"


@contextlib.asynccontextmanager
async def providers_for(args: argparse.Namespace) -> AsyncIterator[list[ProviderConfig]]:
    """The providers of ``chat``/``health``: an emulator's (``--emulator``) or the
    environment's; every kind the command names must be among them, else a ConfigurationError
    naming the variable to set."""
    if args.emulator:
        from automatosx._demo import emulator_configs
        from automatosx.emulator import EmulatorServer, Scenario

        scenario = Scenario.from_file(args.scenario) if args.scenario else Scenario()
        async with EmulatorServer(scenario) as server:
            yield emulator_configs(server)
        return
    if getattr(args, "scenario", None):
        raise ConfigurationError("--scenario: only with --emulator (it scripts the emulator)")
    from automatosx.providers import providers_from_env

    configs = providers_from_env()
    if not configs:
        raise ConfigurationError(
            "no provider keys in the environment: set ANTHROPIC_API_KEY, OPENAI_API_KEY or "
            "GEMINI_API_KEY, or pass --emulator to try it offline"
        )
    configured = {c.name for c in configs}
    named = [("--provider", getattr(args, "provider", None))]
    named += [("--fallback", f) for f in getattr(args, "fallback", [])]
    for flag, kind in named:
        if kind is not None and kind not in configured:
            raise ConfigurationError(
                f"{flag} {kind}: no API key in the environment: set {_key_vars(kind)} "
                "(or pass --emulator)"
            )
    yield configs


def route_options(args: argparse.Namespace, configured: Sequence[str]) -> dict[str, Any]:
    """The router options of ``chat``: the primary, and the fallbacks the flags ask for."""
    primary = args.provider or configured[0]
    if args.fallback:
        fallbacks = [f for f in args.fallback if f != primary]
    elif args.provider:
        fallbacks = []  # --provider alone: that provider only
    else:
        fallbacks = [n for n in configured if n != primary]
    return {"primaryProvider": primary, "fallbackProviders": fallbacks}


def route_line(args: argparse.Namespace, options: dict[str, Any]) -> str:
    """What ``chat`` says on stderr before it sends: where the request goes."""
    fallbacks: list[str] = options["fallbackProviders"]
    if args.provider:
        head = f"route: {args.provider}"
    elif args.model:
        head = f"route: by model {args.model} (else {options['primaryProvider']})"
    else:
        head = f"route: {options['primaryProvider']}"
    if fallbacks:
        return f"{head}, falling back to {', '.join(fallbacks)}"
    return f"{head}, no fallback (add --fallback PROVIDER)"


def _terminal_width(stream: IO[str]) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns or 80
    except (OSError, ValueError, AttributeError):
        return 80


def _terminal_height(stream: IO[str]) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).lines or 24
    except (OSError, ValueError, AttributeError):
        return 24


def rows_of(text: str, width: int) -> int:
    """How many terminal rows ``text`` fills when written from column 0 at ``width``."""
    from rich.cells import cell_len

    return sum(max(1, math.ceil(cell_len(line) / width)) for line in text.split("\n"))


class StreamView:
    """Writes a stream's chunks as they come and honours ``restart=True``.

    On a terminal the text of the failed attempt is erased (the cursor goes back to where the
    reply began) and a dim note on stderr says the reply restarted; in a pipe, where nothing
    can be taken back, a :data:`PIPE_MARK` line follows the discarded text and the new reply
    starts on the next line."""

    def __init__(self, out: IO[str], err: IO[str]) -> None:
        self.out = out
        self.err = err
        self.tty = out.isatty()
        self.shown = ""
        self.restarts = 0

    def write(self, chunk: StreamChunk) -> None:
        if chunk.restart:
            self._restart(chunk)
        if chunk.chunk:
            self.out.write(chunk.chunk)
            self.out.flush()
            self.shown += chunk.chunk

    def _where(self, chunk: StreamChunk) -> str:
        deployment = getattr(chunk, "deployment", None)
        model = getattr(chunk, "model", None)
        return f" on {deployment}/{model}" if deployment and model else ""

    def _restart(self, chunk: StreamChunk) -> None:
        self.restarts += 1
        note = f"↻ the reply restarted{self._where(chunk)} after a failure mid-reply"
        rows = rows_of(self.shown, _terminal_width(self.out))
        if self.tty and rows < _terminal_height(self.out):
            up = f"\x1b[{rows - 1}A" if rows > 1 else ""
            self.out.write(f"\r{up}{_ERASE_BELOW}")
            self.out.flush()
            self.err.write(f"\x1b[2m{note}\x1b[0m\n")
            self.err.flush()
        else:
            if self.shown and not self.shown.endswith("\n"):
                self.out.write("\n")
            self.out.write(PIPE_MARK + "\n")
            self.out.flush()
            if not self.tty:
                self.err.write(note + "\n")
                self.err.flush()
        self.shown = ""

    def end(self) -> None:
        if not self.shown.endswith("\n"):
            self.out.write("\n")
            self.out.flush()


async def chat(args: argparse.Namespace, status: Any) -> int:
    """``automatosx chat``: one prompt, its reply on stdout, the route and figures on stderr."""
    from automatosx.router import Router

    messages: list[dict[str, str]] = []
    if args.system:
        messages.append({"role": "system", "content": args.system})
    messages.append({"role": "user", "content": args.prompt})
    request: dict[str, Any] = {"messages": messages}
    if args.provider:
        request["provider"] = args.provider
    if args.model:
        request["model"] = args.model
    if args.max_tokens:
        request["maxTokens"] = args.max_tokens
    async with providers_for(args) as configs:
        options = route_options(args, [c.name for c in configs])
        status.print(f"[dim]{route_line(args, options)}[/]", soft_wrap=True)
        async with Router(options, configs, store=args.db) as router:
            if args.stream:
                view = StreamView(sys.stdout, sys.stderr)
                stream = router.stream(request)
                async with stream:
                    async for chunk in stream:
                        view.write(chunk)
                view.end()
                response = stream.response
            else:
                response = await router.execute(request)
                sys.stdout.write(response.content + "\n")
    if response is not None:
        tokens = response.tokens
        cost = "?" if response.cost is None else f"${response.cost:.6f}"
        status.print(
            f"[dim]{response.provider}/{response.model} · {tokens.input_tokens} in / "
            f"{tokens.output_tokens} out · {response.duration} ms · {cost}[/]",
            soft_wrap=True,
        )
    return 0


async def health(args: argparse.Namespace, out: Any) -> int:
    """``automatosx health``: every configured provider checked; exit 1 if one is down."""
    from rich.table import Table

    from automatosx.router import Router

    async with providers_for(args) as configs:
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
    out.print(table)
    return 0 if all(h.status != "down" for h in results.values()) else 1
