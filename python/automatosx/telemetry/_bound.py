"""Instruments bound to one attribute set, kept per label set so a request's records cost
no attribute dict, no ``None`` filtering and no Prometheus ``labels()`` look-up.

A sink's ``bind(spec, attributes)`` returns a one-argument function that adds to (a counter)
or records into (a histogram) ``spec``'s instrument under ``attributes``: an OpenTelemetry
instrument's method with the cleaned attributes bound, or a Prometheus child's ``inc`` or
``observe``. :class:`Bound` binds each instrument on its first use (a Prometheus child is a
series of the scrape from its creation on, so none is created before it has a value).
:class:`Ending` holds the records of a request's end under their three attribute sets (the
GenAI attributes; with ``error.type`` for the duration; with ``gen_ai.token.modality`` for
the token usage, :class:`Usage`).
The observers keep them in :class:`Table` s keyed by tuples of the values that tell them
apart, built once per label set.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from automatosx.telemetry._names import (
    DURATION,
    OP_INPUT_TOKENS,
    OP_OUTPUT_TOKENS,
    TIME_TO_FIRST_CHUNK,
    USAGE_INPUT,
    USAGE_OUTPUT,
)

if TYPE_CHECKING:
    from automatosx.telemetry._names import MetricSpec

__all__ = ["Attributes", "Bind", "Bound", "Ending", "Record", "Table", "Usage"]

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
    """The records of the end of a request, for one (deployment, request model, response
    model, ``error.type``): the duration (every end has one) bound at once, the others on
    their first use."""

    __slots__ = ("_bind", "_usages", "attributes", "duration", "operation", "ttfc")

    def __init__(self, bind: Bind, attributes: Attributes, error: str | None) -> None:
        self._bind = bind
        self.attributes = attributes
        """The GenAI attributes."""
        self.duration = bind(DURATION, {**attributes, "error.type": error})
        self.ttfc: Record | None = None
        self.operation: tuple[Record, Record] | None = None
        """Tokens per operation: (input, output)."""
        self._usages: dict[str, Usage] = {}

    def first_chunk(self) -> Record:
        """Time to first chunk (streams)."""
        if self.ttfc is None:
            self.ttfc = self._bind(TIME_TO_FIRST_CHUNK, self.attributes)
        return self.ttfc

    def operation_tokens(self) -> tuple[Record, Record]:
        if self.operation is None:
            attrs = self.attributes
            self.operation = (
                self._bind(OP_INPUT_TOKENS, attrs),
                self._bind(OP_OUTPUT_TOKENS, attrs),
            )
        return self.operation

    def usage(self, modality: str) -> Usage:
        """The token usage counters under ``gen_ai.token.modality``."""
        usage = self._usages.get(modality)
        if usage is None:
            attrs = {**self.attributes, "gen_ai.token.modality": modality}
            usage = self._usages[modality] = Usage(self._bind, attrs)
        return usage


class Usage:
    """Token usage counters under one attribute set: input and output (every request that
    counts usage counts both) bound at once; the cache and reasoning ones on first use."""

    __slots__ = ("extra", "input", "output")

    def __init__(self, bind: Bind, attributes: Attributes) -> None:
        self.input = bind(USAGE_INPUT, attributes)
        self.output = bind(USAGE_OUTPUT, attributes)
        self.extra = Bound(bind, attributes)
        """Cache reads and writes, reasoning tokens (not every provider reports them)."""
