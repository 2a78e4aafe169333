"""One owner of a request's state: only ``_routing/run.py`` (and its streamed subclass in
``streamed.py``) drives the state machine or writes a ``Run``'s fields or a deployment's
in-flight count; the stream wrapper, the attempt loop and the hedge race do I/O and call
the Run. Read from the source, so a new writer elsewhere fails here."""

from __future__ import annotations

import ast
from pathlib import Path

import automatosx
from automatosx._routing.run import Run

PACKAGE = Path(automatosx.__file__).parent
OWNERS = {"_routing/run.py", "_routing/streamed.py"}
RUN_FIELDS = set(Run.__slots__)


def _sources() -> dict[str, ast.Module]:
    return {
        str(path.relative_to(PACKAGE)): ast.parse(path.read_text())
        for path in PACKAGE.rglob("*.py")
    }


def _written_attributes(tree: ast.Module) -> list[ast.Attribute]:
    found: list[ast.Attribute] = []
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        for target in targets:
            for sub in ast.walk(target):
                if isinstance(sub, ast.Attribute):
                    found.append(sub)
    return found


def test_only_the_run_drives_the_state_machine() -> None:
    drivers = set()
    for name, tree in _sources().items():
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "transition"
            ):
                drivers.add(name)
    assert drivers <= OWNERS, sorted(drivers - OWNERS)
    assert drivers == OWNERS


def test_no_other_module_writes_a_run_field() -> None:
    writers = {}
    for name, tree in _sources().items():
        if name in OWNERS:
            continue
        for attr in _written_attributes(tree):
            holder = attr.value
            if isinstance(holder, ast.Name) and holder.id == "run" and attr.attr in RUN_FIELDS:
                writers[name] = attr.attr
    assert writers == {}


def test_only_the_run_counts_attempts_in_flight() -> None:
    writers = set()
    for name, tree in _sources().items():
        for attr in _written_attributes(tree):
            holder = attr.value
            initialising = isinstance(holder, ast.Name) and holder.id == "self"  # MemberStats
            if attr.attr == "in_flight" and not initialising:
                writers.add(name)
    assert writers == {"_routing/run.py"}
