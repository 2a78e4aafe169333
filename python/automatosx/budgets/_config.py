"""``RouterOptions.budgets``: the entries, validated into :class:`BudgetSpec`.

Each entry is ``{"id", "limitUsd"?, "limitTokens"?, "window", "per"?, "match"?,
"onExceeded"?, "alertAt"?}`` (snake_case names are accepted too). A bad entry raises
:class:`~automatosx.errors.ConfigurationError` naming it (its index and id), the field and
the fix: no limit, a negative limit, an unknown window, dimension or match key, a duplicate id.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from automatosx.budgets._window import Window
from automatosx.errors import ConfigurationError

__all__ = ["DIMENSIONS", "BudgetSpec", "parse_budgets"]

DIMENSIONS = ("tenant", "user", "deployment", "model")
"""What ``per`` may name, and ``match`` filter on."""

_WINDOWS = ("minute", "hour", "day", "month", "total")
_MAX_SECONDS = 10 * 366 * 86_400
_MAX_USD = 1e6  # nano-dollars stay exact in a double (Redis Lua)
_MAX_TOKENS = 10**15
_KEYS = {
    "id": "id",
    "limitUsd": "limitUsd",
    "limit_usd": "limitUsd",
    "limitTokens": "limitTokens",
    "limit_tokens": "limitTokens",
    "window": "window",
    "per": "per",
    "match": "match",
    "onExceeded": "onExceeded",
    "on_exceeded": "onExceeded",
    "alertAt": "alertAt",
    "alert_at": "alertAt",
}


@dataclass(frozen=True, slots=True)
class BudgetSpec:
    """One validated budget. Money is kept in nano-dollars (``limit_nusd``: integers, so
    reservations and charges add up exactly); None where the budget has no such limit."""

    id: str
    window: Window
    limit_usd: float | None = None
    limit_tokens: int | None = None
    per: tuple[str, ...] = ()
    match: Mapping[str, frozenset[str]] = field(default_factory=dict)
    on_exceeded: str = "reject"
    alert_at: float | None = None

    @property
    def limit_nusd(self) -> int | None:
        return None if self.limit_usd is None else round(self.limit_usd * 1e9)

    def definition(self) -> dict[str, Any]:
        """The entry as JSON (camelCase), as stored at ``open()`` for ``automatosx budgets``."""
        out: dict[str, Any] = {"id": self.id, "window": self.window.as_json()}
        if self.limit_usd is not None:
            out["limitUsd"] = self.limit_usd
        if self.limit_tokens is not None:
            out["limitTokens"] = self.limit_tokens
        if self.per:
            out["per"] = list(self.per)
        if self.match:
            out["match"] = {k: sorted(v) for k, v in self.match.items()}
        out["onExceeded"] = self.on_exceeded
        if self.alert_at is not None:
            out["alertAt"] = self.alert_at
        return out


def parse_budgets(entries: Sequence[Any]) -> tuple[BudgetSpec, ...]:
    """Validate ``RouterOptions.budgets``; raise ``ConfigurationError`` naming the entry."""
    if isinstance(entries, (str, bytes, Mapping)) or not isinstance(entries, Sequence):
        raise ConfigurationError(
            f"budgets: expected a list of budget objects, got {type(entries).__name__}"
        )
    specs: list[BudgetSpec] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        spec = _parse_one(i, entry)
        if spec.id in seen:
            raise ConfigurationError(
                f"budgets[{i}] (id {spec.id!r}): the id is used twice; give each budget its own"
            )
        seen.add(spec.id)
        specs.append(spec)
    return tuple(specs)


def _parse_one(i: int, entry: Any) -> BudgetSpec:
    if not isinstance(entry, Mapping):
        raise ConfigurationError(
            f"budgets[{i}]: expected an object like {{'id': 'daily', 'limitUsd': 5, "
            f"'window': 'day'}}, got {type(entry).__name__}"
        )
    raw_id = entry.get("id")
    where = f"budgets[{i}]" if not isinstance(raw_id, str) else f"budgets[{i}] (id {raw_id!r})"

    def fail(message: str) -> ConfigurationError:
        return ConfigurationError(f"{where}: {message}")

    values: dict[str, Any] = {}
    for key, value in entry.items():
        name = _KEYS.get(key)
        if name is None:
            raise fail(
                f"unknown field {key!r}; the fields are {', '.join(sorted(set(_KEYS.values())))}"
            )
        values[name] = value
    if not isinstance(raw_id, str) or not 1 <= len(raw_id) <= 64:
        raise fail("'id' is required: a name of 1-64 characters (e.g. 'daily-usd')")
    limit_usd = _limit(values.get("limitUsd"), "limitUsd", _MAX_USD, fail, integer=False)
    limit_tokens = _limit(values.get("limitTokens"), "limitTokens", _MAX_TOKENS, fail, integer=True)
    if limit_usd is None and limit_tokens is None:
        raise fail("no limit: set 'limitUsd' (dollars) and/or 'limitTokens'")
    window = _window(values.get("window"), fail)
    per = _per(values.get("per"), fail)
    match = _match(values.get("match"), fail)
    on_exceeded = values.get("onExceeded", "reject")
    if on_exceeded not in ("reject", "fallback"):
        raise fail(f"'onExceeded' must be 'reject' or 'fallback', got {on_exceeded!r}")
    alert_at = values.get("alertAt")
    if alert_at is not None and (
        isinstance(alert_at, bool)
        or not isinstance(alert_at, (int, float))
        or not 0 < alert_at <= 1
    ):
        raise fail(
            f"'alertAt' must be a fraction of the limit in (0, 1], e.g. 0.8; got {alert_at!r}"
        )
    return BudgetSpec(
        id=raw_id,
        window=window,
        limit_usd=limit_usd,
        limit_tokens=None if limit_tokens is None else int(limit_tokens),
        per=per,
        match=match,
        on_exceeded=on_exceeded,
        alert_at=None if alert_at is None else float(alert_at),
    )


def _limit(value: Any, name: str, most: float, fail: Any, *, integer: bool) -> float | None:
    if value is None:
        return None
    kind = "a whole number" if integer else "a number"
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or (integer and not isinstance(value, int))
        or not math.isfinite(value)
    ):
        raise fail(f"{name!r} must be {kind} >= 0, got {value!r}")
    if value < 0:
        raise fail(f"{name!r} is negative ({value!r}); a limit is >= 0")
    if value > most:
        raise fail(f"{name!r} is at most {most:g}, got {value!r}")
    return float(value)


def _window(value: Any, fail: Any) -> Window:
    if isinstance(value, str) and value in _WINDOWS:
        return Window(value)
    if isinstance(value, Mapping) and set(value) == {"seconds"}:
        seconds = value["seconds"]
        if (
            isinstance(seconds, int)
            and not isinstance(seconds, bool)
            and 1 <= seconds <= _MAX_SECONDS
        ):
            return Window("seconds", seconds)
    raise fail(
        f"unknown window {value!r}: use 'minute', 'hour', 'day', 'month' (calendar windows in "
        f"UTC), 'total', or {{'seconds': N}} with 1 <= N <= {_MAX_SECONDS}"
    )


def _per(value: Any, fail: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise fail(f"'per' must be a list of dimensions from {list(DIMENSIONS)}, got {value!r}")
    for dim in value:
        if dim not in DIMENSIONS:
            raise fail(f"unknown dimension {dim!r} in 'per'; dimensions: {', '.join(DIMENSIONS)}")
    if len(set(value)) != len(value):
        raise fail(f"'per' names a dimension twice: {list(value)!r}")
    return tuple(value)


def _match(value: Any, fail: Any) -> dict[str, frozenset[str]]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise fail(f"'match' must be an object like {{'model': ['gpt-4o']}}, got {value!r}")
    out: dict[str, frozenset[str]] = {}
    for key, names in value.items():
        if key not in DIMENSIONS:
            raise fail(f"unknown dimension {key!r} in 'match'; dimensions: {', '.join(DIMENSIONS)}")
        if (
            isinstance(names, str)
            or not isinstance(names, Sequence)
            or not names
            or not all(isinstance(n, str) and n for n in names)
        ):
            raise fail(f"'match.{key}' must be a non-empty list of names, got {names!r}")
        out[key] = frozenset(names)
    return out
