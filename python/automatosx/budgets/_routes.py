"""Which budgets an attempt counts against, worked out once per (deployment, model) pair and
per user or tenant.

A :class:`Route` holds, for one pair, every budget whose ``match`` may admit it (an
:data:`Entry` each) and the pair's rates with the largest prompt that pays the base rates (a
tiered model's lowest threshold). What a reservation walks is the request's *counters*: a
tuple of ``(account, usd, tokens)``, one per budget that counts the attempt. They are kept:

* ``FIXED``: no budget's scope depends on the request: one tuple for the route;
* ``BY_USER``, ``BY_TENANT``, ``BY_BOTH``: some budget is ``per`` user and/or tenant (with no
  tenant or user ``match``): one tuple per user (tenant, or both), made at its first request;
* ``SCOPED``: anything else (a scope of several dimensions, a tenant or user ``match``):
  made for each request (:func:`counters_of`).

So :meth:`Budgets.reserve_now <automatosx.budgets._gate.Budgets.reserve_now>` does no
matching, no string building and no price lookup per request. An account is kept for good: a
new window rolls it in place (``Ledger.account``), so a kept tuple stays right. What is kept
is a :class:`Group`: the counters, and their accounts split by what they limit (USD, tokens,
both), which the fast path books and settles without building claims.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from automatosx.budgets._config import BudgetSpec
from automatosx.budgets._ledger import Account, Ledger
from automatosx.pricing import Rates

if TYPE_CHECKING:
    from automatosx.schemas import ProviderRequest

__all__ = [
    "BY_BOTH",
    "BY_TENANT",
    "BY_USER",
    "FIXED",
    "NONE",
    "NO_TIER",
    "SCOPED",
    "SETTLED_GROUP",
    "Counters",
    "Entry",
    "Group",
    "Route",
    "base_floor",
    "build_route",
    "counters_of",
    "scope_of",
]

FIXED, BY_USER, BY_TENANT, BY_BOTH, SCOPED = 0, 1, 2, 3, 4
NONE = -1
"""A route's key when no budget matches it."""
NO_TIER = 1 << 62
"""The base-rate floor of untiered rates: every prompt pays the base rates."""
_KEPT = 65_536  # users (tenants) per route whose counters are kept

Scoper = Callable[["ProviderRequest"], "str | None"]
Entry = tuple[BudgetSpec, int, Any]
"""``(spec, how, what)``: ``how`` is ``FIXED`` (``what``: the account), ``BY_USER`` or
``BY_TENANT`` (``what``: None) or ``SCOPED`` (``what``: the request's scope function)."""
Counters = tuple[tuple[Account, bool, bool], ...]
"""``(account, usd, tokens)`` per budget counting the attempt: whether it has a USD / a
token limit."""


class Group:
    """The counters of a route (for a user, a tenant) as the fast path walks them: the
    accounts with a USD limit alone (``usd``), a token limit alone (``tok``), both
    (``both``). ``fast``: every counter has a limit (a claim of nothing is the general
    path's). ``alerting``: some account has an ``alertAt``."""

    __slots__ = ("alerting", "both", "counters", "fast", "tok", "usd")

    def __init__(self, counters: Counters) -> None:
        self.counters = counters
        self.usd = tuple(acc for acc, usd, tok in counters if usd and not tok)
        self.tok = tuple(acc for acc, usd, tok in counters if tok and not usd)
        self.both = tuple(acc for acc, usd, tok in counters if usd and tok)
        self.fast = all(usd or tok for _, usd, tok in counters) and bool(counters)
        self.alerting = any(acc.alert_at is not None for acc, _, _ in counters)


SETTLED_GROUP = Group(())
"""A settled fast reservation's group: no account (settling it again does nothing)."""


