"""No key in any traceback, nor in the store: a server that echoes the API key in its error
body, for all three providers, through a Router — an error raised directly (400) and
``AllProvidersFailedError`` — formatted with ``traceback.format_exception``."""

from __future__ import annotations

import traceback
from typing import TYPE_CHECKING

import pytest

from automatosx.emulator import Rule
from automatosx.errors import AllProvidersFailedError, InvalidRequestError

from .conftest import API_KEY, NAMES

if TYPE_CHECKING:
    from .conftest import Bench

ECHO = f"key {API_KEY} is not allowed here"


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    ("status", "raised"), [(400, InvalidRequestError), (401, AllProvidersFailedError)]
)
async def test_an_echoed_key_is_in_no_traceback_and_no_row(
    hx: Bench, name: str, status: int, raised: type[Exception]
) -> None:
    hx.scenario.add(Rule(provider=name, status=status, message=ECHO))
    req = hx.request()
    async with hx.router(name) as router:
        with pytest.raises(raised) as caught:
            await router.execute(req)
    text = "".join(traceback.format_exception(caught.value))
    assert hx.scenario.count(name) == 1
    assert API_KEY not in text
    assert "[REDACTED]" in text  # the echo arrived, and was redacted
    assert API_KEY not in repr(caught.value)
    rows = hx.rows(
        "SELECT error FROM provider_requests UNION ALL SELECT error FROM provider_attempts"
    )
    assert rows
    assert all(API_KEY not in (r["error"] or "") for r in rows)
