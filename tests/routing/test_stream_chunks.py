"""A streamed chunk is built from its attempt's template (two calls a chunk fewer than
``StreamChunk._chunk``): it must be the very model ``_chunk`` makes, field for field."""

from __future__ import annotations

from tests.router.conftest import REQUEST, ScriptedProvider

from automatosx import Router, StreamChunk


async def test_each_streamed_chunk_is_what_streamchunk_chunk_makes() -> None:
    provider = ScriptedProvider("claude", [["a", "b", "c"]])
    async with Router({"primaryProvider": "claude"}, providers=[provider]) as router:
        chunks = [chunk async for chunk in router.stream(REQUEST)]
    texts = chunks[:-1]
    assert [c.chunk for c in texts] == ["a", "b", "c"]
    for i, chunk in enumerate(texts):
        made = StreamChunk._chunk(
            chunk.request_id, i, chunk.chunk, False, chunk.timestamp, ("claude", "m-1", 1)
        )
        assert chunk.__dict__ == made.__dict__
        assert list(chunk.__dict__) == list(made.__dict__)
        assert chunk.model_fields_set == made.model_fields_set
        assert chunk == made
        assert chunk.model_dump(by_alias=True) == made.model_dump(by_alias=True)
    assert len({id(c.__dict__) for c in texts}) == len(texts)  # no shared state
    assert len({id(c.model_fields_set) for c in texts}) == len(texts)
