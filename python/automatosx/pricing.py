"""Per-model prices and the cost of a response.

Prices come from ``genai-prices`` (an optional dependency, installed with any provider
extra). Importing it costs a few hundred milliseconds and one lookup tens of microseconds, so
a :class:`PriceBook` resolves each (provider, model) pair's per-token prices once — lazily on
first use, or eagerly with :meth:`PriceBook.prime` when the router opens — and a response's
cost is then two multiplications. ``ProviderConfig.prices`` overrides win over genai-prices.
An unknown model, or genai-prices not installed, prices as None; it never raises.

Tiered prices (e.g. a higher rate for prompts over 200K tokens) are kept: as in genai-prices,
crossing a tier's input-token threshold applies that tier's rate to all tokens.

Prompt caching and reasoning: ``TokenUsage.cached_input_tokens`` and ``cache_write_tokens``
are part of ``input_tokens`` (as in genai-prices) and are billed at the model's cache-read and
cache-write rates (``cache_read_mtok`` / ``cache_write_mtok``) when it has them, the input rate
otherwise; ``reasoning_tokens`` are part of ``output_tokens`` and billed at the output rate
(every provider bills thinking as output).
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from automatosx.schemas import CostMetrics, ModelPrice, ProviderResponse, TokenUsage

__all__ = ["GENAI_PRICES_PROVIDER", "PriceBook", "Rates", "lookup_rates"]


class _PricingNames(Mapping[str, str]):
    """genai-prices' provider id of each provider kind, read from the provider registry."""

    def __getitem__(self, name: str) -> str:
        from automatosx.providers._registry import KINDS

        kind = KINDS.get(name)
        if kind is None or kind.pricing_name is None:
            raise KeyError(name)
        return kind.pricing_name

    def __iter__(self) -> Iterator[str]:
        from automatosx.providers._registry import KINDS

        return iter([n for n, k in KINDS.items() if k.pricing_name is not None])

    def __len__(self) -> int:
        return sum(1 for _ in self)


GENAI_PRICES_PROVIDER: Mapping[str, str] = _PricingNames()
"""genai-prices' provider id for each provider kind (from the provider registry)."""

_PER_MTOK = Decimal(1_000_000)
_SNAPSHOT_SUFFIX = re.compile(r"\d{4}-?\d{2}-?\d{2}|\d{3,4}|latest")
_NOT_LOOKED_UP: Any = object()


@dataclass(frozen=True, slots=True)
class Rates:
    """USD per token. ``*_tiers`` are ``(input-token threshold, rate)``, highest first.
    ``cache_read`` / ``cache_write`` are None when the model has no separate cache rate (its
    cached tokens then cost the input rate)."""

    input: float
    output: float
    input_tiers: tuple[tuple[int, float], ...] = ()
    output_tiers: tuple[tuple[int, float], ...] = ()
    cache_read: float | None = None
    cache_write: float | None = None
    cache_read_tiers: tuple[tuple[int, float], ...] = ()
    cache_write_tiers: tuple[tuple[int, float], ...] = ()

    def for_prompt(self, input_tokens: int) -> tuple[float, float]:
        """The (input, output) rates that apply to a prompt of ``input_tokens``."""
        rate_in, rate_out = self.input, self.output
        for start, rate in self.input_tiers:
            if input_tokens > start:
                rate_in = rate
                break
        for start, rate in self.output_tiers:
            if input_tokens > start:
                rate_out = rate
                break
        return rate_in, rate_out

    def cache_for_prompt(self, input_tokens: int) -> tuple[float, float]:
        """The (cache read, cache write) rates for a prompt of ``input_tokens``: the model's
        cache rates, or its input rate where it has none."""
        rate_in = self.for_prompt(input_tokens)[0]
        read = _tiered(self.cache_read, self.cache_read_tiers, input_tokens)
        write = _tiered(self.cache_write, self.cache_write_tiers, input_tokens)
        return (rate_in if read is None else read, rate_in if write is None else write)

    def cost(self, usage: TokenUsage) -> float:
        """USD for ``usage`` at these rates (cache reads/writes at their own rates)."""
        n_in = usage.input_tokens
        if self.input_tiers or self.output_tiers:
            rate_in, rate_out = self.for_prompt(n_in)
        else:  # flat rates: for_prompt's answer, without the call
            rate_in, rate_out = self.input, self.output
        cached = usage.cached_input_tokens
        writes = usage.cache_write_tokens
        if not cached and not writes:  # the common case: two multiplications
            return n_in * rate_in + usage.output_tokens * rate_out
        cached = cached or 0
        writes = writes or 0
        read_rate, write_rate = self.cache_for_prompt(n_in)
        fresh = max(n_in - cached - writes, 0)
        return (
            fresh * rate_in
            + cached * read_rate
            + writes * write_rate
            + usage.output_tokens * rate_out
        )


def _tiered(base: float | None, tiers: tuple[tuple[int, float], ...], n: int) -> float | None:
    if base is None:
        return None
    for start, rate in tiers:
        if n > start:
            return rate
    return base


def _split(price: Any) -> tuple[float, tuple[tuple[int, float], ...]] | None:
    """(base per-token rate, tiers) of a genai-prices Decimal or TieredPrices, per MTok."""
    if price is None:
        return None
    if isinstance(price, Decimal):
        return float(price / _PER_MTOK), ()
    base = getattr(price, "base", None)
    if not isinstance(base, Decimal):
        return None
    tiers = tuple(
        sorted(
            ((int(tier.start), float(tier.price / _PER_MTOK)) for tier in price.tiers),
            reverse=True,
        )
    )
    return float(base / _PER_MTOK), tiers


