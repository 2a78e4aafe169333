"""``automatosx chat``/``health`` say where a request goes, name the variable of a missing
key, route by model name, and run against an emulator with ``--emulator``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from automatosx.emulator import EmulatorServer

from ._term import run_in_pty, run_piped

CLAUDE_KEY = "sk-ant-test-key-0123456789"


def _status(stderr: str) -> str:
    """The last stderr line: ``provider/model · in / out · ms · cost``."""
    return stderr.strip().splitlines()[-1]


def test_provider_alone_does_not_fall_back_and_says_so(tmp_path: Path) -> None:
    scenario = tmp_path / "down.json"
    scenario.write_text(json.dumps({"rules": [{"provider": "claude", "status": 500}]}))
    result = run_piped(
        ["chat", "hi", "--emulator", "--scenario", str(scenario), "--provider", "claude"]
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "route: claude, no fallback (add --fallback PROVIDER)"
    assert lines[-1].startswith("error: ")
    assert "Traceback" not in result.stderr


def test_fallbacks_are_said_and_used_in_order(tmp_path: Path) -> None:
    scenario = tmp_path / "down.json"
    scenario.write_text(json.dumps({"rules": [{"provider": "claude", "status": 500}]}))
    args = ["chat", "hi", "--emulator", "--scenario", str(scenario), "--provider", "claude"]
    result = run_piped([*args, "--fallback", "openai", "--fallback", "gemini"])
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[0] == "route: claude, falling back to openai, gemini"
    assert _status(result.stderr).startswith("openai/gpt-4o-mini · ")


def test_no_provider_falls_back_to_every_other_and_says_so() -> None:
    result = run_piped(["chat", "hi", "--emulator"])
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[0] == "route: claude, falling back to openai, gemini"
    assert _status(result.stderr).startswith("claude/claude-sonnet-4-6 · ")


@pytest.mark.parametrize(
    ("model", "served"), [("gpt-4o", "openai/gpt-4o"), ("gemini-2.5-pro", "gemini/gemini-2.5-pro")]
)
def test_a_model_alone_goes_to_its_provider(model: str, served: str) -> None:
    result = run_piped(["chat", "hi", "--emulator", "--model", model])
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[0].startswith(f"route: by model {model}")
    assert _status(result.stderr).startswith(f"{served} · ")


def test_a_missing_key_names_the_variable_to_set() -> None:
    with EmulatorServer() as server:
        env = {"ANTHROPIC_API_KEY": CLAUDE_KEY, "ANTHROPIC_BASE_URL": server.anthropic_base_url}
        result = run_piped(["chat", "hi", "--provider", "claude", "--fallback", "openai"], env)
        assert result.returncode == 2
        assert result.stderr.strip() == (
            "error: --fallback openai: no API key in the environment: set OPENAI_API_KEY "
            "(or pass --emulator)"
        )
        result = run_piped(["chat", "hi", "--provider", "gemini"], env)
        assert result.returncode == 2
        assert "set GOOGLE_API_KEY or GEMINI_API_KEY" in result.stderr


def test_scenario_needs_the_emulator(tmp_path: Path) -> None:
    scenario = tmp_path / "s.json"
    scenario.write_text("{}")
    with EmulatorServer() as server:
        env = {"ANTHROPIC_API_KEY": CLAUDE_KEY, "ANTHROPIC_BASE_URL": server.anthropic_base_url}
        result = run_piped(["chat", "hi", "--scenario", str(scenario)], env)
    assert result.returncode == 2
    assert "--scenario: only with --emulator" in result.stderr


@pytest.mark.parametrize("columns", [80, 120])
def test_health_against_the_emulator_in_a_terminal(columns: int) -> None:
    run = run_in_pty(["health", "--emulator"], columns)
    assert run.returncode == 0, run.raw
    rows = [" ".join(r.replace("│", " ").split()) for r in run.screen]
    for name in ("claude", "gemini", "openai"):
        assert any(r.startswith(f"{name} healthy") for r in rows), rows
    assert all(len(r) <= columns for r in run.screen)


def test_chat_in_a_terminal_at_80_columns_shows_the_reply_and_the_route() -> None:
    run = run_in_pty(["chat", "hello", "--emulator", "--model", "gpt-4o"], 80)
    assert run.returncode == 0, run.raw
    assert run.screen[0].startswith("route: by model gpt-4o")
    assert any(r.startswith("Emulated reply from gpt-4o") for r in run.screen)
    assert run.screen[-1].startswith("openai/gpt-4o · ")


@pytest.mark.parametrize(
    ("kind", "key", "url", "base"),
    [
        ("claude", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "anthropic_base_url"),
        ("openai", "OPENAI_API_KEY", "OPENAI_BASE_URL", "openai_base_url"),
        ("gemini", "GEMINI_API_KEY", "GOOGLE_GEMINI_BASE_URL", "gemini_base_url"),
    ],
)
def test_the_documented_base_url_variables_point_chat_elsewhere(
    kind: str, key: str, url: str, base: str
) -> None:
    with EmulatorServer() as server:
        env = {key: "sk-test-key-0123456789", url: getattr(server, base)}
        result = run_piped(["chat", "hi", "--provider", kind], env)
        assert server.scenario.count(kind) == 1
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Emulated reply from")
