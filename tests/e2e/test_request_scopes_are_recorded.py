"""A request's ``tenant`` and ``user`` (the budgets' and cache's scopes) are recorded in its
row (columns ``tenant`` and ``end_user``, SQLite migration 005), through the real router and
SDK against the emulator; a request without them records NULLs."""

from __future__ import annotations

from tests.e2e.conftest import Harness


async def test_tenant_and_user_are_recorded_with_the_request(e2e: Harness) -> None:
    scoped = e2e.request(tenant="acme", user="user-7")
    plain = e2e.request()
    async with e2e.router() as router:
        await router.execute(scoped)
        async with router.stream({**plain, "stream": True}) as stream:
            async for _ in stream:
                pass
    row = e2e.request_row(scoped["requestId"])
    assert (row["state"], row["tenant"], row["end_user"]) == ("completed", "acme", "user-7")
    assert row["owner"]  # the store process that wrote it (orphans are finalised by owner)
    stored = await e2e.stored(scoped["requestId"])
    assert (stored.request.tenant, stored.request.user) == ("acme", "user-7")
    other = e2e.request_row(plain["requestId"])
    assert (other["tenant"], other["end_user"]) == (None, None)