def lookup_rates(provider: str, model: str) -> Rates | None:
    """Look one model up in genai-prices (slow: call once per pair). None when unknown or
    when genai-prices is not installed."""
    provider_id = GENAI_PRICES_PROVIDER.get(provider, provider)
    try:
        from genai_prices import data_snapshot
    except ImportError:
        return None
    model_ref = model.removeprefix("models/")
    try:
        _, info = data_snapshot.get_snapshot().find_provider_model(
            model_ref, None, provider_id, None
        )
        prices = info.get_prices(datetime.now(tz=timezone.utc))
        input_price = _split(prices.input_mtok)
        output_price = _split(prices.output_mtok)
        read = _split(getattr(prices, "cache_read_mtok", None))
        write = _split(getattr(prices, "cache_write_mtok", None))
    except (LookupError, AttributeError, TypeError, ValueError):
        return None
    if input_price is None or output_price is None:
        return None
    return Rates(
        input_price[0],
        output_price[0],
        input_price[1],
        output_price[1],
        cache_read=None if read is None else read[0],
        cache_write=None if write is None else write[0],
        cache_read_tiers=() if read is None else read[1],
        cache_write_tiers=() if write is None else write[1],
    )


class PriceBook:
    """Per-token prices by (provider, model), each resolved once and cached.

    ``overrides`` maps a provider name to ``{model: ModelPrice}`` (``ProviderConfig.prices``);
    ``kinds`` maps a deployment id to its provider kind, whose genai-prices name prices it.
    """

    def __init__(
        self,
        overrides: Mapping[str, Mapping[str, ModelPrice]] | None = None,
        kinds: Mapping[str, str] | None = None,
    ) -> None:
        self._kinds = dict(kinds or {})  # deployment id -> provider kind, for genai-prices
        self._rates: dict[tuple[str, str], Rates | None] = {}
        self._overrides: dict[str, dict[str, Rates]] = {}
        self._lock = threading.Lock()
        for provider, models in (overrides or {}).items():
            for model, price in models.items():
                rates = Rates(price.input_cost_per_token, price.output_cost_per_token)
                self._overrides.setdefault(provider, {})[model] = rates
                self._rates[(provider, model)] = rates

    def rates(self, provider: str, model: str) -> Rates | None:
        """The pair's rates, looking them up on first use; None if unknown."""
        rates = self._rates.get((provider, model), _NOT_LOOKED_UP)
        if rates is _NOT_LOOKED_UP:
            rates = self._resolve(provider, model)
        return rates  # type: ignore[no-any-return]

    def _resolve(self, provider: str, model: str) -> Rates | None:
        with self._lock:
            key = (provider, model)
            if key not in self._rates:
                rates = self._override_for_snapshot(provider, model)
                if rates is None:
                    rates = lookup_rates(self._kinds.get(provider, provider), model)
                self._rates[key] = rates
            return self._rates[key]

    def _override_for_snapshot(self, provider: str, model: str) -> Rates | None:
        """An override for ``claude-sonnet-4-5`` also prices the reply's dated snapshot
        ``claude-sonnet-4-5-20250929`` (providers report the snapshot that served)."""
        for name, rates in self._overrides.get(provider, {}).items():
            suffix = model.removeprefix(name + "-") if model.startswith(name + "-") else ""
            if suffix and _SNAPSHOT_SUFFIX.fullmatch(suffix):
                return rates
        return None

    def prime(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Resolve these pairs now (imports genai-prices once: call it off the hot path)."""
        for provider, model in pairs:
            self.rates(provider, model)

    async def aprime(self, pairs: Iterable[tuple[str, str]]) -> None:
        """:meth:`prime` in a worker thread, so the event loop keeps running."""
        from automatosx._quiet import without_gc

        pending = list(pairs)
        await asyncio.to_thread(without_gc, lambda: self.prime(pending))

    def cost(self, provider: str, model: str, usage: TokenUsage) -> float | None:
        """USD for ``usage`` on this model, or None if its price is unknown."""
        rates: Rates | None = self._rates.get((provider, model), _NOT_LOOKED_UP)  # inlined
        if rates is _NOT_LOOKED_UP:
            rates = self._resolve(provider, model)
        if rates is None:
            return None
        return rates.cost(usage)

    def cost_metrics(self, response: ProviderResponse) -> CostMetrics | None:
        """The cost breakdown of a response, or None if its model's price is unknown."""
        rates = self.rates(response.provider, response.model)
        if rates is None:
            return None
        usage = response.tokens
        rate_in, rate_out = rates.for_prompt(usage.input_tokens)
        cached = usage.cached_input_tokens is not None or usage.cache_write_tokens is not None
        read_rate, write_rate = rates.cache_for_prompt(usage.input_tokens) if cached else (0, 0)
        return CostMetrics(
            provider=response.provider,
            model=response.model,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            input_cost_per_token=rate_in,
            output_cost_per_token=rate_out,
            total_cost=rates.cost(usage),
            cached_input_tokens=usage.cached_input_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            cache_read_cost_per_token=read_rate if usage.cached_input_tokens is not None else None,
            cache_write_cost_per_token=write_rate if usage.cache_write_tokens is not None else None,
        )
