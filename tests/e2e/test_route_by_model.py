"""Route by model name: a request naming only its model goes to the group that serves it
(listed in a config's models, else the model's family), through the real SDKs against the
emulator; an ambiguous name is a RequestValidationError naming the groups, and recorded."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from automatosx import Router
from automatosx._routing.by_model import family_of
from automatosx.errors import RequestValidationError

if TYPE_CHECKING:
    from tests.e2e.conftest import Harness


async def send(router: Router, req: dict[str, Any], mode: str) -> tuple[str, str]:
    """The provider and model that answered."""
    if mode == "execute":
        reply = await router.execute(req)
    else:
        stream = router.stream(req)
        async with stream:
            async for _ in stream:
                pass
        reply = stream.response
        assert reply is not None
    return reply.provider, reply.model


@pytest.mark.parametrize("mode", ["execute", "stream"])
@pytest.mark.parametrize(
    ("model", "served_by"),
    [
        ("gpt-4o", "openai"),  # no config lists it: the gpt-* family
        ("o3-mini", "openai"),
        ("gemini-2.5-pro", "gemini"),
        ("gemini-2.5-flash", "gemini"),  # listed by gemini's config
        ("claude-haiku-4-5", "claude"),  # the primary's own family
    ],
)
async def test_a_model_name_alone_goes_to_its_provider(
    e2e: Harness, mode: str, model: str, served_by: str
) -> None:
    req = e2e.request("Which of you?", model=model)
    async with e2e.router("claude", ["gemini"]) as router:
        assert await send(router, req, mode) == (served_by, model)
    counts = e2e.scenario.counts()
    assert counts[served_by] == 1
    assert sum(counts.values()) == 1  # straight there, no failed try at the primary


async def test_a_model_nobody_knows_goes_to_the_primary(e2e: Harness) -> None:
    req = e2e.request("Which of you?", model="my-fine-tune")
    async with e2e.router("claude", ["gemini"]) as router:
        await router.execute(req)  # the emulated claude does not know it: gemini answers
    assert e2e.count("claude") == 1
    assert e2e.count("openai") == 0


async def test_a_named_provider_wins_over_the_model_name(e2e: Harness) -> None:
    req = e2e.request("Gemini, please", provider="gemini", model="gemini-2.5-flash")
    async with e2e.router("claude", ["openai"]) as router:
        assert await send(router, req, "execute") == ("gemini", "gemini-2.5-flash")
    req = e2e.request("as configured", model="claude-sonnet-4-6")
    async with e2e.router("openai", []) as router:
        assert await send(router, req, "execute") == ("claude", "claude-sonnet-4-6")


async def test_the_target_keeps_the_routers_fallbacks(e2e: Harness) -> None:
    from automatosx.emulator import Rule

    e2e.scenario.add(Rule(provider="openai", status=503))
    req = e2e.request("fall back", model="gpt-4o")
    async with e2e.router("claude", ["gemini"]) as router:
        provider, _ = await send(router, req, "execute")
    assert provider == "gemini"  # openai first, then the router's fallback
    assert e2e.count("openai") == 1
    assert e2e.count("claude") == 0


async def test_a_model_listed_by_one_group_goes_to_that_group(e2e: Harness) -> None:
    eu = e2e.config("openai", id="openai-eu", models=["gpt-4.1"], default_model="gpt-4.1")
    us = e2e.config("openai", id="openai-us", models=["gpt-4o-mini"])
    claude = e2e.config("claude")
    opts = {"primaryProvider": "claude"}
    async with Router(opts, [claude, eu, us], store=e2e.store_url) as router:
        assert await send(router, e2e.request(model="gpt-4.1"), "execute") == (
            "openai-eu",
            "gpt-4.1",
        )
        assert await send(router, e2e.request(model="gpt-4o-mini"), "stream") == (
            "openai-us",
            "gpt-4o-mini",
        )


@pytest.mark.parametrize("mode", ["execute", "stream"])
@pytest.mark.parametrize(
    ("model", "why"),
    [("gpt-4o-mini", "list it in their models"), ("gpt-4o", "are of kind openai")],
)
async def test_an_ambiguous_model_name_is_a_typed_error_and_recorded(
    e2e: Harness, mode: str, model: str, why: str
) -> None:
    eu = e2e.config("openai", id="openai-eu")
    us = e2e.config("openai", id="openai-us")
    claude = e2e.config("claude")
    req = e2e.request("which openai?", model=model)
    async with Router({"primaryProvider": "claude"}, [claude, eu, us], store=e2e.store_url) as r:
        with pytest.raises(RequestValidationError) as caught:
            await send(r, req, mode)
    message = str(caught.value)
    assert f"model: {model!r} is ambiguous" in message
    assert "openai-eu, openai-us" in message
    assert why in message
    assert "provider" in message  # the fix
    assert e2e.scenario.counts() == {"claude": 0, "gemini": 0, "openai": 0}
    row = await e2e.stored(req["requestId"])
    assert (row.request.state, row.request.error_code) == ("failed", "VALIDATION_ERROR")
    assert row.request.error is not None
    assert "ambiguous" in row.request.error


async def test_one_group_of_several_deployments_is_not_ambiguous(e2e: Harness) -> None:
    eu = e2e.config("openai", id="openai-eu", group="openai")
    us = e2e.config("openai", id="openai-us", group="openai")
    claude = e2e.config("claude")
    async with Router({"primaryProvider": "claude"}, [claude, eu, us]) as router:
        provider, model = await send(router, e2e.request(model="gpt-4o"), "execute")
    assert (provider in {"openai-eu", "openai-us"}, model) == (True, "gpt-4o")


@pytest.mark.parametrize(
    ("model", "kind"),
    [("claude-opus-4-1", "claude"), ("gpt-5", "openai"), ("chatgpt-4o-latest", "openai"),
     ("o1", "openai"), ("o4-mini", "openai"), ("gemini-3-pro", "gemini"),
     ("omni-moderation", None), ("llama-3", None)],
)  # fmt: skip
def test_model_families(model: str, kind: str | None) -> None:
    assert family_of(model) == kind
