"""``automatosx emulate`` answers a user's mistake with one line on stderr and exit 2."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from ._term import run_piped


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def _one_line_exit_2(args: list[str], *needles: str) -> str:
    result = run_piped(args, timeout=30)
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0]
    return lines[0]


def test_a_port_in_use_is_one_line(busy_port: int) -> None:
    _one_line_exit_2(["emulate", "--port", str(busy_port)], "--port", "already in use")


@pytest.mark.parametrize("port", ["99999", "-1"])
def test_a_port_out_of_range_is_one_line(port: str) -> None:
    _one_line_exit_2(["emulate", "--port", port], f"--port: {port} is not a TCP port")


def test_a_missing_scenario_file_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    _one_line_exit_2(["emulate", "--scenario", str(missing)], "--scenario", "no file")


@pytest.mark.parametrize(
    ("name", "text", "says"),
    [
        ("broken.json", '{"rules": [', "--scenario"),
        ("broken.toml", "[[rules]\nprovider = ", "--scenario"),
        ("keys.json", '{"rules": [{"provider": "claude", "statsu": 500}]}', "statsu"),
        ("top.json", '{"ruels": []}', "ruels"),
        ("list.json", "[1, 2]", "--scenario"),
        ("provider.json", '{"rules": [{"provider": "mistral"}]}', "mistral"),
    ],
)
def test_a_malformed_scenario_file_is_one_line(
    tmp_path: Path, name: str, text: str, says: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    _one_line_exit_2(["emulate", "--scenario", str(path)], path.name, says)


def test_chat_with_a_malformed_scenario_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text('{"rules": [{"provider": "claude", "bogus": 1}]}')
    _one_line_exit_2(["chat", "hi", "--emulator", "--scenario", str(path)], "bogus")


def test_emulate_help_shows_the_defaults() -> None:
    result = run_piped(["emulate", "--help"])
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "--host HOST address to listen on (default: 127.0.0.1)" in text
    assert "--port PORT TCP port (0: any free port) (default: 8765)" in text
    assert "--scenario" in text
