"""The shared ground of the data model: bounded and checked field types, the model base
(camelCase aliases, Zod-like dumps), and the validation-bypassing constructors
(``_assemble``, ``_SeedModel._trusted``) the router and the adapters use on hot paths."""

from __future__ import annotations

import functools
import math
import os
from binascii import hexlify
from collections.abc import Iterable
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    Strict,
    StringConstraints,
    model_serializer,
)
from pydantic.alias_generators import to_camel
from pydantic.config import JsonDict
from typing_extensions import Self

from automatosx._clock import now_ms

ProviderName = Annotated[str, StringConstraints(min_length=1, max_length=64)]
"""A provider kind (``claude``, ``gemini``, ``openai`` or a user-registered kind): 1-64 chars."""
RouteTarget = Annotated[str, StringConstraints(min_length=1, max_length=200)]
"""A routing target: a kind, a deployment id or group, later ``"<group-or-id>/<model>"``."""
Role = Literal["system", "user", "assistant", "tool"]
FinishReason = Literal["stop", "length", "content_filter", "tool_calls"]
HealthStatus = Literal["healthy", "degraded", "down"]

UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
UUIDStr = Annotated[str, StringConstraints(pattern=UUID_PATTERN)]
MAX_SAFE_INT = 2**53
"""The bound of counts, durations and timestamps: fits a u64 and a JavaScript number."""
NonNegInt = Annotated[int, Field(ge=0, le=MAX_SAFE_INT, description="0..2**53")]
PosInt = Annotated[int, Field(gt=0, le=MAX_SAFE_INT, description="1..2**53")]
_EXTENSION: JsonDict = {"extension": True}
_WHEN_SET: JsonDict = {"extension": "when-set"}
_DAY_MS = 86_400_000


def _check_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an absolute http(s) URL, e.g. 'https://api.example.com'")
    return value


HttpUrlStr = Annotated[str, AfterValidator(_check_url)]


def _check_text(value: str) -> str:
    """Refuse lone surrogates: they cannot be encoded as UTF-8, so no provider can take them."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(
                f"contains a lone surrogate at position {exc.start} ({value[exc.start]!r}), "
                "which is not valid Unicode text; decode the source with errors='replace'"
            ) from None
    return value


Text = Annotated[str, AfterValidator(_check_text)]
"""A string that is valid Unicode (no lone surrogates)."""


def _check_text_input(value: Any) -> Any:
    return _check_text(value) if isinstance(value, str) else value


_TEXT = BeforeValidator(_check_text_input)
"""``Text``'s check for a bounded string: ``Annotated[str, StringConstraints(...), _TEXT]``.
Before the string's own validation, so pydantic-core checks the bounds itself (bounds on
``Text``, after its validator, are checked in Python) and never sees a lone surrogate (it
would call it an "unable to parse raw data as a unicode string")."""

METADATA_MAX_DEPTH = 32
METADATA_MAX_VALUES = 10_000


def _check_json(value: dict[str, JsonValue]) -> dict[str, JsonValue]:
    """Bound a JSON document's depth and size, and refuse NaN/inf and lone surrogates.
    Pydantic's ``JsonValue`` already refuses tuple keys, sets, tuples and cycles."""
    _check_node(value, 1, METADATA_MAX_VALUES - 1)
    return value


def _check_node(node: Any, depth: int, budget: int) -> int:
    """Check a container at ``depth`` and what it holds; returns how many more values the
    document may hold. Scalars are checked in the loop, by exact type first (what
    ``JsonValue`` hands over), without a call or a stack entry each."""
    if depth > METADATA_MAX_DEPTH:
        raise ValueError(f"is nested deeper than {METADATA_MAX_DEPTH} levels; flatten it")
    if isinstance(node, dict):
        for key in node:
            if isinstance(key, str) and not key.isascii():
                _check_text(key)
        children: Iterable[Any] = node.values()
    else:
        children = node
    for child in children:
        budget -= 1
        if budget < 0:
            raise ValueError(f"has more than {METADATA_MAX_VALUES} values; store less in it")
        kind = type(child)
        if kind is str:
            if not child.isascii():
                _check_text(child)
        elif kind is dict or kind is list:
            budget = _check_node(child, depth + 1, budget)
        elif kind is float:
            if not math.isfinite(child):
                raise ValueError(f"holds {child!r}, which is not a JSON number")
        elif kind in _JSON_SCALARS:
            continue
        elif isinstance(child, str):  # subclasses: what the exact types above do
            _check_text(child)
        elif isinstance(child, float) and not math.isfinite(child):
            raise ValueError(f"holds {child!r}, which is not a JSON number")
        elif isinstance(child, (dict, list)):
            budget = _check_node(child, depth + 1, budget)
    return budget


_JSON_SCALARS = frozenset({int, bool, type(None)})


JsonObject = Annotated[dict[str, JsonValue], AfterValidator(_check_json)]
"""A JSON object: string keys, JSON values, <= 32 levels deep, <= 10,000 values."""


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _none_as_empty(value: Any) -> Any:
    return [] if value is None else value


def _bounded(upper: int, unit: str, *, lower: int = 0) -> Any:
    """A ``Field`` bounded to ``lower..upper``, described for users and the JSON schema."""
    return Field(ge=lower, le=upper, description=f"{unit}, {lower}..{upper:_}")


