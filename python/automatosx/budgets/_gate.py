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
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from automatosx.budgets._config import BudgetSpec
from automatosx.budgets._estimate import (
    cost_nusd,
    delivered_tokens,
    input_tokens,
    output_cap,
    usd_nusd,
)
from automatosx.budgets._ledger import Account, Claim, Ledger, SpendRecord
from automatosx.budgets._says import alert_of, no_room, unpriced
from automatosx.errors import BudgetExceededError, UnpricedModelError
from automatosx.observe import BudgetAlert
from automatosx.pricing import Rates

if TYPE_CHECKING:
    from automatosx.schemas import ProviderRequest, TokenUsage

__all__ = ["Budgets", "Reservation", "scope_of"]

log = logging.getLogger("automatosx.budgets")
NANO = 1e9
_ROUTES = 4_096
_PRICED: object = object()  # reserve(): the rates of the (deployment, model) pair


class Reservation:
    """One attempt's claims on the budgets, until it is settled."""

    __slots__ = ("attempt", "claims", "n_in", "n_out", "rates", "request_id")

    def __init__(
        self,
        claims: list[Claim],
        rates: Rates | None,
        n_in: int,
        n_out: int,
        request_id: str,
        attempt: int,
    ) -> None:
        self.claims = claims
        self.rates = rates
        self.n_in = n_in
        self.n_out = n_out
        self.request_id = request_id
        self.attempt = attempt

    @property
    def nusd(self) -> int:
        """The largest claim in nano-dollars (what the attempt may cost at most)."""
        return max((c[1] for c in self.claims), default=0)

    @property
    def accounts(self) -> list[Account]:
        return [c[0] for c in self.claims]


def scope_of(spec: BudgetSpec, values: dict[str, str | None]) -> str:
    """The scope value of a request under ``spec``: ``"*"`` without ``per``, else
    ``"user=alice"`` (``-`` for a request without that field)."""
    if not spec.per:
        return "*"
    return ",".join(f"{dim}={values[dim] or '-'}" for dim in spec.per)


Scoper = Callable[["ProviderRequest"], "str | None"]
"""A request's scope value under a budget whose scope or match reads its tenant or user
(None: the match filters it out)."""
Route = tuple[tuple[tuple[BudgetSpec, "Account | None", "Scoper | None"], ...], "Rates | None"]


def _scoper(spec: BudgetSpec, deployment: str, model: str) -> Scoper:
    tenants = spec.match.get("tenant")
    users = spec.match.get("user")
    fixed = {"deployment": deployment, "model": model}
    if spec.per == ("user",) and tenants is None and users is None:
        return lambda request: "user=" + (request.user or "-")
    if spec.per == ("tenant",) and tenants is None and users is None:
        return lambda request: "tenant=" + (request.tenant or "-")

    def scope(request: ProviderRequest) -> str | None:
        if tenants is not None and request.tenant not in tenants:
            return None
        if users is not None and request.user not in users:
            return None
        if not spec.per:
            return "*"
        values = {**fixed, "tenant": request.tenant, "user": request.user}
        return ",".join(f"{dim}={values[dim] or '-'}" for dim in spec.per)

    return scope


