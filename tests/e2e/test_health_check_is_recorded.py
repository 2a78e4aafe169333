"""`check_health()` asks every configured provider (a models call through its SDK) and
records each answer in provider_health; a rejected key reads as down, with the reason and
without the key."""

from __future__ import annotations

from typing import TYPE_CHECKING

from automatosx.emulator import Scenario

if TYPE_CHECKING:
    from tests.e2e.conftest import Harness


async def test_all_emulated_providers_are_healthy_and_recorded(e2e: Harness) -> None:
    async with e2e.router("claude", ["gemini", "openai"]) as router:
        health = await router.check_health()

    assert set(health) == {"claude", "gemini", "openai"}
    for name, h in health.items():
        assert h.provider == name
        assert h.status == "healthy", h.error
        assert h.error is None
        assert h.latency is not None
        assert h.latency >= 0
    # A health check is not a generation request.
    assert e2e.scenario.counts() == {"claude": 0, "gemini": 0, "openai": 0}
    rows = e2e.rows("SELECT * FROM provider_health ORDER BY provider")
    assert [(r["provider"], r["status"], r["error_message"]) for r in rows] == [
        ("claude", "healthy", None),
        ("gemini", "healthy", None),
        ("openai", "healthy", None),
    ]
    for row in rows:
        assert row["latency"] == health[row["provider"]].latency
        assert row["checked_at"] == health[row["provider"]].last_checked


async def test_a_rejected_api_key_is_recorded_as_down_without_the_key(e2e: Harness) -> None:
    wrong_key = "sk-wrong-key-9876543210zyxwvutsrq"
    scenario = Scenario(api_keys=["sk-test-e2e-0123456789abcdefghij"])
    e2e.emulator.app.state.scenario = e2e.scenario = scenario

    async with e2e.router("claude", ["gemini"], providers={"openai": {"api_key": wrong_key}}) as r:
        health = await r.check_health()

    assert health["claude"].status == "healthy"
    assert health["gemini"].status == "healthy"
    assert health["openai"].status == "down"
    assert health["openai"].error
    (row,) = e2e.rows("SELECT * FROM provider_health WHERE provider = 'openai'")
    assert row["status"] == "down"
    assert row["error_message"]
    assert "401" in row["error_message"]
    assert wrong_key not in row["error_message"]
