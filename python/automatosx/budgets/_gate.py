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
from datetime import datetime, timezone
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
from automatosx.errors import BudgetExceededError, UnpricedModelError
from automatosx.observe import BudgetAlert

if TYPE_CHECKING:
    from automatosx.pricing import Rates
    from automatosx.schemas import ProviderRequest, TokenUsage

__all__ = ["Budgets", "Reservation", "scope_of"]

log = logging.getLogger("automatosx.budgets")
NANO = 1e9


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
        return max((c.nusd for c in self.claims), default=0)


def scope_of(spec: BudgetSpec, values: dict[str, str | None]) -> str:
    """The scope value of a request under ``spec``: ``"*"`` without ``per``, else
    ``"user=alice"`` (``-`` for a request without that field)."""
    if not spec.per:
        return "*"
    return ",".join(f"{dim}={values[dim] or '-'}" for dim in spec.per)


def _matches(spec: BudgetSpec, values: dict[str, str | None]) -> bool:
    return all(values[dim] in names for dim, names in spec.match.items())


class Budgets:
    """The budgets of one router (one event loop). ``clock`` gives epoch seconds."""

    def __init__(
        self,
        specs: Sequence[BudgetSpec],
        *,
        allow_unpriced: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.specs = tuple(specs)
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

    # -- before the attempt ------------------------------------------------------------------

    def reserve(
        self,
        request: ProviderRequest,
        deployment: str,
        kind: str,
        model: str,
        rates: Rates | None,
        attempt: int = 0,
    ) -> Reservation | BudgetExceededError | None:
        """Book the attempt's maximum cost against every matching budget, or say which has
        no room (nothing booked). None: no budget matches, nothing to settle."""
        values = {
            "tenant": request.tenant,
            "user": request.user,
            "deployment": deployment,
            "model": model,
        }
        now = self.clock()
        ledger = self.ledger
        n_in = n_out = -1
        claims: list[Claim] = []
        refusal: BudgetExceededError | None = None
        soft = False  # the refusal is a "fallback" budget's (a "reject" one's wins)
        for spec in self.specs:
            if spec.match and not _matches(spec, values):
                continue
            if n_in < 0:
                n_in = input_tokens(request)
                n_out = output_cap(request, kind, model)
            acc = ledger.account(spec, scope_of(spec, values), now)
            if spec.limit_usd is None:
                nusd = 0
            elif rates is None:
                if not self.allow_unpriced:
                    if refusal is None or (soft and spec.on_exceeded == "reject"):
                        refusal, soft = self._unpriced(acc, model), spec.on_exceeded == "fallback"
                    continue
                nusd = 0
            else:
                nusd = cost_nusd(rates, n_in, n_out)
            tokens = n_in + n_out if spec.limit_tokens is not None else 0
            if not acc.fits(nusd, tokens):
                if refusal is None or (soft and spec.on_exceeded == "reject"):
                    refusal, soft = self._refusal(acc, nusd, tokens), spec.on_exceeded == "fallback"
                continue
            claims.append(Claim(acc, nusd, tokens, acc.start))
        if refusal is not None:
            return refusal
        if not claims:
            return None
        Ledger.book(claims)
        return Reservation(claims, rates, n_in, n_out, request.request_id, attempt)

    async def admit(
        self,
        request: ProviderRequest,
        deployment: str,
        kind: str,
        model: str,
        rates: Rates | None,
        attempt: int = 0,
    ) -> Reservation | BudgetExceededError | None:
        """:meth:`reserve`; in a fleet, a lease too short for the claim is topped up first
        (the only time a request waits on Redis's background task)."""
        res = self.reserve(request, deployment, kind, model, rates, attempt)
        if type(res) is not Reservation and res is not None:
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
        nusd = 0 if rates is None else usd_nusd(rates.cost(usage))
        self._charge(res, nusd, usage.input_tokens + usage.output_tokens)

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
        at_ms = time.time_ns() // 1_000_000
        for claim in res.claims:
            spec = claim.account.spec
            charge = nusd if spec.limit_usd is not None else 0
            used = tokens if spec.limit_tokens is not None else 0
            Ledger.settle(claim, charge, used)
            if self.recording:
                self.records.append(
                    SpendRecord(
                        res.request_id,
                        res.attempt,
                        spec.id,
                        claim.account.scope,
                        claim.start,
                        claim.nusd,
                        charge,
                        claim.tokens,
                        used,
                        at_ms,
                    )
                )
            if spec.alert_at is not None:
                self._check_alert(claim.account)
        res.claims = []

    # -- alerts and errors -------------------------------------------------------------------

    def _check_alert(self, acc: Account) -> None:
        spec = acc.spec
        if acc.alerted == acc.start or spec.alert_at is None:
            return
        nusd, tokens = acc.used()
        nusd -= acc.reserved
        tokens -= acc.reserved_tokens
        unit = ""
        if acc.limit is not None and nusd >= spec.alert_at * acc.limit:
            unit, limit, spent = "usd", acc.limit / NANO, nusd / NANO
        elif acc.limit_tokens is not None and tokens >= spec.alert_at * acc.limit_tokens:
            unit, limit, spent = "tokens", float(acc.limit_tokens), float(tokens)
        if not unit:
            return
        acc.alerted = acc.start
        alert = BudgetAlert(
            spec.id,
            acc.scope,
            unit,
            limit,
            spent,
            spec.alert_at,
            spec.window.label,
            acc.start,
            acc.end,
        )
        log.warning(
            "budget %r (%s) crossed %d%% of its %s limit this %s: spent %s of %s",
            spec.id,
            acc.scope,
            round(spec.alert_at * 100),
            unit,
            spec.window.label,
            _amount(unit, spent),
            _amount(unit, limit),
        )
        self.alerts.append(alert)

    def _refusal(self, acc: Account, nusd: int, tokens: int) -> BudgetExceededError:
        spec = acc.spec
        used, used_tokens = acc.used()
        over_usd = acc.limit is not None and (
            (not acc.leased and used + nusd > acc.limit) or (acc.leased and nusd > acc.lease)
        )
        if over_usd and acc.limit is not None:
            unit, limit, spent, needed = "usd", acc.limit / NANO, used / NANO, nusd / NANO
        else:
            lt = acc.limit_tokens or 0
            unit, limit, spent, needed = "tokens", float(lt), float(used_tokens), float(tokens)
        fleet = " (fleet-wide)" if acc.leased else ""
        message = (
            f"budget {spec.id!r} ({acc.scope}) has no room{fleet}: this attempt may cost up "
            f"to {_amount(unit, needed)}, {_amount(unit, spent)} of its "
            f"{_amount(unit, limit)} {spec.window.label} limit is spent or reserved; "
            f"{_resets(acc.end)}"
        )
        return BudgetExceededError(
            message,
            budget_id=spec.id,
            scope=acc.scope,
            limit=limit,
            spent=spent,
            needed=needed,
            unit=unit,
            resets_at=acc.end,
        )

    def _unpriced(self, acc: Account, model: str) -> UnpricedModelError:
        spec = acc.spec
        limit = (acc.limit or 0) / NANO
        return UnpricedModelError(
            f"model {model!r} has no price, so USD budget {spec.id!r} ({acc.scope}) cannot "
            f"guard it: give its deployment 'prices' for it, or set RouterOptions."
            f"unpricedModels to 'allow' (unpriced models then cost $0 in USD budgets)",
            model=model,
            budget_id=spec.id,
            scope=acc.scope,
            limit=limit,
            spent=acc.used()[0] / NANO,
            unit="usd",
            resets_at=acc.end,
        )

    # -- reading -----------------------------------------------------------------------------

    def resume(self, rows: Iterable[tuple[str, str, int, int, int]]) -> None:
        """Spend read back at open: (budget id, scope, window start, nano-dollars, tokens)."""
        resumed = self.ledger.resumed
        for budget_id, scope, start, nusd, tokens in rows:
            resumed[(budget_id, scope, start)] = (int(nusd), int(tokens))

    def drain_records(self) -> list[SpendRecord]:
        records, self.records = self.records, []
        return records


def _amount(unit: str, value: float) -> str:
    return f"${value:,.6f}".rstrip("0").rstrip(".") if unit == "usd" else f"{int(value):,} tokens"


def _resets(end: int | None) -> str:
    if end is None:
        return "the window is 'total': it never resets"
    at = datetime.fromtimestamp(end, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"the window resets at {at}"
