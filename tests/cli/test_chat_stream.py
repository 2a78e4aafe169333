"""``automatosx chat --stream`` keeps the stream contract when the primary fails mid-reply:
on a terminal the failed attempt's text is erased, in a pipe it is marked; either way the
reply the user is left with is the complete reply of the attempt that finished."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from automatosx._chat import PIPE_MARK
from automatosx.emulator import EmulatorServer, Rule, Scenario

from ._term import run_in_pty, run_piped

PROMPT = (
    "tell me about restarts: what a stream does when its provider fails after the first "
    "words, why a user must never see two replies glued together, and how a terminal "
    "takes text back"
)
# Claude's first answer breaks after 10 chunks (several rows at 80 columns), its retry after
# 3; the third attempt completes.
MID_REPLY = [
    Rule(provider="claude", request=1, stream_error_after=12, status=500),
    Rule(provider="claude", request=2, stream_error_after=3, status=500),
]


def _squeeze(text: str) -> str:
    return "".join(text.split())


@pytest.fixture
def claude_env() -> Iterator[tuple[EmulatorServer, dict[str, str]]]:
    """Claude from the environment (key and the SDK's base-URL variable), on an emulator
    whose first two streamed replies fail mid-reply."""
    with EmulatorServer(Scenario(list(MID_REPLY))) as server:
        env = {
            "ANTHROPIC_API_KEY": "sk-ant-test-key-0123456789",
            "ANTHROPIC_BASE_URL": server.anthropic_base_url,
        }
        yield server, env


@pytest.fixture
def full_reply() -> str:
    """What the emulator answers to PROMPT when nothing fails (its replies are fixed)."""
    with EmulatorServer() as server:
        env = {
            "ANTHROPIC_API_KEY": "sk-ant-test-key-0123456789",
            "ANTHROPIC_BASE_URL": server.anthropic_base_url,
        }
        result = run_piped(["chat", PROMPT, "--provider", "claude"], env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_piped_stream_marks_each_restart_and_ends_with_the_complete_reply(
    claude_env: tuple[EmulatorServer, dict[str, str]], full_reply: str
) -> None:
    _, env = claude_env
    result = run_piped(["chat", PROMPT, "--provider", "claude", "--stream"], env)
    assert result.returncode == 0, result.stderr
    parts = result.stdout.split(PIPE_MARK + "\n")
    assert len(parts) == 3  # two failed attempts, each marked
    first, second, final = parts
    assert full_reply.startswith(first.strip())  # what was shown, then taken back
    assert full_reply.startswith(second.strip())
    assert 0 < len(second.strip()) < len(first.strip()) < len(full_reply)
    assert final.strip() == full_reply
    assert result.stderr.count("the reply restarted") == 2
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("columns", [80, 120])
def test_terminal_stream_erases_what_a_failed_attempt_showed(
    claude_env: tuple[EmulatorServer, dict[str, str]], full_reply: str, columns: int
) -> None:
    _, env = claude_env
    run = run_in_pty(["chat", PROMPT, "--provider", "claude", "--stream"], columns, env)
    assert run.returncode == 0, run.raw
    first_attempt = run.raw.split("the reply restarted")[0]
    assert first_attempt.count("\x1b[J") == 1
    assert re.search(r"\r\x1b\[[1-9][0-9]*A\x1b\[J", first_attempt)  # it spanned rows
    screen = run.screen
    text = "\n".join(screen)
    assert text.count("Emulated reply from") == 1, text  # the failed attempts are gone
    assert PIPE_MARK not in text
    notes = [i for i, row in enumerate(screen) if "the reply restarted" in row]
    assert len(notes) == 2
    status = next(i for i, row in enumerate(screen) if row.startswith("claude/"))
    assert _squeeze("".join(screen[notes[-1] + 1 : status])) == _squeeze(full_reply)
    assert all(len(row) <= columns for row in screen)


def test_terminal_stream_without_failure_shows_the_reply_once(full_reply: str) -> None:
    run = run_in_pty(["chat", PROMPT, "--emulator", "--provider", "claude", "--stream"], 80)
    assert run.returncode == 0, run.raw
    assert "the reply restarted" not in run.raw
    reply_rows = [r for r in run.screen if r and not r.startswith(("route:", "claude/"))]
    assert _squeeze("".join(reply_rows)) == _squeeze(full_reply)
