"""``make demo`` installs only requirements/runtime.lock, ``make test`` the full dev lock, and
a venv made by one is never mistaken for the other's (dry runs of the real Makefile)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==(\S+)", re.M)
DEMO_EXTRAS = ("claude", "openai", "gemini", "emulator")


def _pins(path: Path) -> dict[str, str]:
    return {name.lower().replace("_", "-"): v for name, v in PIN.findall(path.read_text())}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_the_runtime_lock_is_the_dev_locks_pins_for_what_the_demo_imports() -> None:
    runtime = _pins(ROOT / "requirements/runtime.lock")
    dev = _pins(ROOT / "requirements/dev.lock")
    assert runtime.items() <= dev.items()  # same versions: make test only adds
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    needed = [*project["dependencies"]]
    for extra in DEMO_EXTRAS:
        needed += project["optional-dependencies"][extra]
    direct = {_name(r) for r in needed if "python_version < '3.11'" not in r}
    assert direct | {"maturin"} <= set(runtime)
    for heavy in ("litellm", "langchain-openai", "pytest", "mypy", "mkdocs-material", "boto3"):
        assert heavy not in runtime
    assert len(runtime) < len(dev) / 3


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """The Makefile and the locks in an empty directory with a fake .venv/bin/python."""
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    shutil.copytree(ROOT / "requirements", tmp_path / "requirements")
    (tmp_path / ".venv/bin").mkdir(parents=True)
    (tmp_path / ".venv/bin/python").touch()
    return tmp_path


def _dry_run(where: Path, target: str) -> str:
    if shutil.which("make") is None:
        pytest.fail("make is not installed")
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "VIRTUAL_ENV")}
    result = subprocess.run(
        ["make", "-n", target], cwd=where, capture_output=True, text=True, env=env, check=True
    )
    return result.stdout


def _installs(commands: str) -> list[str]:
    return re.findall(r"-r (requirements/\S+\.lock)", commands)


def test_make_demo_installs_only_the_runtime_lock(checkout: Path) -> None:
    commands = _dry_run(checkout, "demo")
    assert _installs(commands) == ["requirements/runtime.lock"]
    assert "maturin develop -q --skip-install" in commands
    assert "automatosx.cli demo" in commands


def test_make_test_completes_a_venv_that_make_demo_made(checkout: Path) -> None:
    marker = checkout / ".venv/.runtime"
    marker.touch()
    later = time.time() + 5
    os.utime(marker, (later, later))  # newer than the locks: the demo's install is done
    assert _installs(_dry_run(checkout, "demo")) == []
    assert _installs(_dry_run(checkout, "test")) == ["requirements/dev.lock"]


def test_a_full_venv_serves_the_demo_without_a_second_install(checkout: Path) -> None:
    later = time.time() + 5
    for marker in (".installed", ".runtime"):
        path = checkout / ".venv" / marker
        path.touch()
        os.utime(path, (later, later))
    assert _installs(_dry_run(checkout, "demo")) == []
    assert _installs(_dry_run(checkout, "install")) == []
