"""What the router does around its requests when it opens and checks: its store from the
``store`` argument, one deployment's health check, and the ``shared`` argument's type check."""

from __future__ import annotations

from automatosx._routing.plan import Deployment
from automatosx.errors import redact
from automatosx.schemas import ProviderHealth
from automatosx.store.base import Store
from automatosx.store.null import NullStore

__all__ = ["check_health", "is_shared_state", "open_store"]


def is_shared_state(value: object) -> bool:
    from automatosx.shared import SharedState

    return isinstance(value, SharedState)


async def open_store(store: str | Store | None) -> Store:
    from automatosx.store import open_store_url

    if store is None:
        return NullStore()
    if isinstance(store, str):
        return await open_store_url(store)
    await store.open()
    return store


async def check_health(dep: Deployment) -> ProviderHealth:
    try:
        return await dep.provider.check_health()
    except Exception as exc:  # an adapter must not raise here; report it as down
        return ProviderHealth(
            provider=dep.name, status="down", error=redact(f"{type(exc).__name__}: {exc}")
        )
