"""Request ids: random version-4 UUIDs, read from os.urandom in blocks, never repeated by a
forked child (a child's ids would otherwise be its parent's next ones)."""

from __future__ import annotations

import os
import re
import sys

import pytest

from automatosx.schemas import ProviderRequest

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def new_id() -> str:
    return ProviderRequest.model_validate(
        {"messages": [{"role": "user", "content": "x"}]}
    ).request_id


def test_ids_are_version_4_uuids_and_distinct_across_blocks() -> None:
    ids = [new_id() for _ in range(1_000)]  # several blocks of 256
    assert all(UUID4.match(i) for i in ids)
    assert len(set(ids)) == len(ids)


@pytest.mark.skipif(sys.platform == "win32", reason="os.fork")
def test_a_forked_child_does_not_repeat_its_parents_next_ids() -> None:
    new_id()  # a block is read and partly used before the fork
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, then out
        try:
            os.write(write, ",".join(new_id() for _ in range(5)).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = set(pipe.read().split(","))
    os.waitpid(pid, 0)
    parent = {new_id() for _ in range(5)}
    assert len(child) == 5
    assert not child & parent
