"""``Budgets``: a router's budgets as one admission guard of every attempt.

Before an attempt, :meth:`Budgets.reserve` books the attempt's maximum cost (``_estimate``)
against every budget that matches it (``match``), in the account of its scope value
(``per``): all or nothing. It answers a :class:`Reservation`, None when no budget matches, or
the :class:`~automatosx.errors.BudgetExceededError` of the budget with no room (a budget
under ``onExceeded: "reject"`` is named before one under ``"fallback"``: see
:meth:`Budgets.passes_over`). After the attempt, :meth:`settle` charges the usage,
:meth:`settle_cut` a stream cut short (input plus delivered output), :meth:`release` an
attempt that failed before any byte. Each settlement appends the attempt's
:class:`SpendRecord` per budget to ``records`` (drained into the store) and may raise an
``alertAt`` alert (one warning log and one observer event per window).

On the request path (:meth:`Budgets.reserve_now`, the admission chain's synchronous
``admit_now``) the matching is done once per (deployment, model) pair (``_routes``), the
input tokens once per request, and a reservation is one small object that settles itself
(:meth:`Reservation.end`): no await, no allocation beyond it and its claims.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from automatosx.budgets._book import PRICED, Booking
from automatosx.budgets._config import BudgetSpec
from automatosx.budgets._estimate import cost_nusd, delivered_tokens
from automatosx.budgets._ledger import Account, Ledger, SpendRecord
from automatosx.budgets._reservation import Reservation
from automatosx.budgets._routes import Route, build_route, scope_of
from automatosx.errors import BudgetExceededError, UnpricedModelError
from automatosx.observe import BudgetAlert
from automatosx.pricing import Rates

if TYPE_CHECKING:
    from automatosx.schemas import ProviderRequest, TokenUsage

__all__ = ["Budgets", "Reservation", "scope_of"]

log = logging.getLogger("automatosx.budgets")
_ROUTES = 4_096  # models per deployment whose route is kept
_PRICED = PRICED


def _nothing() -> None:
    return None


class Budgets(Booking):
    """The budgets of one router (one event loop). ``clock`` gives epoch seconds."""

    __slots__ = ("exceeded", "fleet", "price", "specs")

    def __init__(
        self,
        specs: Sequence[BudgetSpec],
        *,
        allow_unpriced: bool = False,
        clock: Callable[[], float] = time.time,
        price: Callable[[str, str], Rates | None] | None = None,
    ) -> None:
        self.specs = tuple(specs)
        self.price = price
        """The rates of a (deployment, model) pair (``PriceBook.rates``), asked once per pair."""
        self.allow_unpriced = allow_unpriced
        self.clock = clock
        self.offset = 0.0
        """Added to ``clock``: a fleet's server clock minus the local one (``_fleet``)."""
        self.ledger = Ledger()
        self.records: list[SpendRecord] = []
        self.recording = False
        """Whether settlements append ``records`` (a store is attached)."""
        self.alerts: list[BudgetAlert] = []
        """Alerts not yet told to the observers (the router drains them)."""
        self.wake: Callable[[], None] = _nothing
        """Called after a settlement that left records or alerts (the guard's writer)."""
        self.exceeded = 0
        """Attempts refused so far (``budget_exceeded``)."""
        self.fleet: object | None = None
        self.refusal: BudgetExceededError | None = None
        """The refusal of the last :meth:`reserve_now` that answered False."""
        self._routes: dict[str, dict[str, Route]] = {}
        self._last: ProviderRequest | None = None
        self._last_in = 0  # its input tokens

    def now(self) -> float:
        """Epoch seconds: ``clock()`` (on a fleet's server clock: plus ``offset``)."""
        return self.clock() + self.offset

    # -- before the attempt ------------------------------------------------------------------

    def reserve(
        self,
        request: ProviderRequest,
        deployment: str,
        kind: str,
        model: str,
        rates: Rates | object | None = _PRICED,
        attempt: int = 0,
    ) -> Reservation | BudgetExceededError | None:
        """Book the attempt's maximum cost against every matching budget, or say which has
        no room (nothing booked). None: no budget matches, nothing to settle. ``rates``: the
        model's, or by default what ``price`` gives for (deployment, model)."""
        res = self.reserve_now(deployment, kind, model, request, attempt, None, rates)
        if res is False:
            refusal, self.refusal = self.refusal, None
            return refusal
        return res

    def _route(self, deployment: str, model: str) -> Route:
        """The route of (deployment, model), built on first use (``_routes``)."""
        price = self.price
        rates = None if price is None else price(deployment, model)
        route = build_route(self.specs, self.ledger, rates, deployment, model, self.now())
        routes = self._routes.setdefault(deployment, {})
        if len(routes) < _ROUTES:
            routes[model] = route
        return route

    async def admit(
        self,
        request: ProviderRequest,
        deployment: str,
        kind: str,
        model: str,
        rates: Rates | object | None = _PRICED,
        attempt: int = 0,
    ) -> Reservation | BudgetExceededError | None:
        """:meth:`reserve`; then :meth:`retry` a refusal."""
        res = self.reserve(request, deployment, kind, model, rates, attempt)
        if res is None or type(res) is Reservation:
            return res
        return await self.retry(res, request, deployment, kind, model, rates, attempt)

    async def retry(
        self,
        res: Reservation | BudgetExceededError | None,
        request: ProviderRequest,
        deployment: str,
        kind: str,
        model: str,
        rates: Rates | object | None = _PRICED,
        attempt: int = 0,
    ) -> Reservation | BudgetExceededError | None:
        """After a refusal: in a fleet, a lease too short for the claim is topped up and the
        reservation tried again (the only time a request waits on Redis's background task);
        a refusal that stands is counted."""
        fleet = self.fleet
        tries = 0
        while fleet is not None and tries < 3 and isinstance(res, BudgetExceededError):
            acc = self.short(res)
            if acc is None or not await fleet.top_up(acc):  # type: ignore[attr-defined]
                break
            tries += 1
            res = self.reserve(request, deployment, kind, model, rates, attempt)
        if isinstance(res, BudgetExceededError):
            self.exceeded += 1
        return res

    def passes_over(self, refusal: BudgetExceededError) -> bool:
        """Whether the refusal lets the router try the next candidate (``fallback``)."""
        for spec in self.specs:
            if spec.id == refusal.budget_id:
                return spec.on_exceeded == "fallback"
        return False

    def short(self, refusal: BudgetExceededError) -> Account | None:
        """The leased account that refused for want of a lease (a fleet tops it up)."""
        if isinstance(refusal, UnpricedModelError):
            return None
        acc = self.ledger.accounts.get((refusal.budget_id, refusal.scope))
        return acc if acc is not None and acc.leased else None

    # -- after the attempt -------------------------------------------------------------------

    def settle(self, res: Reservation, usage: TokenUsage) -> None:
        """The attempt reported its usage: charge usage x price."""
        res.end("success", usage, 0, False)

    def settle_cut(self, res: Reservation, delivered: Iterable[str]) -> None:
        """A stream ended early (cut, stalled, cancelled, restarted) after delivering these
        texts: charge the input estimate plus the output delivered, never $0."""
        self.settle_delivered(res, delivered_tokens(list(delivered)))

    def settle_delivered(self, res: Reservation, n_out: int) -> None:
        """An attempt ended without usage after the provider had the request (a cut or
        cancelled stream, a cancelled hedge): the input estimate plus ``n_out`` output
        tokens delivered."""
        rates = res.rates
        nusd = 0 if rates is None else cost_nusd(rates, res.n_in, n_out)
        self.charge(res, nusd, res.n_in + n_out)

    def release(self, res: Reservation) -> None:
        """The attempt failed before any byte: nothing is charged."""
        self.charge(res, 0, 0)

    def resume(self, rows: Iterable[tuple[str, str, int, int, int]]) -> None:
        """Spend read back at open: (budget id, scope, window start, nano-dollars, tokens)."""
        ledger = self.ledger
        specs = {spec.id: spec for spec in self.specs}
        now = self.now()
        for budget_id, scope, start, nusd, tokens in rows:
            ledger.resumed[(budget_id, scope, start)] = (int(nusd), int(tokens))
            spec = specs.get(budget_id)
            if spec is not None and spec.window.bounds(now)[0] == start:
                ledger.account(spec, scope, now)  # seen at once (the gauges), not at first use

    def drain_records(self) -> list[SpendRecord]:
        records, self.records = self.records, []
        return records
