"""Bad budgets fail at construction with a ConfigurationError naming the entry and the fix;
good ones validate into specs; windows are calendar windows in UTC."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from automatosx import ConfigurationError, Router, RouterOptions
from automatosx.budgets import Window, parse_budgets

OPTS: dict[str, Any] = {"primaryProvider": "openai"}


@pytest.mark.parametrize(
    ("entry", "needle"),
    [
        ({"id": "b", "window": "day"}, "no limit"),
        ({"id": "b", "limitUsd": -1, "window": "day"}, "negative"),
        ({"id": "b", "limitTokens": -5, "window": "day"}, "negative"),
        ({"id": "b", "limitTokens": 1.5, "window": "day"}, "whole number"),
        ({"id": "b", "limitUsd": 5, "window": "fortnight"}, "unknown window 'fortnight'"),
        ({"id": "b", "limitUsd": 5, "window": {"seconds": 0}}, "unknown window"),
        ({"id": "b", "limitUsd": 5, "window": "day", "per": ["team"]}, "unknown dimension 'team'"),
        ({"id": "b", "limitUsd": 5, "window": "day", "match": {"region": ["eu"]}}, "'region'"),
        ({"id": "b", "limitUsd": 5, "window": "day", "onExceeded": "warn"}, "'onExceeded'"),
        ({"id": "b", "limitUsd": 5, "window": "day", "alertAt": 1.5}, "'alertAt'"),
        ({"id": "b", "limitUsd": 5, "window": "day", "limit": 3}, "unknown field 'limit'"),
        ({"limitUsd": 5, "window": "day"}, "'id' is required"),
    ],
)
def test_a_bad_budget_fails_at_construction_naming_the_entry(
    entry: dict[str, Any], needle: str
) -> None:
    good = {"id": "ok", "limitUsd": 1, "window": "day"}
    with pytest.raises(ConfigurationError) as info:
        RouterOptions.model_validate({**OPTS, "budgets": [good, entry]})
    message = str(info.value)
    assert message.startswith("budgets[1]")
    assert needle in message
    if "id" in entry:
        assert "(id 'b')" in message
    with pytest.raises(ConfigurationError):  # the dict form of the router's options too
        Router({**OPTS, "budgets": [entry]}, [])


def test_a_duplicate_id_is_refused() -> None:
    entry = {"id": "same", "limitUsd": 1, "window": "day"}
    with pytest.raises(
        ConfigurationError, match=r"budgets\[1\] \(id 'same'\): the id is used twice"
    ):
        parse_budgets([entry, entry])


def test_a_good_budget_round_trips_its_definition() -> None:
    entry = {
        "id": "per-user",
        "limitUsd": 5,
        "limitTokens": 100_000,
        "window": {"seconds": 3600},
        "per": ["user"],
        "match": {"model": ["gpt-4o", "gpt-4o-mini"]},
        "onExceeded": "fallback",
        "alertAt": 0.8,
    }
    (spec,) = parse_budgets([entry])
    assert spec.limit_nusd == 5_000_000_000
    assert spec.definition() == {
        **entry,
        "limitUsd": 5.0,
        "match": {"model": ["gpt-4o", "gpt-4o-mini"]},
    }
    options = RouterOptions.model_validate({**OPTS, "budgets": [entry], "unpricedModels": "allow"})
    assert options.budgets == [entry]
    assert options.unpriced_models == "allow"
    dumped = options.model_dump(by_alias=True)
    assert dumped["budgets"] == [entry]
    assert dumped["unpricedModels"] == "allow"
    assert "budgets" not in RouterOptions.model_validate(OPTS).model_dump(by_alias=True)


def _ts(*args: int) -> float:
    return datetime(*args, tzinfo=timezone.utc).timestamp()  # type: ignore[misc]


@pytest.mark.parametrize(
    ("window", "now", "start", "end"),
    [
        (
            Window("minute"),
            _ts(2026, 12, 7, 23, 59, 30),
            _ts(2026, 12, 7, 23, 59),
            _ts(2026, 12, 8),
        ),
        (Window("hour"), _ts(2026, 12, 7, 23, 59, 30), _ts(2026, 12, 7, 23), _ts(2026, 12, 8)),
        (Window("day"), _ts(2026, 12, 7, 23, 59, 30), _ts(2026, 12, 7), _ts(2026, 12, 8)),
        (Window("month"), _ts(2026, 12, 31, 23, 59, 59), _ts(2026, 12, 1), _ts(2027, 1, 1)),
        (Window("month"), _ts(2028, 2, 29, 12), _ts(2028, 2, 1), _ts(2028, 3, 1)),
        (Window("seconds", 90), 1_000_000_005.0, 999_999_990, 1_000_000_080),
    ],
)
def test_windows_are_calendar_windows_in_utc(
    window: Window, now: float, start: float, end: float
) -> None:
    assert window.bounds(now) == (int(start), int(end))


def test_a_total_window_never_resets() -> None:
    assert Window("total").bounds(_ts(2030, 1, 1)) == (0, None)
