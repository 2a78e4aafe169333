"""The request path of the budgets: booking an attempt's claims and settling them.

:class:`Booking` is the part of :class:`~automatosx.budgets._gate.Budgets` that runs on every
attempt: :meth:`Booking.reserve_now` (the admission chain's ``admit_now``) and
:meth:`Booking.charge` (what :meth:`Reservation.end
<automatosx.budgets._reservation.Reservation.end>` hands the charge to).

**The fast path.** A route's counters are kept as a :class:`~automatosx.budgets._routes.Group`
(the accounts with a USD limit, a token limit, both). When every account's window holds
``now`` and has room (or its lease holds the claim), ``reserve_now`` checks them all, then
books them all, with no await in between (atomic on the event loop), and the reservation
keeps the group and its two amounts instead of a list of claims; ``charge`` settles the
group's accounts directly. Anything else (a window to roll, no room, no price, a store to
record into) takes the general path, claim by claim, with the same result.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from automatosx.budgets._estimate import (
    IMAGE_TOKENS,
    MESSAGE_OVERHEAD,
    cost_nusd,
    input_tokens,
    output_cap,
)
from automatosx.budgets._ledger import Account, Claim, Ledger, SpendRecord
from automatosx.budgets._reservation import Reservation
from automatosx.budgets._routes import (
    BY_BOTH,
    BY_TENANT,
    BY_USER,
    FIXED,
    NONE,
    Counters,
    Group,
    Route,
    base_floor,
    counters_of,
)
from automatosx.budgets._routes import SETTLED_GROUP as _SETTLED_GROUP
from automatosx.budgets._says import alert_of, no_room, unpriced
from automatosx.errors import BudgetExceededError
from automatosx.observe import BudgetAlert
from automatosx.pricing import Rates

if TYPE_CHECKING:
    from automatosx.schemas import ProviderRequest

__all__ = ["PRICED", "Booking"]

NANO = 1e9
PRICED: object = object()  # reserve(): the rates of the (deployment, model) pair
_new = object.__new__
_SETTLED: list[Claim] = []  # a settled reservation's claims (never appended to)


class Booking:
    """The request path of :class:`~automatosx.budgets._gate.Budgets` (its base class)."""

    __slots__ = (
        "_last",
        "_last_in",
        "_routes",
        "alerts",
        "allow_unpriced",
        "clock",
        "ledger",
        "offset",
        "recording",
        "records",
        "refusal",
        "wake",
    )

    _routes: dict[str, dict[str, Route]]
    _last: ProviderRequest | None
    _last_in: int
    alerts: list[BudgetAlert]
    allow_unpriced: bool
    clock: Callable[[], float]
    ledger: Ledger
    offset: float
    recording: bool
    records: list[SpendRecord]
    refusal: BudgetExceededError | None
    wake: Callable[[], None]

    def _route(self, deployment: str, model: str) -> Route:
        raise NotImplementedError

    def settle_delivered(self, res: Reservation, n_out: int) -> None:
        raise NotImplementedError

    def reserve_now(
        self,
        deployment: str,
        kind: str,
        model: str,
        request: ProviderRequest,
        attempt: int = 0,
        walk: tuple[int, int, int] | None = None,
        rates: Rates | object | None = PRICED,
    ) -> Reservation | Literal[False] | None:
        """:meth:`reserve` as the admission chain's ``admit_now``: False when refused (the
        refusal is kept in ``refusal``). Each claim is booked as soon as it is checked (no
        await in this method, so no other attempt sees a half-made reservation); a refusal
        unbooks the claims before it.

        The fast path: when every account's window holds ``now`` and has room (or its lease
        holds the claim), all are checked, then all booked, and the reservation keeps the
        route's :class:`~automatosx.budgets._routes.Group` and the two amounts, no claims.
        Anything else (a new window, no room, no price) takes the general path
        (:meth:`_book`), which rolls, refuses and explains."""
        try:
            route = self._routes[deployment][model]
        except KeyError:
            route = self._route(deployment, model)
        key = route.key
        if key == NONE:
            return None
        fields = request.__dict__  # not its attributes: see _estimate.input_tokens
        if self._last is request:  # a retry, a fallback, a hedge: the same prompt
            n_in = self._last_in
        else:
            if walk is None or fields["tools"] is not None or fields["response_format"] is not None:
                n_in = input_tokens(request)
            else:  # input_tokens from the router's walk of the messages (its prompt_walk)
                size, images, messages = walk
                n_in = -(-size // 3) + MESSAGE_OVERHEAD * messages + IMAGE_TOKENS * images
            self._last = request
            self._last_in = n_in
        n_out = fields["max_tokens"] or output_cap(request, kind, model)
        if rates is PRICED:
            rates = route.rates
            floor = route.floor
        else:
            floor = base_floor(rates)  # type: ignore[arg-type]
        if rates is None:
            nusd = -1
        elif n_in <= floor:  # the base rates: two multiplications
            scaled = (n_in * rates.input + n_out * rates.output) * NANO  # type: ignore[attr-defined]
            nusd = int(scaled)
            if scaled - nusd > 1e-3:
                nusd += 1
        else:
            nusd = cost_nusd(rates, n_in, n_out)  # type: ignore[arg-type]
        now = self.clock() + self.offset
        kept = route.kept
        try:
            if key == FIXED:
                group: Group = kept
            elif key == BY_USER:
                group = kept[fields["user"]]
            elif key == BY_TENANT:
                group = kept[fields["tenant"]]
            elif key == BY_BOTH:
                group = kept[(fields["user"], fields["tenant"])]
            else:  # SCOPED: counters made for each request, the general path (no Group)
                counters = counters_of(route.entries, request, self.ledger, now)
                return self._book(
                    counters, model, now, nusd, n_in + n_out, n_in, rates, floor, fields, attempt
                )
        except KeyError:  # this user's (tenant's) first request on the route
            group = route.group(request, self.ledger, now)
        n_tok = n_in + n_out
        if group.fast and nusd >= 0:
            # check every account (no booking until all fit), then book them all
            for acc in group.usd:
                if not acc.start <= now < acc.until or (
                    nusd > acc.lease if acc.leased else acc.spent + acc.reserved + nusd > acc.limit  # type: ignore[operator]
                ):
                    break
            else:
                for acc in group.tok:
                    if not acc.start <= now < acc.until or (
                        n_tok > acc.lease_tokens
                        if acc.leased
                        else acc.spent_tokens + acc.reserved_tokens + n_tok > acc.limit_tokens  # type: ignore[operator]
                    ):
                        break
                else:
                    for acc in group.both:
                        if not acc.start <= now < acc.until or not acc.fits(nusd, n_tok):
                            break
                    else:
                        for acc in group.usd:
                            acc.reserved += nusd
                            if acc.leased:
                                acc.uses += 1
                                acc.lease -= nusd
                        for acc in group.tok:
                            acc.reserved_tokens += n_tok
                            if acc.leased:
                                acc.uses += 1
                                acc.lease_tokens -= n_tok
                        for acc in group.both:
                            acc.reserved += nusd
                            acc.reserved_tokens += n_tok
                            if acc.leased:
                                acc.uses += 1
                                acc.lease -= nusd
                                acc.lease_tokens -= n_tok
                        res = _new(Reservation)
                        res.budgets = self
                        res.group = group
                        res.claim_n = nusd
                        res.claim_t = n_tok
                        res.at = now
                        res.rates = rates  # type: ignore[assignment]
                        res.floor = floor
                        res.n_in = n_in
                        res.request_id = fields["request_id"]
                        res.attempt = attempt
                        return res
        return self._book(
            group.counters, model, now, nusd, n_tok, n_in, rates, floor, fields, attempt
        )

    def _book(
        self,
        counters: Counters,
        model: str,
        now: float,
        nusd: int,
        n_tok: int,
        n_in: int,
        rates: Rates | object | None,
        floor: int,
        fields: dict[str, Any],
        attempt: int,
    ) -> Reservation | Literal[False] | None:
        """The general path of :meth:`reserve_now`: claim by claim, each booked once
        checked (a new window rolled first), a refusal unbooking the claims before it."""
        claims: list[Claim] = []
        refusal: BudgetExceededError | None = None
        soft = False  # the refusal is a "fallback" budget's (a "reject" one's wins)
        for acc, usd, tok in counters:
            if now >= acc.until:
                self.ledger.account(acc.spec, acc.scope, now)  # a new window, rolled in place
            claim_n = nusd if usd else 0
            claim_t = n_tok if tok else 0
            if claim_n < 0:  # no price under a USD budget
                if self.allow_unpriced:
                    claim_n = 0
                else:
                    if refusal is None or (soft and acc.spec.on_exceeded == "reject"):
                        refusal, soft = unpriced(acc, model), acc.spec.on_exceeded == "fallback"
                    continue
            if acc.leased:  # the lease must hold the claim (Account.fits, inline)
                if ((usd and claim_n > acc.lease) or (tok and claim_t > acc.lease_tokens)) and (
                    not acc.fits(claim_n, claim_t)
                ):
                    if refusal is None or (soft and acc.spec.on_exceeded == "reject"):
                        refusal = no_room(acc, claim_n, claim_t)
                        soft = acc.spec.on_exceeded == "fallback"
                    continue
                acc.uses += 1
                acc.lease -= claim_n
                acc.lease_tokens -= claim_t
            elif (usd and acc.spent + acc.reserved + claim_n > acc.limit) or (  # type: ignore[operator]
                tok and acc.spent_tokens + acc.reserved_tokens + claim_t > acc.limit_tokens  # type: ignore[operator]
            ):
                if refusal is None or (soft and acc.spec.on_exceeded == "reject"):
                    refusal = no_room(acc, claim_n, claim_t)
                    soft = acc.spec.on_exceeded == "fallback"
                continue
            if claim_n:
                acc.reserved += claim_n
            if claim_t:
                acc.reserved_tokens += claim_t
            claims.append((acc, claim_n, claim_t, acc.start))
        if refusal is not None:
            Ledger.unbook(claims)
            self.refusal = refusal
            return False
        if not claims:
            return None
        res = _new(Reservation)
        res.budgets = self
        res.group = None
        res._claims = claims
        res.rates = rates  # type: ignore[assignment]
        res.floor = floor
        res.n_in = n_in
        res.request_id = fields["request_id"]
        res.attempt = attempt
        return res

    def charge(self, res: Reservation, nusd: int, tokens: int) -> None:
        """Replace the reservation's claims by this charge (``0, 0``: released)."""
        group = res.group
        if group is None:
            claims, res._claims = res._claims, _SETTLED
        elif self.recording:
            claims = res.claims
            res.claims = _SETTLED
        else:  # the fast path's reservation, nothing to record: its group's accounts
            res.group = _SETTLED_GROUP
            at, claim_n, claim_t = res.at, res.claim_n, res.claim_t
            for acc in group.usd:
                acc.reserved -= claim_n
                if acc.start <= at:  # else its window has ended (Ledger.settle)
                    acc.spent += nusd
                    if acc.leased:
                        acc.lease += claim_n - nusd
                        acc.unreported += nusd
            for acc in group.tok:
                acc.reserved_tokens -= claim_t
                if acc.start <= at:
                    acc.spent_tokens += tokens
                    if acc.leased:
                        acc.lease_tokens += claim_t - tokens
                        acc.unreported_tokens += tokens
            for acc in group.both:
                acc.reserved -= claim_n
                acc.reserved_tokens -= claim_t
                if acc.start <= at:
                    acc.spent += nusd
                    acc.spent_tokens += tokens
                    if acc.leased:
                        acc.lease += claim_n - nusd
                        acc.unreported += nusd
                        acc.lease_tokens += claim_t - tokens
                        acc.unreported_tokens += tokens
            if group.alerting:
                for acc, _, _ in group.counters:
                    if acc.alert_at is not None and acc.alerted != acc.start:
                        alert = alert_of(acc)
                        if alert is not None:
                            self.alerts.append(alert)
                if self.alerts:
                    self.wake()
            return
        recording = self.recording
        at_ms = time.time_ns() // 1_000_000 if recording else 0
        for claim in claims:
            acc, claim_n, claim_t, start = claim
            charge = 0 if acc.limit is None else nusd  # a claim is 0 where the limit is None
            used = 0 if acc.limit_tokens is None else tokens
            if acc.start != start:  # its window has ended
                Ledger.settle(claim, charge, used)
            else:  # Ledger.settle, inline (adding a zero is skipped)
                if charge or claim_n:
                    acc.reserved -= claim_n
                    acc.spent += charge
                if used or claim_t:
                    acc.reserved_tokens -= claim_t
                    acc.spent_tokens += used
                if acc.leased:
                    acc.lease += claim_n - charge
                    acc.lease_tokens += claim_t - used
                    acc.unreported += charge
                    acc.unreported_tokens += used
            if recording:
                self._record(res, acc, claim, charge, used, at_ms)
            if acc.alert_at is not None and acc.alerted != acc.start:
                alert = alert_of(acc)
                if alert is not None:
                    self.alerts.append(alert)
        if recording or self.alerts:
            self.wake()

    def _record(
        self, res: Reservation, acc: Account, claim: Claim, charge: int, used: int, at_ms: int
    ) -> None:
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

    # -- reading -----------------------------------------------------------------------------