class Route:
    """The budgets of one (deployment, model) pair (see the module's docstring)."""

    __slots__ = ("entries", "floor", "kept", "key", "rates")

    def __init__(self, entries: tuple[Entry, ...], rates: Rates | None, key: int) -> None:
        self.entries = entries
        self.rates = rates
        self.floor = base_floor(rates)
        """A prompt of at most this many input tokens pays the base rates."""
        self.key = key
        self.kept: Any = {}
        """``FIXED``: the :class:`Group`; ``BY_*``: the groups by user, tenant or both."""

    def group(self, request: ProviderRequest, ledger: Ledger, now: float) -> Group:
        """The request's counters, kept (``BY_*``) when there is room."""
        found = Group(counters_of(self.entries, request, ledger, now))
        fields = request.__dict__
        key = self.key
        kept = self.kept
        if key != SCOPED and len(kept) < _KEPT:
            if key == BY_USER:
                kept[fields["user"]] = found
            elif key == BY_TENANT:
                kept[fields["tenant"]] = found
            else:
                kept[(fields["user"], fields["tenant"])] = found
        return found


def scope_of(spec: BudgetSpec, values: dict[str, str | None]) -> str:
    """The scope value of a request under ``spec``: ``"*"`` without ``per``, else
    ``"user=alice"`` (``-`` for a request without that field)."""
    if not spec.per:
        return "*"
    return ",".join(f"{dim}={values[dim] or '-'}" for dim in spec.per)


def base_floor(rates: Rates | None) -> int:
    """The largest prompt (input tokens) that pays ``rates``' base rates; -1: not known to
    (work it out per prompt)."""
    if type(rates) is not Rates:
        return -1
    tiers = rates.input_tiers + rates.output_tiers
    return min(start for start, _ in tiers) if tiers else NO_TIER


def counters_of(
    entries: tuple[Entry, ...], request: ProviderRequest, ledger: Ledger, now: float
) -> Counters:
    """The accounts of the request's scope values under each entry (a match may leave one
    out)."""
    found: list[tuple[Account, bool, bool]] = []
    for spec, how, what in entries:
        if how == FIXED:
            acc = what
        else:
            if how == BY_USER:
                scope = "user=" + (request.user or "-")
            elif how == BY_TENANT:
                scope = "tenant=" + (request.tenant or "-")
            else:
                scoped = what(request)
                if scoped is None:
                    continue  # its match filters the request's tenant or user out
                scope = scoped
            acc = ledger.account(spec, scope, now)
        found.append((acc, spec.limit_usd is not None, spec.limit_tokens is not None))
    return tuple(found)


def build_route(
    specs: tuple[BudgetSpec, ...],
    ledger: Ledger,
    rates: Rates | None,
    deployment: str,
    model: str,
    now: float,
) -> Route:
    """The budgets an attempt on (deployment, model) may count against, and its rates."""
    entries: list[Entry] = []
    static = {"tenant": None, "user": None, "deployment": deployment, "model": model}
    hows: set[int] = set()
    for spec in specs:
        match = spec.match
        if any(k in match and static[k] not in match[k] for k in ("deployment", "model")):
            continue
        keyed = "tenant" not in match and "user" not in match
        if keyed and spec.per in (("user",), ("tenant",)):
            entries.append((spec, BY_USER if spec.per == ("user",) else BY_TENANT, None))
        elif {"tenant", "user"} & (set(spec.per) | set(match)):
            entries.append((spec, SCOPED, _scoper(spec, deployment, model)))
        else:
            entries.append((spec, FIXED, ledger.account(spec, scope_of(spec, static), now)))
        hows.add(entries[-1][1])
    if not entries:
        key = NONE
    elif SCOPED in hows:
        key = SCOPED
    elif BY_USER in hows:
        key = BY_BOTH if BY_TENANT in hows else BY_USER
    else:
        key = BY_TENANT if BY_TENANT in hows else FIXED
    route = Route(tuple(entries), rates, key)
    if key == FIXED:
        route.kept = Group(
            tuple(
                (what, spec.limit_usd is not None, spec.limit_tokens is not None)
                for spec, _, what in entries
            )
        )
    return route


def _scoper(spec: BudgetSpec, deployment: str, model: str) -> Scoper:
    tenants = spec.match.get("tenant")
    users = spec.match.get("user")
    fixed = {"deployment": deployment, "model": model}

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
