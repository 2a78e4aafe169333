"""Intake: the caller's input becomes a validated request and a :class:`Run`, or a recorded
rejection.

Input that fails validation (a bad dict, a provider that is not configured, no model to use)
still ends in a recorded terminal state — ``failed`` with ``VALIDATION_ERROR`` — through the
same observers as every other request, and is raised as :class:`RequestValidationError`
naming each field.

Request ids are unique while recorded: with a store, an id that is in flight or was seen by
this router recently (the last 65,536) is refused with a ``RequestValidationError`` naming
it, before anything is sent — the store keeps one row per id, and a second request under the
same id would otherwise lose its row. Omit ``requestId`` (a fresh one is generated per dict)
or give each request its own.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from automatosx._clock import now_ms
from automatosx._routing.plan import Plan
from automatosx._routing.run import Run
from automatosx._routing.streamed import StreamRun
from automatosx.errors import RequestValidationError
from automatosx.observe import RequestEnd, RequestInfo
from automatosx.schemas import UUID_PATTERN, ProviderRequest, _new_request_id

__all__ = ["Intake", "validation_message"]

_UUID = re.compile(UUID_PATTERN)
_REJECTED = ["idle", "validating", "failed"]
_SEEN_MAX = 65_536


def validation_message(what: str, exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{loc}: {err['msg']}")
    return f"invalid {what}: " + "; ".join(parts)


class Intake:
    """Turns ``execute``/``stream`` input into a Run for one plan."""

    __slots__ = ("plan", "seen")

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.seen: OrderedDict[str, None] | None = (
            OrderedDict() if plan.observers.request_finished else None
        )

    async def open(
        self, raw: ProviderRequest | Mapping[str, Any], stream: bool, kind: type[Run] | None = None
    ) -> Run:
        """The Run of ``raw`` (``kind``: a Run subclass, e.g. one that re-asks)."""
        plan = self.plan
        if isinstance(raw, ProviderRequest):
            req = raw
        elif isinstance(raw, Mapping):
            try:
                req = ProviderRequest.model_validate(raw)
            except ValidationError as exc:
                message = validation_message("request", exc)
                await self.reject(raw, stream, message)
                raise RequestValidationError(message, exc.errors(include_url=False)) from exc
            except (TypeError, ValueError, RecursionError) as exc:  # e.g. unhashable keys
                message = f"invalid request: {type(exc).__name__}: {exc}"
                await self.reject(raw, stream, message)
                raise RequestValidationError(message) from exc
        else:
            message = (
                "request: expected a ProviderRequest or a dict in the seed's JSON shape, got "
                f"{type(raw).__name__}"
            )
            await self.reject(raw, stream, message)
            raise TypeError(message)
        primary = req.provider or plan.options.primary_provider
        if req.provider is None and req.model is not None and plan.by_model is not None:
            try:
                primary = plan.by_model.target(req.model)
            except RequestValidationError as exc:
                await self.reject(raw, stream, str(exc))
                raise
        route = plan.route(primary)
        if route is None:
            message = (
                f"invalid request: provider: {primary!r} names no configured group or "
                f"deployment; configured: {', '.join(plan.routes)}"
            )
            await self.reject(raw, stream, message)
            raise RequestValidationError(message)
        pins = plan.pins
        if pins is not None and pins.fetches:  # a fleet's pins, before the group's choice
            await pins.prefetch(req, [(e.label, e.members) for e in route.entries])
        cands, labels = route.candidates(req, plan.balancers)
        model = cands[0][1]
        if not model:
            message = (
                f"invalid request: model: missing, and provider {primary!r} has no defaultModel"
            )
            await self.reject(raw, stream, message)
            raise RequestValidationError(message)
        first = cands[0][0].name
        if req.provider != first or req.model != model:
            req = req._rerouted(first, model, req.stream)
        seen = self.seen
        if seen is not None:
            rid = req.request_id
            if rid in seen:
                message = (
                    f"invalid request: requestId {rid} was already used by this router (a "
                    "request's id is its row in the store): omit requestId or give each "
                    "request its own"
                )
                await self.reject(req, stream, message)  # under a fresh id of its own
                raise RequestValidationError(message)
            seen[rid] = None
            if len(seen) > _SEEN_MAX:
                seen.popitem(last=False)
        info = None
        if plan.observers.any:
            now = time.time_ns() // 1_000_000  # _clock.now_ms, inline
            rid = req.request_id  # positional: ~0.3 us less than keywords
            info = RequestInfo(rid, req, stream, primary, model, now, time.perf_counter_ns())
        return (kind or (StreamRun if stream else Run))(plan, req, cands, labels, stream, info)

    async def reject(self, raw: Any, stream: bool, message: str) -> None:
        """A request that failed validation still ends in a recorded terminal state."""
        observers = self.plan.observers.request_finished
        if not observers:
            return
        plan = self.plan
        if isinstance(raw, ProviderRequest):  # valid, but for no configured provider
            data: Mapping[Any, Any] = {
                "requestId": raw.request_id,
                "model": raw.model,
                "messages": raw.messages,
            }
        else:
            data = raw if isinstance(raw, Mapping) else {}
        rid = _get(data, "requestId", "request_id")
        if not (isinstance(rid, str) and _UUID.match(rid)) or (
            self.seen is not None and rid in self.seen
        ):
            rid = _new_request_id()
        provider = _get(data, "provider")
        if not isinstance(provider, str) or provider not in plan.routes:
            provider = plan.options.primary_provider
        model = _get(data, "model")
        if not _recordable_name(model):
            model = plan.routes[provider].entries[0].members[0].default_model or "unknown"
        created = now_ms()
        info = RequestInfo(
            request_id=rid,
            request=None,
            stream=stream,
            provider=provider,
            model=model,
            created_at=created,
            started_ns=time.perf_counter_ns(),
            raw=_as_dict(data),
        )
        outcome = RequestEnd(
            state="failed",
            history=list(_REJECTED),
            retry_count=0,
            error=message,
            error_code="VALIDATION_ERROR",
        )
        for obs in observers:
            await obs.request_finished(info, outcome)


def _recordable_name(value: Any) -> bool:
    """Whether a model name from invalid input can go into the row as it is (else the
    deployment's default is recorded): a non-empty string of at most 100 characters that
    is valid Unicode (no lone surrogate)."""
    if not isinstance(value, str) or not 0 < len(value) <= 100:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _as_dict(data: Mapping[Any, Any]) -> dict[Any, Any]:
    """The input as a dict for the rejection's row (an odd mapping may not copy)."""
    try:
        return dict(data)
    except Exception:  # a hostile mapping: its row records what could be read
        return {}


def _get(data: Mapping[Any, Any], *keys: str) -> Any:
    for key in keys:
        try:
            if key in data:
                return data[key]
        except TypeError:  # an unhashable or odd mapping
            return None
    return None
