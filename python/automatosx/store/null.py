""":class:`NullStore`: what ``store=None`` means, a store that records nothing.

It is derived from the two protocols rather than written out: every method they declare is
a no-op returning its empty result, so a method added to a protocol needs no change here
(``tests/store/test_store_protocols.py`` checks it is complete).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from automatosx.store.base import RecordSink, StoreReader, WriteFailure, check_summary_by

__all__ = ["NullStore"]

# What a read returns when there is nothing (None for the rest).
_EMPTY: dict[str, Callable[[], object]] = {
    "list_requests": list,
    "get_provider_metrics": list,
    "get_provider_health": list,
    "get_provider_summaries": list,
    "get_latency_histogram": list,
    "get_success_series": list,
    "count_requests_by_state": dict,
}
_METHODS = frozenset(
    name
    for protocol in (RecordSink, StoreReader)
    for name, value in vars(protocol).items()
    if callable(value) and not name.startswith("_")
) - {"drain_write_errors"}


class NullStore:
    """A store that records nothing. Every method is a no-op; reads return empty results."""

    durability = "async"
    write_errors = 0

    def drain_write_errors(self) -> list[WriteFailure]:
        return []

    def __getattr__(self, name: str) -> Any:
        if name not in _METHODS:
            raise AttributeError(f"'NullStore' object has no attribute {name!r}")
        empty = _EMPTY.get(name)

        async def nothing(*args: Any, **kwargs: Any) -> Any:
            if name == "get_provider_summaries":
                check_summary_by(kwargs.get("by", "deployment"))
            return None if empty is None else empty()

        nothing.__name__ = name
        return nothing

    def __repr__(self) -> str:
        return "NullStore()"
