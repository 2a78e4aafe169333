"""With `recordMessages: false` the database keeps a SHA-256 digest of the messages instead
of the messages: the prompt's text is nowhere in the database file or its WAL."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from automatosx.errors import RequestValidationError

if TYPE_CHECKING:
    from tests.e2e.conftest import Harness

SECRET = "zebra-umbrella-4711-confidential"
SYSTEM = "You are the keeper of the orchid-lighthouse-0093 password"
# The emulator quotes the first eight words of the last user message in its reply; the
# secret comes after them, so only the request itself could leak it.
PROMPT = f"Please answer briefly one small question about this: the passphrase is {SECRET}"


def database_bytes(db: Path) -> bytes:
    return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))


async def test_messages_are_stored_as_a_digest_and_the_prompt_is_nowhere_in_the_file(
    e2e: Harness,
) -> None:
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": PROMPT}]
    done = e2e.request(messages=messages)
    streamed = e2e.request(messages=messages)
    invalid = e2e.request(messages=messages, temperature=3)

    async with e2e.router("claude", ["gemini"], recordMessages=False) as router:
        reply = await router.execute(done)
        async with router.stream(streamed) as stream:
            await stream.text()
        with pytest.raises(RequestValidationError):
            await router.execute(invalid)

    assert SECRET not in reply.content
    rows = e2e.rows("SELECT id, messages, state FROM provider_requests")
    assert {r["id"] for r in rows} == {
        done["requestId"],
        streamed["requestId"],
        invalid["requestId"],
    }
    for row in rows:
        assert re.fullmatch(r"sha256:[0-9a-f]{64}", row["messages"]), row["messages"]
    # The digest is of the messages as they would have been stored.
    stored = json.dumps(messages, ensure_ascii=False, separators=(",", ":"))
    by_id = {r["id"]: r["messages"] for r in rows}
    assert by_id[done["requestId"]] == "sha256:" + hashlib.sha256(stored.encode()).hexdigest()

    data = database_bytes(e2e.db_path)
    assert data
    for needle in (SECRET, SYSTEM, "passphrase", "orchid-lighthouse"):
        assert needle.encode() not in data, f"{needle!r} found in the database files"


async def test_with_capture_on_the_messages_are_stored(e2e: Harness) -> None:
    req = e2e.request(PROMPT)

    async with e2e.router("claude", ["gemini"]) as router:
        await router.execute(req)

    row = e2e.request_row(req["requestId"])
    assert json.loads(row["messages"]) == [{"role": "user", "content": PROMPT}]
    assert SECRET.encode() in database_bytes(e2e.db_path)


async def test_with_chunk_capture_off_no_chunk_text_is_stored(e2e: Harness) -> None:
    req = e2e.request("Stream without keeping the pieces")

    async with e2e.router("claude", ["gemini"], recordStreamChunks=False) as router:
        stream = router.stream(req)
        async with stream:
            text = await stream.text()

    stored = e2e.rows(
        "SELECT chunk_content FROM stream_chunks WHERE request_id = ?", (req["requestId"],)
    )
    assert stored == []
    (response,) = e2e.rows(
        "SELECT content FROM provider_responses WHERE request_id = ?", (req["requestId"],)
    )
    assert response["content"] == text