_STRICT = Strict()
"""Config numbers and flags take no coercion: ``weight: "3"``, ``weight: true`` or
``afterMs: true`` (read as 1) are refused, naming the field (issue 19)."""
_Flag = Annotated[bool, _STRICT]


def _new_request_id() -> str:
    """A random version-4 UUID string from ``os.urandom`` (what ``uuid.uuid4`` uses), so no
    ``random.seed`` in user code can make two requests share an id. The ids are made 256 at a
    time (:func:`_refill_ids`) and popped (atomic under the GIL): ~0.1 us an id, against ~2 us
    for ``str(uuid.uuid4())``. Reading the random bytes in blocks also matters: ``os.urandom``
    lets go of the GIL, and each release on the request's path hands the GIL to a store's
    writer thread for up to a switch interval."""
    try:
        return _pop_id()
    except IndexError:
        _refill_ids()
        return _pop_id()


def _refill_ids() -> None:
    """Format ``_IDS_PER_READ`` ids from one read of ``os.urandom``, column by column: the hex
    digits of all ids at once, then each of the 36 columns of the 8-4-4-4-12 layout (and a
    space between ids) is one slice assignment, so the work per id is a few C-level bytes."""
    digits = hexlify(_urandom(16 * _IDS_PER_READ))  # 32 lowercase hex digits per id
    out = bytearray(_ID_STRIDE * _IDS_PER_READ)
    for column, source in enumerate(_ID_LAYOUT):
        if source >= 0:
            out[column::_ID_STRIDE] = digits[source::32]
    out[14::_ID_STRIDE] = b"4" * _IDS_PER_READ  # version 4 (replaces digit 12)
    out[19::_ID_STRIDE] = digits[16::32].translate(_VARIANT)  # RFC 4122 variant: 8, 9, a, b
    for column in (8, 13, 18, 23):
        out[column::_ID_STRIDE] = b"-" * _IDS_PER_READ
    out[36::_ID_STRIDE] = b" " * _IDS_PER_READ
    _random_ids.extend(out.decode("ascii").split())


_urandom = os.urandom
_IDS_PER_READ = 256
_ID_STRIDE = 37  # 36 characters and a space
_ID_LAYOUT = [*range(8), -1, *range(8, 12), -1, -1, *range(13, 16), -1, -1, *range(17, 20)]
_ID_LAYOUT += [-1, *range(20, 32), -1]
_VARIANT = bytes.maketrans(b"0123456789abcdef", b"89ab89ab89ab89ab")
_random_ids: list[str] = []  # ready ids; emptied in a forked child
_pop_id = _random_ids.pop
os.register_at_fork(after_in_child=_random_ids.clear)


_new = object.__new__
_setattr = object.__setattr__
_M = TypeVar("_M", bound=BaseModel)


@functools.cache
def _fields_of(cls: type[BaseModel]) -> frozenset[str]:
    return frozenset(cls.model_fields)


def _assemble(cls: type[_M], data: dict[str, Any], fields_set: set[str]) -> _M:
    """A model instance from already-valid field values, without validation: what
    ``model_construct`` does minus its per-field defaulting (the caller passes every field)."""
    obj = _new(cls)
    _setattr(obj, "__dict__", data)
    _setattr(obj, "__pydantic_fields_set__", fields_set)
    _setattr(obj, "__pydantic_extra__", None)
    _setattr(obj, "__pydantic_private__", None)
    return obj


_now_ms = now_ms  # the old private name, until every importer uses automatosx._clock


_CHECKED = ConfigDict(validate_assignment=True)
"""The request-side models re-validate an assigned value (``req.temperature = 5.0`` raises):
a request is checked once at intake and trusted after, so it must not become invalid later.
Costs nothing on the validation path; the router itself never assigns to them."""


class _SeedModel(BaseModel):
    """Shared config: camelCase aliases, snake_case names accepted, Zod-like dumps."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        extra="forbid",
        frozen=False,
        str_strip_whitespace=False,
    )

    @model_serializer(mode="wrap")
    def _drop_unset_optionals(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        fields = type(self).model_fields
        for name, field in fields.items():
            key = field.alias if info.by_alias and field.alias else name
            if key not in data:
                continue
            value = getattr(self, name)
            extra = field.json_schema_extra
            kind = extra.get("extension") if isinstance(extra, dict) else None
            if (
                (value is None and field.default is None)
                or (kind is True and value == field.get_default(call_default_factory=True))
                or (kind == "when-set" and name not in self.__pydantic_fields_set__)
            ):
                del data[key]
        return data

    @classmethod
    def _trusted(cls, **values: Any) -> Self:
        """Build from values that are already valid, skipping validation (``model_construct``
        costs ~2.5 us, this ~0.5 us). ``values`` must name every field; only the router and
        the adapters use it, with values they built themselves."""
        fields = _fields_of(cls)
        if len(values) != len(fields):  # callers written before fields were added
            values = {**_defaults_of(cls), **values}
            for name in fields.difference(values):  # a default factory: a value per instance
                values[name] = cls.model_fields[name].get_default(call_default_factory=True)
        return _assemble(cls, values, set(fields))


@functools.cache
def _defaults_of(cls: type[BaseModel]) -> dict[str, Any]:
    return {
        name: field.get_default(call_default_factory=True)
        for name, field in cls.model_fields.items()
        if not field.is_required() and field.default_factory is None
    }


_TTL_S = Field(gt=0, le=31_536_000, description="seconds, 0..31_536_000 (a year)")
