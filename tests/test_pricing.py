"""PriceBook: per-token prices from genai-prices, resolved once per (provider, model)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import automatosx.pricing as pricing
from automatosx.pricing import PriceBook
from automatosx.schemas import ModelPrice, ProviderResponse, TokenUsage

genai_prices = pytest.importorskip("genai_prices")


def usage(input_tokens: int, output_tokens: int) -> TokenUsage:
    return TokenUsage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=input_tokens + output_tokens,
    )


def reference(provider_id: str, model: str, tokens: TokenUsage) -> float:
    calc = genai_prices.calc_price(
        genai_prices.Usage(input_tokens=tokens.input_tokens, output_tokens=tokens.output_tokens),
        model,
        provider_id=provider_id,
    )
    return float(calc.total_price)


def run_python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.parametrize(
    ("provider", "provider_id", "model"),
    [
        ("claude", "anthropic", "claude-sonnet-4-6"),
        ("claude", "anthropic", "claude-sonnet-4-5-20250929"),
        ("openai", "openai", "gpt-4o-mini"),
        ("openai", "openai", "gpt-4o-mini-2024-07-18"),
        ("gemini", "google", "gemini-2.5-flash"),
        ("gemini", "google", "gemini-2.5-pro"),
    ],
)
@pytest.mark.parametrize("tokens", [usage(1234, 567), usage(250_000, 1000), usage(0, 0)])
def test_known_models_cost_what_genai_prices_calculates(
    provider: str, provider_id: str, model: str, tokens: TokenUsage
) -> None:
    book = PriceBook()
    cost = book.cost(provider, model, tokens)
    assert cost == pytest.approx(reference(provider_id, model, tokens), rel=1e-9, abs=1e-15)


def test_each_pair_is_looked_up_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str]] = []
    real = pricing.lookup_rates

    def counting(provider: str, model: str) -> pricing.Rates | None:
        calls.append((provider, model))
        return real(provider, model)

    monkeypatch.setattr(pricing, "lookup_rates", counting)
    book = PriceBook()
    for _ in range(100):
        book.cost("openai", "gpt-4o-mini", usage(10, 10))
        book.cost("gemini", "gemini-2.5-flash", usage(10, 10))
        book.cost("openai", "no-such-model", usage(10, 10))
    assert sorted(calls) == [
        ("gemini", "gemini-2.5-flash"),
        ("openai", "gpt-4o-mini"),
        ("openai", "no-such-model"),
    ]


async def test_prime_resolves_up_front(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str]] = []
    real = pricing.lookup_rates
    monkeypatch.setattr(pricing, "lookup_rates", lambda p, m: calls.append((p, m)) or real(p, m))
    book = PriceBook()
    book.prime([("openai", "gpt-4o-mini")])
    await book.aprime([("claude", "claude-sonnet-4-6")])
    assert len(calls) == 2
    book.cost("openai", "gpt-4o-mini", usage(1, 1))
    book.cost("claude", "claude-sonnet-4-6", usage(1, 1))
    assert len(calls) == 2


def test_overrides_win_and_cover_dated_snapshots() -> None:
    price = ModelPrice(input_cost_per_token=1e-6, output_cost_per_token=2e-6)
    book = PriceBook({"openai": {"gpt-4o-mini": price}})
    assert book.cost("openai", "gpt-4o-mini", usage(1000, 500)) == pytest.approx(0.002)
    assert book.cost("openai", "gpt-4o-mini-2024-07-18", usage(1000, 500)) == pytest.approx(0.002)
    assert book.cost("openai", "gpt-4o-mini-realtime", usage(1000, 500)) != pytest.approx(0.002)


def test_override_for_a_model_genai_prices_does_not_know() -> None:
    price = ModelPrice(input_cost_per_token=3e-7, output_cost_per_token=0)
    book = PriceBook({"claude": {"claude-house-model": price}})
    assert book.cost("claude", "claude-house-model", usage(10, 99)) == pytest.approx(3e-6)


def test_unknown_model_or_provider_costs_none() -> None:
    book = PriceBook()
    assert book.cost("openai", "definitely-not-a-model", usage(10, 10)) is None
    assert book.cost("nobody", "gpt-4o-mini", usage(10, 10)) is None


def test_cost_metrics_of_a_response() -> None:
    response = ProviderResponse(
        request_id="00000000-0000-4000-8000-000000000000",
        provider="openai",
        model="gpt-4o-mini",
        content="hi",
        tokens=usage(1000, 100),
        duration=5,
    )
    metrics = PriceBook().cost_metrics(response)
    assert metrics is not None
    assert (metrics.provider, metrics.model) == ("openai", "gpt-4o-mini")
    assert (metrics.input_tokens, metrics.output_tokens) == (1000, 100)
    assert metrics.total_cost == pytest.approx(reference("openai", "gpt-4o-mini", usage(1000, 100)))
    assert metrics.total_cost == pytest.approx(
        1000 * metrics.input_cost_per_token + 100 * metrics.output_cost_per_token
    )
    assert metrics.currency == "USD"
    unknown = response.model_copy(update={"model": "nope"})
    assert PriceBook().cost_metrics(unknown) is None


def test_without_genai_prices_costs_are_none() -> None:
    out = run_python(
        """
        import sys
        sys.modules["genai_prices"] = None  # as if not installed
        from automatosx.pricing import PriceBook
        from automatosx.schemas import TokenUsage
        print(PriceBook().cost("openai", "gpt-4o-mini", TokenUsage(input_tokens=5)))
        """
    )
    assert out == "None"


def test_import_automatosx_does_not_import_pricing_or_genai_prices() -> None:
    out = run_python(
        """
        import sys
        import automatosx
        print("automatosx.pricing" in sys.modules, "genai_prices" in sys.modules)
        import automatosx.pricing
        print("genai_prices" in sys.modules)
        """
    )
    assert out.split() == ["False", "False", "False"]
