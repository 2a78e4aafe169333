"""Which budgets an attempt counts against, worked out once per (deployment, model) pair.

A :data:`Route` holds, for one pair, every budget whose ``match`` may admit it (an
:data:`Entry` each) and the pair's rates with the largest prompt that pays the base rates (a
tiered model's lowest threshold), so that :meth:`Budgets.reserve_now
<automatosx.budgets._gate.Budgets.reserve_now>` does no matching, no string building and no
price lookup per request. An entry finds the request's account one of three ways:

* ``STATIC``: the scope does not depend on the request: the account itself (kept for good: a
  new window rolls it in place);
* ``BY_USER`` / ``BY_TENANT``: ``per: ["user"]`` (or ``["tenant"]``) with no tenant or user
  ``match``: a table from the request's user (tenant) to its account, shared by every route
  of that budget;
* ``SCOPED``: anything else (a scope of several dimensions, a tenant or user ``match``): a
  function of the request giving its scope value (None: the match filters it out).
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
    "BY_TENANT",
    "BY_USER",
    "NO_TIER",
    "SCOPED",
    "STATIC",
    "Entry",
    "Route",
    "base_floor",
    "build_route",
    "scope_of",
]

STATIC, BY_USER, BY_TENANT, SCOPED = 0, 1, 2, 3
NO_TIER = 1 << 62
"""The base-rate floor of untiered rates: every prompt pays the base rates."""

Scoper = Callable[["ProviderRequest"], "str | None"]
Entry = tuple[BudgetSpec, int, Any, bool, bool]
"""``(spec, how, what, usd, tokens)``: ``what`` is the account (``STATIC``), the table of
accounts by user or tenant (``BY_USER``, ``BY_TENANT``) or the scope function (``SCOPED``);
``usd`` / ``tokens``: whether the budget has a USD / a token limit."""
Route = tuple[tuple[Entry, ...], "Rates | None", int]
"""``(entries, rates, floor)``: a prompt of at most ``floor`` input tokens pays the base rates."""


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


def build_route(
    specs: tuple[BudgetSpec, ...],
    ledger: Ledger,
    tables: dict[str, dict[str | None, Account]],
    rates: Rates | None,
    deployment: str,
    model: str,
    now: float,
) -> Route:
    """The budgets an attempt on (deployment, model) may count against, and its rates.
    ``tables``: each ``BY_USER``/``BY_TENANT`` budget's accounts by value (filled here)."""
    entries: list[Entry] = []
    static = {"tenant": None, "user": None, "deployment": deployment, "model": model}
    for spec in specs:
        usd, tokens = spec.limit_usd is not None, spec.limit_tokens is not None
        match = spec.match
        if any(k in match and static[k] not in match[k] for k in ("deployment", "model")):
            continue
        keyed = "tenant" not in match and "user" not in match
        if keyed and spec.per in (("user",), ("tenant",)):
            how = BY_USER if spec.per == ("user",) else BY_TENANT
            entries.append((spec, how, tables.setdefault(spec.id, {}), usd, tokens))
        elif {"tenant", "user"} & (set(spec.per) | set(match)):
            entries.append((spec, SCOPED, _scoper(spec, deployment, model), usd, tokens))
        else:
            acc = ledger.account(spec, scope_of(spec, static), now)
            entries.append((spec, STATIC, acc, usd, tokens))
    return tuple(entries), rates, base_floor(rates)


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
