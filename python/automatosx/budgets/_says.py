"""What the budgets say: a refusal (``BudgetExceededError``, ``UnpricedModelError``) naming
the budget, its scope value, limit, spend and when the window resets; and an ``alertAt``
crossing (a ``BudgetAlert`` for the observers, and one warning log)."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from automatosx.budgets._ledger import Account
from automatosx.errors import BudgetExceededError, UnpricedModelError
from automatosx.observe import BudgetAlert

__all__ = ["alert_of", "no_room", "unpriced"]

log = logging.getLogger("automatosx.budgets")
NANO = 1e9


def alert_of(acc: Account) -> BudgetAlert | None:
    """The account's ``alertAt`` crossing in this window, once (logged as a warning)."""
    spec = acc.spec
    if acc.alerted == acc.start or spec.alert_at is None:
        return None
    nusd, tokens = acc.used()
    nusd -= acc.reserved
    tokens -= acc.reserved_tokens
    unit = ""
    if acc.limit is not None and nusd >= spec.alert_at * acc.limit:
        unit, limit, spent = "usd", acc.limit / NANO, nusd / NANO
    elif acc.limit_tokens is not None and tokens >= spec.alert_at * acc.limit_tokens:
        unit, limit, spent = "tokens", float(acc.limit_tokens), float(tokens)
    if not unit:
        return None
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
    return alert


def no_room(acc: Account, nusd: int, tokens: int) -> BudgetExceededError:
    """Why the account has no room for a claim of ``nusd`` / ``tokens``."""
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


def unpriced(acc: Account, model: str) -> UnpricedModelError:
    """Why a USD budget refuses a model with no price."""
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


def _amount(unit: str, value: float) -> str:
    return f"${value:,.6f}".rstrip("0").rstrip(".") if unit == "usd" else f"{int(value):,} tokens"


def _resets(end: int | None) -> str:
    if end is None:
        return "the window is 'total': it never resets"
    at = datetime.fromtimestamp(end, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"the window resets at {at}"
