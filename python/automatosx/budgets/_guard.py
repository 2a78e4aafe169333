"""The budgets in a router: an attempt guard (``automatosx.guards.AttemptGuard``) and the
background work around it.

:func:`attach` is the router's wiring (``Router._open``): it builds one
:class:`BudgetGuard`, starts it and adds its factory to the router's attempt guards; the
router closes it (:meth:`BudgetGuard.aclose`) before the store. One guard serves every
deployment of a router (its factory returns the same object). It is no observer: a router
without observers does no work for them, budgets or not.

Before each attempt it reserves (:meth:`Budgets.reserve`) and answers ``Admit(reservation)``,
``SkipCandidate`` (``onExceeded: "fallback"``: the candidate is passed over like one with an
open breaker) or ``RejectRequest(BudgetExceededError)``. After the attempt it settles with
the :class:`~automatosx.guards.AttemptEnd`: the usage; for an attempt the provider had (a
stream cut, stalled, restarted or cancelled, a hedge's loser) the input plus the tokens
delivered; a release for a failure before any byte.

Off the request path, one task writes each settlement's rows into the store (write-behind,
like every record) and tells the observers of ``alertAt`` crossings. At ``open()`` the guard
stores the definitions and resumes each window's spend from the store (or, with ``shared=``,
leases from Redis, which holds the fleet's spend); at ``aclose()`` it writes what is left
and gives the fleet's leases back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from automatosx.budgets._config import parse_budgets
from automatosx.budgets._gate import Budgets, Reservation
from automatosx.budgets._sql import definition_row, resume_rows, spend_row
from automatosx.errors import BudgetExceededError, ProviderError
from automatosx.guards import (
    ADMIT,
    Admission,
    Admit,
    AttemptEnd,
    AttemptSpec,
    RejectRequest,
    SkipCandidate,
)
from automatosx.observe import Observers

if TYPE_CHECKING:
    from automatosx.budgets._fleet import BudgetFleet
    from automatosx.guards import DeploymentSpec
    from automatosx.pricing import PriceBook
    from automatosx.schemas import RouterOptions

__all__ = ["BudgetGuard", "BudgetSkip", "attach", "budgets_of"]

log = logging.getLogger("automatosx.budgets")


class BudgetSkip(ProviderError):
    """A candidate passed over because a ``fallback`` budget had no room for it. ``budget``
    is the refusal: raised when every candidate was passed over."""

    code_default = "BUDGET_EXCEEDED"

    def __init__(self, budget: BudgetExceededError, provider: str) -> None:
        super().__init__(str(budget), provider=provider, code=budget.code)
        self.budget = budget

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.budget, self.provider))


async def attach(router: Any, prices: PriceBook | None, observers: list[Any]) -> BudgetGuard:
    """Build and start the router's budgets (``RouterOptions.budgets``); add the attempt
    guard's factory to the router's; return the guard (the router closes it)."""
    guard = BudgetGuard(router.options, prices)
    store = router.store
    shared, telemetry = router._shared, router._telemetry
    await guard.start(store, Observers(observers), shared, telemetry)
    router._attempt_guards.append(guard.factory)
    return guard


def budgets_of(router: Any) -> BudgetGuard | None:
    """The router's budgets (None without any), for tests and benchmarks."""
    guard = router._budgets
    return guard if isinstance(guard, BudgetGuard) else None