class Budgets:
    """The budgets of one router (one event loop). ``clock`` gives epoch seconds."""

    __slots__ = (
        "_routes",
        "alerts",
        "allow_unpriced",
        "clock",
        "exceeded",
        "fleet",
        "ledger",
        "price",
        "recording",
        "records",
        "specs",
    )

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
        self.ledger = Ledger()
        self.records: list[SpendRecord] = []
        self.recording = False
        """Whether settlements append ``records`` (a store is attached)."""
        self.alerts: list[BudgetAlert] = []
        """Alerts not yet told to the observers (the router drains them)."""
        self.exceeded = 0
        """Attempts refused so far (``budget_exceeded``)."""
        self.fleet: object | None = None
        self._routes: dict[tuple[str, str], Route] = {}

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
        route = self._routes.get((deployment, model))
        if route is None:
            route = self._route(deployment, model)
        entries, priced = route
        if not entries:
            return None
        if rates is _PRICED:
            rates = priced
        n_in = input_tokens(request)
        n_out = request.max_tokens or output_cap(request, kind, model)
        if rates is None:
            nusd = -1
        elif type(rates) is Rates and not (rates.input_tiers or rates.output_tiers):
            scaled = (n_in * rates.input + n_out * rates.output) * NANO
            nusd = int(scaled)
            if scaled - nusd > 1e-3:
                nusd += 1
        else:
            nusd = cost_nusd(rates, n_in, n_out)  # type: ignore[arg-type]
        now = self.clock()
        claims: list[Claim] = []
        refusal: BudgetExceededError | None = None
        soft = False  # the refusal is a "fallback" budget's (a "reject" one's wins)
        for entry in entries:
            spec, acc, scoper = entry
            if scoper is not None:
                scope = scoper(request)
                if scope is None:
                    continue  # its match filters the request's tenant or user out
                acc = self.ledger.accounts.get((spec.id, scope))
                if acc is None or (acc.end is not None and now >= acc.end):
                    acc = self.ledger.account(spec, scope, now)
            else:
                assert acc is not None
                if acc.end is not None and now >= acc.end:
                    acc = self.ledger.account(spec, acc.scope, now)
            limit = acc.limit
            claim_n = 0
            if limit is not None:
                if nusd >= 0:
                    claim_n = nusd
                elif not self.allow_unpriced:
                    if refusal is None or (soft and spec.on_exceeded == "reject"):
                        refusal, soft = unpriced(acc, model), spec.on_exceeded == "fallback"
                    continue
            limit_t = acc.limit_tokens
            claim_t = 0 if limit_t is None else n_in + n_out
            if (
                acc.leased
                or (limit is not None and acc.spent + acc.reserved + claim_n > limit)
                or (
                    limit_t is not None
                    and acc.spent_tokens + acc.reserved_tokens + claim_t > limit_t
                )
            ) and not acc.fits(claim_n, claim_t):
                if refusal is None or (soft and spec.on_exceeded == "reject"):
                    refusal = no_room(acc, claim_n, claim_t)
                    soft = spec.on_exceeded == "fallback"
                continue
            claims.append((acc, claim_n, claim_t, acc.start))
        if refusal is not None:
            return refusal
        if not claims:
            return None
        Ledger.book(claims)
        return Reservation(claims, rates, n_in, n_out, request.request_id, attempt)  # type: ignore[arg-type]

    def _route(self, deployment: str, model: str) -> Route:
        """The budgets an attempt on (deployment, model) may count against — each with its
        account when the request does not change its scope, else a function of the request
        giving the scope — and the model's rates (computed once per pair)."""
        entries: list[tuple[BudgetSpec, Account | None, Scoper | None]] = []
        static = {"tenant": None, "user": None, "deployment": deployment, "model": model}
        now = self.clock()
        for spec in self.specs:
            match = spec.match
            if any(k in match and static[k] not in match[k] for k in ("deployment", "model")):
                continue
            if {"tenant", "user"} & (set(spec.per) | set(match)):
                entries.append((spec, None, _scoper(spec, deployment, model)))
            else:  # the account object is kept for good (a new window rolls it in place)
                entries.append((spec, self.ledger.account(spec, scope_of(spec, static), now), None))
        price = self.price
        route = (tuple(entries), None if price is None else price(deployment, model))
        if len(self._routes) < _ROUTES:
            self._routes[(deployment, model)] = route
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
        rates = res.rates
        n_in = usage.input_tokens
        n_out = usage.output_tokens
        if rates is None:
            nusd = 0
        elif (
            usage.cached_input_tokens is None
            and usage.cache_write_tokens is None
            and not (rates.input_tiers or rates.output_tiers)
        ):
            scaled = (n_in * rates.input + n_out * rates.output) * NANO
            nusd = int(scaled)
            if scaled - nusd > 1e-3:
                nusd += 1
        else:
            nusd = usd_nusd(rates.cost(usage))
        self._charge(res, nusd, n_in + n_out)

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
        self._charge(res, nusd, res.n_in + n_out)

    def release(self, res: Reservation) -> None:
        """The attempt failed before any byte: nothing is charged."""
        self._charge(res, 0, 0)

    def _charge(self, res: Reservation, nusd: int, tokens: int) -> None:
        claims, res.claims = res.claims, []
        recording = self.recording
        at_ms = time.time_ns() // 1_000_000 if recording else 0
        for claim in claims:
            acc, claim_n, claim_t, start = claim
            charge = 0 if acc.limit is None else nusd
            used = 0 if acc.limit_tokens is None else tokens
            if acc.leased or acc.start != start:
                Ledger.settle(claim, charge, used)
            else:  # Ledger.settle's common case, inline
                acc.reserved -= claim_n
                acc.reserved_tokens -= claim_t
                acc.spent += charge
                acc.spent_tokens += used
            if recording:
                self.records.append(
                    SpendRecord(
                        res.request_id,
                        res.attempt,
                        acc.spec.id,
                        acc.scope,
                        claim[3],
                        claim[1],
                        charge,
                        claim[2],
                        used,
                        at_ms,
                    )
                )
            if acc.spec.alert_at is not None:
                alert = alert_of(acc)
                if alert is not None:
                    self.alerts.append(alert)

    # -- reading -----------------------------------------------------------------------------

    def resume(self, rows: Iterable[tuple[str, str, int, int, int]]) -> None:
        """Spend read back at open: (budget id, scope, window start, nano-dollars, tokens)."""
        ledger = self.ledger
        specs = {spec.id: spec for spec in self.specs}
        now = self.clock()
        for budget_id, scope, start, nusd, tokens in rows:
            ledger.resumed[(budget_id, scope, start)] = (int(nusd), int(tokens))
            spec = specs.get(budget_id)
            if spec is not None and spec.window.bounds(now)[0] == start:
                ledger.account(spec, scope, now)  # seen at once (the gauges), not at first use

    def drain_records(self) -> list[SpendRecord]:
        records, self.records = self.records, []
        return records
