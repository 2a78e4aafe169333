"""Run the real ``automatosx`` command in a subprocess: through pipes, or in a pseudo-terminal
of a given width whose output is replayed on a small screen model (what a user would see)."""

from __future__ import annotations

import errno
import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import automatosx

PYTHON_DIR = str(Path(automatosx.__file__).parent.parent)
_CSI = re.compile(r"\x1b\[([0-9;?]*)([A-Za-z])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
_KEY_VARS = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY")


def command() -> list[str]:
    """The installed console script when the venv has one (run with this checkout on
    PYTHONPATH), else ``python -m automatosx.cli``."""
    script = Path(sys.executable).with_name("automatosx")
    return [str(script)] if script.exists() else [sys.executable, "-m", "automatosx.cli"]


def environ(extra: Mapping[str, str] | None = None, *, keys: bool = False) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS" and k != "LINES"}
    if not keys:
        for var in _KEY_VARS:
            env.pop(var, None)
    env["PYTHONPATH"] = PYTHON_DIR + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("NO_COLOR", None)
    env.update(extra or {})
    return env


def run_piped(
    args: Sequence[str], env: Mapping[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*command(), *args],
        capture_output=True,
        text=True,
        env=environ(env),
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


@dataclass
class TermRun:
    returncode: int
    raw: str
    """Everything written to the terminal (stdout and stderr), escapes included."""
    screen: list[str]
    """The rows a user sees at the end, trailing blanks stripped."""


def run_in_pty(
    args: Sequence[str],
    columns: int,
    env: Mapping[str, str] | None = None,
    rows: int = 200,
    timeout: float = 60,
) -> TermRun:
    """Run the command with stdin, stdout and stderr on a pseudo-terminal of ``columns``."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    proc = subprocess.Popen(
        [*command(), *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=environ({"TERM": "xterm-256color", **(env or {})}),
        close_fds=True,
    )
    os.close(slave)
    chunks: list[bytes] = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError as exc:  # EIO: the child closed the terminal
            if exc.errno != errno.EIO:
                raise
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    code = proc.wait(timeout=timeout)
    raw = b"".join(chunks).decode("utf-8", "replace")
    return TermRun(code, raw, Screen(columns).feed(raw).rows())


class Screen:
    """Enough of a terminal for what the CLI writes: text with auto-wrap, CR, LF, cursor up
    (CSI A), erase below (CSI J), erase line (CSI K); colours and other escapes ignored."""

    def __init__(self, columns: int) -> None:
        self.columns = columns
        self.cells: dict[int, list[str]] = {}
        self.row = 0
        self.col = 0
        self.pending_wrap = False

    def _put(self, ch: str) -> None:
        if self.pending_wrap:
            self.row, self.col, self.pending_wrap = self.row + 1, 0, False
        line = self.cells.setdefault(self.row, [" "] * self.columns)
        line[self.col] = ch
        if self.col == self.columns - 1:
            self.pending_wrap = True
        else:
            self.col += 1

    def _csi(self, params: str, final: str) -> None:
        n = int(params) if params.isdigit() else 0
        if final == "A":
            self.row = max(0, self.row - max(n, 1))
            self.pending_wrap = False
        elif final == "J" and n == 0:
            line = self.cells.get(self.row)
            if line is not None:
                line[self.col :] = [" "] * (self.columns - self.col)
            for r in [r for r in self.cells if r > self.row]:
                del self.cells[r]
        elif final == "K" and n == 0:
            line = self.cells.get(self.row)
            if line is not None:
                line[self.col :] = [" "] * (self.columns - self.col)
        elif final == "G":
            self.col, self.pending_wrap = max(n, 1) - 1, False

    def feed(self, text: str) -> Screen:
        pos = 0
        while pos < len(text):
            match = _CSI.match(text, pos)
            if match:
                if match.group(2):
                    self._csi(match.group(1), match.group(2))
                pos = match.end()
                continue
            ch = text[pos]
            pos += 1
            if ch == "\r":
                self.col, self.pending_wrap = 0, False
            elif ch == "\n":
                self.row, self.pending_wrap = self.row + 1, False
            elif ch == "\x1b" or ord(ch) < 32:
                continue
            else:
                self._put(ch)
        return self

    def rows(self) -> list[str]:
        last = max(self.cells, default=-1)
        return ["".join(self.cells.get(r, [])).rstrip() for r in range(last + 1)]
