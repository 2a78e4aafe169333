"""A reservation: one attempt's claims on the budgets, from :meth:`Budgets.reserve_now
<automatosx.budgets._gate.Budgets.reserve_now>` until the attempt ends.

It is what the admission chain holds for the attempt (``_routing/admission.py``): its
:meth:`Reservation.end` settles it with how the attempt ended, computing the charge (usage x
price, in integer nano-dollars) and handing it to its budgets.

A reservation booked by the fast path (``Budgets.reserve_now``: every account's window held
``at``) keeps no claims: it keeps its :class:`~automatosx.budgets._routes.Group` and the two
amounts it claimed of each account (``claim_n`` nano-dollars of a USD limit, ``claim_t``
tokens of a token limit). Its :attr:`Reservation.claims` are worked out when asked: an
account whose window started after ``at`` has rolled since, and the claim's window start is
the one that held ``at``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from automatosx.budgets._estimate import usd_nusd
from automatosx.budgets._ledger import Account, Claim
from automatosx.budgets._routes import SETTLED_GROUP as _SETTLED_GROUP
from automatosx.budgets._routes import Group

if TYPE_CHECKING:
    from automatosx.pricing import Rates
    from automatosx.schemas import TokenUsage

__all__ = ["Reservation", "Settler"]

NANO = 1e9


class Settler(Protocol):
    """The budgets a reservation settles into (``Budgets``)."""

    recording: bool

    def charge(self, res: Reservation, nusd: int, tokens: int) -> None: ...

    def settle_delivered(self, res: Reservation, n_out: int) -> None: ...


class Reservation:
    """One attempt's claims on the budgets, until it is settled: the admission chain's
    *holding* (:meth:`end` settles it, exactly once). Made by :meth:`Budgets.reserve_now`
    without an ``__init__`` call (it is on every attempt's path)."""

    __slots__ = (
        "_claims",
        "at",
        "attempt",
        "budgets",
        "claim_n",
        "claim_t",
        "floor",
        "group",
        "n_in",
        "rates",
        "request_id",
    )

    budgets: Settler
    _claims: list[Claim]
    group: Group | None
    """The fast path's: the accounts claimed (None: ``_claims`` holds the claims)."""
    claim_n: int
    claim_t: int
    at: float
    """When the fast path booked it (every account's window held it)."""
    rates: Rates | None
    floor: int
    """The largest prompt that pays ``rates``' base rates (``_routes.base_floor``)."""
    n_in: int
    request_id: str
    attempt: int

    @property
    def claims(self) -> list[Claim]:
        """``(account, nano-dollars, tokens, window start)`` per account claimed."""
        group = self.group
        if group is None:
            return self._claims
        at, claim_n, claim_t = self.at, self.claim_n, self.claim_t
        return [
            (
                acc,
                claim_n if usd else 0,
                claim_t if tok else 0,
                acc.start if acc.start <= at else acc.spec.window.bounds(at)[0],
            )
            for acc, usd, tok in group.counters
        ]

    @claims.setter
    def claims(self, claims: list[Claim]) -> None:
        self.group = None
        self._claims = claims

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
        group = self.group
        if group is None or budgets.recording or group.alerting or group.both:
            budgets.charge(self, nusd, n_in + n_out)
            return
        # Budgets.charge's fast path, inline (a success settles here: one call less)
        self.group = _SETTLED_GROUP
        at, claim_n, claim_t = self.at, self.claim_n, self.claim_t
        for acc in group.usd:
            acc.reserved -= claim_n
            if acc.start <= at:  # else its window has ended (Ledger.settle)
                acc.spent += nusd
                if acc.leased:
                    acc.lease += claim_n - nusd
                    acc.unreported += nusd
        tokens = n_in + n_out
        for acc in group.tok:
            acc.reserved_tokens -= claim_t
            if acc.start <= at:
                acc.spent_tokens += tokens
                if acc.leased:
                    acc.lease_tokens += claim_t - tokens
                    acc.unreported_tokens += tokens
