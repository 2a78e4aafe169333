"""Prices of cache reads/writes and reasoning tokens: the same totals as genai-prices'
calc_price, cache tokens at their own rates (the input rate where a model has none), and
CostMetrics showing the breakdown."""

from __future__ import annotations

import pytest
from genai_prices import Usage, calc_price

from automatosx.pricing import PriceBook, Rates
from automatosx.schemas import ModelPrice, ProviderResponse, TokenUsage

RID = "00000000-0000-4000-8000-000000000000"


def usage(**fields: int) -> TokenUsage:
    values = {"input_tokens": 10_000, "output_tokens": 800, **fields}
    return TokenUsage(total_tokens=values["input_tokens"] + values["output_tokens"], **values)


@pytest.mark.parametrize(
    ("provider", "model", "genai_provider"),
    [
        ("claude", "claude-sonnet-4-5", "anthropic"),
        ("openai", "gpt-4o", "openai"),
        ("gemini", "gemini-2.5-flash", "google"),
    ],
)
@pytest.mark.parametrize(
    "details",
    [
        {},
        {"cached_input_tokens": 6_000},
        {"cached_input_tokens": 3_000, "cache_write_tokens": 2_000},
    ],
)
def test_cost_matches_genai_prices(
    provider: str, model: str, genai_provider: str, details: dict[str, int]
) -> None:
    tokens = usage(**details, reasoning_tokens=500)
    rates = PriceBook().rates(provider, model)
    assert rates is not None
    # A model with no cache-write price bills those tokens as plain input (documented): the
    # same as genai-prices with no cache writes at all (they are part of the input tokens).
    writes = tokens.cache_write_tokens if rates.cache_write is not None else 0
    want = calc_price(
        Usage(
            input_tokens=tokens.input_tokens,
            output_tokens=tokens.output_tokens,
            cache_read_tokens=tokens.cached_input_tokens,
            cache_write_tokens=writes,
        ),
        model,
        provider_id=genai_provider,
    ).total_price
    assert PriceBook().cost(provider, model, tokens) == pytest.approx(float(want))


def test_cached_tokens_cost_less_than_fresh_ones() -> None:
    book = PriceBook()
    fresh = book.cost("claude", "claude-sonnet-4-5", usage())
    cached = book.cost("claude", "claude-sonnet-4-5", usage(cached_input_tokens=9_000))
    assert fresh is not None
    assert cached is not None
    assert cached < fresh


def test_reasoning_tokens_are_billed_as_the_output_they_are_part_of() -> None:
    book = PriceBook()
    plain = book.cost("openai", "gpt-4o", usage())
    assert book.cost("openai", "gpt-4o", usage(reasoning_tokens=700)) == plain


def test_a_model_without_cache_rates_bills_cached_tokens_at_the_input_rate() -> None:
    book = PriceBook(
        {"openai": {"mine": ModelPrice(input_cost_per_token=1e-6, output_cost_per_token=2e-6)}}
    )
    assert book.cost("openai", "mine", usage(cached_input_tokens=4_000)) == pytest.approx(
        10_000 * 1e-6 + 800 * 2e-6
    )


def test_cache_rates_follow_the_prompt_tier() -> None:
    rates = Rates(1.0, 2.0, ((100, 10.0),), (), cache_read=0.1, cache_read_tiers=((100, 1.0),))
    assert rates.cache_for_prompt(50) == (0.1, 1.0)  # no write rate: the input rate
    assert rates.cache_for_prompt(150) == (1.0, 10.0)


def test_cost_metrics_show_cache_and_reasoning_details() -> None:
    tokens = usage(cached_input_tokens=6_000, cache_write_tokens=1_000, reasoning_tokens=300)
    response = ProviderResponse(
        request_id=RID, provider="claude", model="claude-sonnet-4-5", content="x",
        tokens=tokens, duration=1,
    )  # fmt: skip
    book = PriceBook()
    metrics = book.cost_metrics(response)
    rates = book.rates("claude", "claude-sonnet-4-5")
    assert metrics is not None
    assert rates is not None
    assert metrics.cached_input_tokens == 6_000
    assert metrics.cache_write_tokens == 1_000
    assert metrics.reasoning_tokens == 300
    assert metrics.cache_read_cost_per_token == rates.cache_read
    assert metrics.cache_write_cost_per_token == rates.cache_write
    assert metrics.total_cost == pytest.approx(book.cost("claude", "claude-sonnet-4-5", tokens))


def test_cost_metrics_of_a_plain_response_leave_the_details_out() -> None:
    response = ProviderResponse(
        request_id=RID, provider="claude", model="claude-sonnet-4-5", content="x",
        tokens=usage(), duration=1,
    )  # fmt: skip
    metrics = PriceBook().cost_metrics(response)
    assert metrics is not None
    assert metrics.cache_read_cost_per_token is None
    assert "cacheReadCostPerToken" not in metrics.model_dump(by_alias=True)
