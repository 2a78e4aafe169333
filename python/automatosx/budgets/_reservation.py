"""A reservation: one attempt's claims on the budgets, from :meth:`Budgets.reserve_now
<automatosx.budgets._gate.Budgets.reserve_now>` until the attempt ends.

It is what the admission chain holds for the attempt (``_routing/admission.py``): its
:meth:`Reservation.end` settles it with how the attempt ended, computing the charge (usage x
price, in integer nano-dollars) and handing it to its budgets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from automatosx.budgets._estimate import usd_nusd
from automatosx.budgets._ledger import Account, Claim

if TYPE_CHECKING:
    from automatosx.pricing import Rates
    from automatosx.schemas import TokenUsage

__all__ = ["Reservation", "Settler"]

NANO = 1e9


class Settler(Protocol):
    """The budgets a reservation settles into (``Budgets``)."""

    def charge(self, res: Reservation, nusd: int, tokens: int) -> None: ...

    def settle_delivered(self, res: Reservation, n_out: int) -> None: ...


class Reservation:
    """One attempt's claims on the budgets, until it is settled: the admission chain's
    *holding* (:meth:`end` settles it, exactly once). Made by :meth:`Budgets.reserve_now`
    without an ``__init__`` call (it is on every attempt's path)."""

    __slots__ = ("attempt", "budgets", "claims", "floor", "n_in", "n_out", "rates", "request_id")

    budgets: Settler
    claims: list[Claim]
    rates: Rates | None
    floor: int
    """The largest prompt that pays ``rates``' base rates (``_routes.base_floor``)."""
    n_in: int
    n_out: int
    request_id: str
    attempt: int

    @property
    def nusd(self) -> int:
        """The largest claim in nano-dollars (what the attempt may cost at most)."""
        return max((c[1] for c in self.claims), default=0)

    @property
    def accounts(self) -> list[Account]:
        return [c[0] for c in self.claims]

    def end(
        self, outcome: str, usage: TokenUsage | None, delivered: int, before_any_byte: bool
    ) -> None:
        """The attempt ended: charge its usage x price; for an attempt the provider had
        without a usage (a stream cut, stalled, restarted or cancelled, a hedge's loser) the
        input estimate plus the tokens delivered; release it all when it failed (or was
        passed over) before any byte."""
        budgets = self.budgets
        if usage is None:
            if before_any_byte and (outcome == "failure" or outcome == "skipped"):
                budgets.charge(self, 0, 0)
            else:
                budgets.settle_delivered(self, delivered)
            return
        rates = self.rates
        counts = usage.__dict__  # not its attributes: see _estimate.input_tokens
        n_in = counts["input_tokens"]
        n_out = counts["output_tokens"]
        if rates is None:
            nusd = 0
        elif (
            n_in <= self.floor
            and not counts["cached_input_tokens"]
            and not counts["cache_write_tokens"]
        ):
            scaled = (n_in * rates.input + n_out * rates.output) * NANO  # Rates.cost's, inline
            nusd = int(scaled)
            if scaled - nusd > 1e-3:
                nusd += 1
        else:
            nusd = usd_nusd(rates.cost(usage))
        budgets.charge(self, nusd, n_in + n_out)
