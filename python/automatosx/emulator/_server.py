"""Serve the emulator on a real socket: in a background thread, or blocking for the CLI."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from pathlib import Path
from types import TracebackType

import uvicorn
from starlette.applications import Starlette

from automatosx.emulator._app import create_app
from automatosx.emulator._responses import DroppedConnection
from automatosx.emulator._scenario import Scenario

__all__ = ["EmulatorBindError", "EmulatorServer", "banner", "serve"]

_START_TIMEOUT = 10.0


class _HideScriptedDrops(logging.Filter):
    """uvicorn logs an app exception with a traceback; a scripted drop is not worth one."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, DroppedConnection)


def _quiet_scripted_drops() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _HideScriptedDrops) for f in logger.filters):
        logger.addFilter(_HideScriptedDrops())


class EmulatorBindError(OSError):
    """The emulator cannot listen where it was asked: the port is in use or out of range
    (0-65535), or the host is not an address of this machine. One line, naming both."""


def _bind(host: str, port: int) -> socket.socket:
    where = f"cannot listen on {host}:{port}"
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65_535:
        raise EmulatorBindError(f"{where}: port must be an integer from 0 to 65535")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on accepted sockets whose proto
    # says TCP. Without it every keep-alive reply waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except (OSError, OverflowError, UnicodeError) as error:
        sock.close()
        reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
        raise EmulatorBindError(f"{where}: {reason}") from None
    sock.setblocking(False)
    return sock


def _config(app: Starlette, host: str, port: int, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="off",
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=1,
        timeout_keep_alive=30,
    )


class EmulatorServer:
    """The emulator on loopback, run by uvicorn in a background thread.

        with EmulatorServer(Scenario.random(0.2, seed=1)) as srv:        # or `async with`
            anthropic.Anthropic(api_key="k", base_url=srv.anthropic_base_url)
            openai.OpenAI(api_key="k", base_url=srv.openai_base_url)
            genai.Client(api_key="k",
                         http_options=types.HttpOptions(base_url=srv.gemini_base_url))

    `port=0` picks a free port; `srv.port` tells which. `srv.scenario` is the live scenario.
    """

    def __init__(
        self,
        app_or_scenario: Starlette | Scenario | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        log_level: str = "warning",
    ) -> None:
        if isinstance(app_or_scenario, Starlette):
            self.app = app_or_scenario
        else:
            self.app = create_app(app_or_scenario)
        self.host = host
        self._requested_port = port
        self._log_level = log_level
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def scenario(self) -> Scenario:
        scenario: Scenario = self.app.state.scenario
        return scenario

    @property
    def port(self) -> int:
        if self._socket is None:
            raise RuntimeError("the emulator server is not started")
        port: int = self._socket.getsockname()[1]
        return port

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def anthropic_base_url(self) -> str:
        """For anthropic's `base_url` (the SDK appends /v1/messages)."""
        return self.base_url

    @property
    def openai_base_url(self) -> str:
        """For openai's `base_url` (the SDK appends /chat/completions)."""
        return self.base_url + "/v1"

    @property
    def gemini_base_url(self) -> str:
        """For google-genai's `HttpOptions(base_url=...)` (it appends /{api_version}/models/...)."""
        return self.base_url

    @property
    def gemini_v1beta_url(self) -> str:
        """For clients that want Gemini's versioned root (they append /models/...)."""
        return self.base_url + "/v1beta"

    @property
    def azure_endpoint(self) -> str:
        """For openai's `AzureOpenAI(azure_endpoint=...)` (it appends /openai/deployments/...)."""
        return self.base_url

    @property
    def vertex_base_url(self) -> str:
        """For google-genai with `vertexai=True` and an API key (express mode):
        `HttpOptions(base_url=...)`; it appends /v1beta1/publishers/google/models/..."""
        return self.base_url

    def start(self) -> EmulatorServer:
        """Bind, start serving in a daemon thread, and return once it accepts connections."""
        if self._thread is not None:
            raise RuntimeError("the emulator server is already started")
        _quiet_scripted_drops()
        self._socket = _bind(self.host, self._requested_port)
        server = uvicorn.Server(_config(self.app, self.host, self.port, self._log_level))
        self._server = server
        self._thread = threading.Thread(
            target=server.run,
            kwargs={"sockets": [self._socket]},
            name="automatosx-emulator",
            daemon=True,
        )
        self._thread.start()
        deadline = threading.Event()
        for _ in range(int(_START_TIMEOUT / 0.01)):
            if server.started or not self._thread.is_alive():
                break
            deadline.wait(0.01)
        if not server.started:
            self.stop()
            raise RuntimeError("the emulator server did not start")
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread (open streams get about a second)."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=_START_TIMEOUT)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = None
        self._socket = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> EmulatorServer:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)


def banner(base: str, scenario_path: str | Path | None = None) -> list[str]:
    """The lines `serve` prints: the URL each kind of client needs to reach this emulator."""
    lines = [
        f"automatosx emulator listening on {base}",
        f"  anthropic base_url: {base}  (anthropic.Anthropic(base_url=...))",
        f"  openai    base_url: {base}/v1  (openai.OpenAI(base_url=...))",
        f"  gemini    base_url: {base}  (google-genai HttpOptions(base_url=...))",
        f"  gemini    v1beta:   {base}/v1beta  (clients that want the versioned root)",
        f"  azure     endpoint: {base}  (openai.AzureOpenAI(azure_endpoint=..., "
        "api_version=..., api_key=...))",
        f"  vertex    base_url: {base}  (google-genai Client(vertexai=True, api_key=..., "
        "http_options=HttpOptions(base_url=...)))",
    ]
    if scenario_path is not None:
        lines.append(f"  scenario: {scenario_path}")
    return lines


def serve(
    host: str = "127.0.0.1", port: int = 8765, scenario_path: str | Path | None = None
) -> None:
    """Serve the emulator until interrupted (Ctrl-C), printing the SDK base URLs first.

    Backs `automatosx emulate --port N --scenario file.toml`. Before printing anything it
    raises `ScenarioError` for a scenario file it cannot load and `EmulatorBindError` for an
    address it cannot listen on (both one line).
    """
    scenario = Scenario.from_file(scenario_path) if scenario_path is not None else Scenario()
    app = create_app(scenario)
    _quiet_scripted_drops()
    sock = _bind(host, port)
    shown = f"[{host}]" if ":" in host else host
    base = f"http://{shown}:{sock.getsockname()[1]}"
    for line in banner(base, scenario_path):
        print(line, flush=True)
    try:
        uvicorn.Server(_config(app, host, sock.getsockname()[1], "info")).run(sockets=[sock])
    finally:
        sock.close()