class BudgetGuard:
    """The budgets of one router, asked before every attempt of every deployment."""

    def __init__(self, options: RouterOptions, prices: PriceBook | None) -> None:
        self.budgets = Budgets(
            parse_budgets(options.budgets),
            allow_unpriced=options.unpriced_models == "allow",
            price=None if prices is None else prices.rates,
        )
        self.admit_now = self.budgets.reserve_now
        """The admission chain's synchronous path (``_routing/admission.py``): a
        :class:`Reservation` (it settles itself), None (no budget matches), or False for a
        refusal, which :meth:`admit` then handles (a fleet's top-up, ``fallback``)."""
        self.fleet: BudgetFleet | None = None
        self.refused: list[Any] = []
        """Callbacks told of each refusal (``(error, deployment)``): the telemetry's counter."""
        self._store: Any = None
        self._observers: Observers | None = None
        self._wake = asyncio.Event()
        self.budgets.wake = self._wake.set
        self._task: asyncio.Task[None] | None = None

    def factory(self, spec: DeploymentSpec) -> BudgetGuard:
        """The ``AttemptGuardFactory``: the same guard for every deployment."""
        return self

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self, store: Any, observers: Observers, shared: Any, telemetry: Any) -> None:
        """Store the definitions, resume the windows' spend (from Redis when ``shared``, else
        the store), give the telemetry its gauges, start the background task."""
        budgets = self.budgets
        self._observers = observers
        if callable(getattr(type(store), "save_budget_spend", None)):  # not the NullStore
            self._store = store
            budgets.recording = True
            await store.save_budget_definitions([definition_row(s) for s in budgets.specs])
            if shared is None:
                budgets.resume(await resume_rows(store, budgets.specs, budgets.now()))
        if shared is not None:
            from automatosx.budgets._fleet import BudgetFleet

            self.fleet = BudgetFleet(
                budgets, shared.url, prefix=f"{shared.prefix}budget:", timeout_s=shared.timeout_s
            )
            await self.fleet.attach()
        bind = getattr(telemetry, "bind_budgets", None)
        if bind is not None:
            bind(self)
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def aclose(self) -> None:
        """Write what is left; give the fleet's leases back."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._flush()
        if self.fleet is not None:
            await self.fleet.aclose()

    # -- the attempt guard -------------------------------------------------------------------

    async def admit(self, attempt: AttemptSpec) -> Admission:
        budgets = self.budgets
        request, deployment, kind, model = (
            attempt.request,
            attempt.deployment,
            attempt.kind,
            attempt.model,
        )
        number = attempt.number
        res = budgets.reserve(request, deployment, kind, model, attempt=number)
        if type(res) is Reservation:
            return Admit(res)
        if res is None:
            return ADMIT
        res = await budgets.retry(res, request, deployment, kind, model, attempt=number)
        if type(res) is Reservation:
            return Admit(res)
        assert isinstance(res, BudgetExceededError)
        for tell in self.refused:
            tell(res, deployment)
        if budgets.passes_over(res):
            return SkipCandidate(BudgetSkip(res, deployment))
        return RejectRequest(res)

    def settle(self, attempt: AttemptSpec, hold: Any, end: AttemptEnd) -> None:
        if type(hold) is Reservation:
            hold.end(end.outcome, end.usage, end.delivered_tokens, end.before_any_byte)

    # -- the background task -----------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._flush()
            except asyncio.CancelledError:
                raise
            except Exception:  # a store or an observer failing must not stop the budgets
                log.warning("budgets: recording spend or an alert failed", exc_info=True)

    async def _flush(self) -> None:
        budgets = self.budgets
        alerts, budgets.alerts = budgets.alerts, []
        observers = self._observers
        if alerts and observers is not None:
            for alert in alerts:
                for obs in observers.budget_alert:
                    await obs.budget_alert(alert)
        records = budgets.drain_records()
        if records and self._store is not None:
            await self._store.save_budget_spend([spend_row(r) for r in records])

    # -- telemetry ---------------------------------------------------------------------------

    def levels(self) -> list[tuple[str, str, str, float, float]]:
        """Each account's ``(budget id, scope, unit, spent, remaining)`` (USD or tokens), in
        its current window: what the ``automatosx.budget.*`` gauges read."""
        out: list[tuple[str, str, str, float, float]] = []
        now = self.budgets.now()
        for acc in list(self.budgets.ledger.accounts.values()):
            if now >= acc.until:
                nusd = tokens = 0
            else:
                nusd, tokens = acc.used()
            spec_id, scope = acc.key
            if acc.limit is not None:
                out.append((spec_id, scope, "usd", nusd / 1e9, max(0, acc.limit - nusd) / 1e9))
            if acc.limit_tokens is not None:
                left = max(0, acc.limit_tokens - tokens)
                out.append((spec_id, scope, "tokens", float(tokens), float(left)))
        return out
