"""Instruments bound to one attribute set, kept per label set so a request's records cost
no attribute dict, no ``None`` filtering and no Prometheus ``labels()`` look-up.

A sink's ``bind(spec, attributes)`` returns a one-argument function that adds to (a counter)
or records into (a histogram) ``spec``'s instrument under ``attributes``: an OpenTelemetry
instrument's method with the cleaned attributes bound, or a Prometheus child's ``inc`` or
``observe``. :class:`Bound` binds each instrument on its first use (a Prometheus child is a
series of the scrape from its creation on, so none is created before it has a value).
:class:`Ending` holds the three attribute sets of a request's end (the GenAI attributes;
with ``error.type`` for the duration; with ``gen_ai.token.modality`` for the token usage).
The observers keep them in :class:`Table` s keyed by tuples of the values that tell them
apart, built once per label set.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from automatosx.telemetry._names import MetricSpec

__all__ = ["Attributes", "Bind", "Bound", "Ending", "Record", "Table"]

Attributes = dict[str, Any]
"""Attribute key -> str | int | float | bool (None values are left out by the sinks)."""

Record = Callable[[float], None]
"""Adds to a counter, or records a histogram value, under one attribute set."""

Bind = Callable[["MetricSpec", Attributes], Record]
"""A sink's ``bind``."""

TABLE_MAX = 4096
"""Label sets kept per table; past it the table starts over (the backends keep their own
series: only the binding is made again)."""

T = TypeVar("T")


class Table(dict[Any, T], Generic[T]):
    """A dict of bound things that starts over past :data:`TABLE_MAX` entries."""

    def put(self, key: Any, value: T) -> T:
        if len(self) >= TABLE_MAX:
            self.clear()
        self[key] = value
        return value


class Bound:
    """Every instrument under one attribute set, each bound on its first use."""

    __slots__ = ("_bind", "_fns", "attributes")

    def __init__(self, bind: Bind, attributes: Attributes) -> None:
        self._bind = bind
        self._fns: dict[str, Record] = {}
        self.attributes = attributes

    def __call__(self, spec: MetricSpec, value: float) -> None:
        fn = self._fns.get(spec.name)
        if fn is None:
            fn = self._fns[spec.name] = self._bind(spec, self.attributes)
        fn(value)


class Ending:
    """The attribute sets of the end of a request, for one (deployment, request model,
    response model, ``error.type``)."""

    __slots__ = ("_bind", "_usages", "duration", "plain")

    def __init__(self, bind: Bind, attributes: Attributes, error: str | None) -> None:
        self._bind = bind
        self.plain = Bound(bind, attributes)
        """The GenAI attributes: time to first chunk, tokens per operation."""
        self.duration = Bound(bind, {**attributes, "error.type": error})
        self._usages: dict[str, Bound] = {}

    def usage(self, modality: str) -> Bound:
        """The GenAI attributes with ``gen_ai.token.modality``: token usage counters."""
        bound = self._usages.get(modality)
        if bound is None:
            attrs = {**self.plain.attributes, "gen_ai.token.modality": modality}
            bound = self._usages[modality] = Bound(self._bind, attrs)
        return bound
