"""Scripted faults: which request of which provider fails, and how.

A `Scenario` is a list of `Rule`s plus per-provider request counters. Each generation request
(Anthropic messages, OpenAI chat completions, Gemini generateContent) bumps its provider's
counter; the 1-based number it gets decides which rules match. Listing models is neither
counted nor faulted.

    scenario = Scenario([
        Rule(provider="claude", first=2, status=429, retry_after=1),      # requests 1 and 2
        Rule(provider="openai", every=3, stream_error_after=2),           # 3, 6, 9, ...
        Rule(provider="gemini", requests=(4, 5), status=503),             # 4 and 5
        Rule(latency=0.05),                                               # every request
    ])

When several rules match, each field comes from the first matching rule that sets it, so a
catch-all latency rule combines with a specific fault. A scenario is safe to read and mutate
from any thread while the emulator serves it (`app.state.scenario`).
"""

from __future__ import annotations

import json
import random
import sys
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from automatosx.emulator._fault import (
    FAULT_FIELDS,
    Fault,
    FaultKind,
    MalformedKind,
    RefusalKind,
    ScenarioError,
    check_field,
)
from automatosx.emulator._replay import Recording, load_recordings, normalize_path

__all__ = [
    "PROVIDERS",
    "Fault",
    "FaultKind",
    "MalformedKind",
    "RefusalKind",
    "Rule",
    "Scenario",
    "ScenarioError",
    "canonical_provider",
]

PROVIDERS: tuple[str, ...] = ("claude", "openai", "gemini")
_ALIASES = {"anthropic": "claude", "google": "gemini", "*": "*", "any": "*"}

_RANDOM_KINDS: tuple[FaultKind, ...] = ("429", "500", "503", "529", "midstream", "drop")


def canonical_provider(name: str) -> str:
    """Map a provider name or alias ("anthropic", "google") to claude / openai / gemini / *."""
    lowered = name.lower()
    canonical = _ALIASES.get(lowered, lowered)
    if canonical != "*" and canonical not in PROVIDERS:
        raise ScenarioError(
            f"unknown provider {name!r}; expected one of {PROVIDERS} or '*'", key="provider"
        )
    return canonical


@dataclass(frozen=True)
class Rule(Fault):
    """A `Fault` plus which requests it applies to.

    `provider`: "claude" | "openai" | "gemini" | "*" (aliases "anthropic", "google").
    Request selection (1-based, per provider), at most one of:
    `request=n`; `requests=(n, m)` inclusive (`m=None`: n and after); `first=n`;
    `every=k` (k, 2k, 3k, ...). None of them: every request.
    """

    provider: str = "*"
    request: int | None = None
    requests: tuple[int, int | None] | None = None
    first: int | None = None
    every: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "provider", canonical_provider(self.provider))
        if self.requests is not None:
            object.__setattr__(self, "requests", tuple(self.requests))
        selectors = [self.request, self.requests, self.first, self.every]
        if sum(s is not None for s in selectors) > 1:
            raise ScenarioError("a rule takes at most one of request, requests, first, every")
        if self.every is not None and self.every < 1:
            raise ScenarioError(f"must be >= 1, not {self.every!r}", key="every")

    def matches(self, provider: str, number: int) -> bool:
        if self.provider not in ("*", provider):
            return False
        if self.request is not None:
            return number == self.request
        if self.requests is not None:
            start, end = self.requests
            return number >= start and (end is None or number <= end)
        if self.first is not None:
            return number <= self.first
        if self.every is not None:
            return number % self.every == 0
        return True

    def fault(self) -> Fault:
        return Fault(**{name: getattr(self, name) for name in FAULT_FIELDS})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Rule:
        """A rule from a scenario file's mapping; `ScenarioError` names a bad key."""
        if not isinstance(data, Mapping):
            raise ScenarioError(f"a rule must be an object, not {data!r:.60}")
        known = FAULT_FIELDS | {"provider", "request", "requests", "first", "every"}
        unknown = sorted(str(k) for k in set(data) - known)
        if unknown:
            raise ScenarioError(
                f"unknown rule key (known: {', '.join(sorted(known))})", key=unknown[0]
            )
        for name, value in data.items():
            check_field(name, value)
        kwargs = dict(data)
        if kwargs.get("requests") is not None:
            start, end = kwargs["requests"]
            kwargs["requests"] = (start, end)
        return cls(**kwargs)


@dataclass(frozen=True)
class _RandomMix:
    fault_rate: float
    seed: int | str
    kinds: tuple[FaultKind, ...]
    retry_after_ms: int

    def fault(self, provider: str, number: int) -> Fault:
        rng = random.Random(f"{self.seed}:{provider}:{number}")
        if rng.random() >= self.fault_rate:
            return Fault()
        kinds = [k for k in self.kinds if k != "529" or provider == "claude"]
        if not kinds:
            return Fault()
        kind = rng.choice(kinds)
        if kind == "midstream":
            return Fault(stream_error_after=rng.randint(0, 3))
        if kind == "drop":
            return Fault(drop_after=rng.randint(0, 3))
        if kind == "429":
            ms = self.retry_after_ms
            return Fault(status=429, retry_after=max(1, -(-ms // 1000)), retry_after_ms=ms)
        return Fault(status=int(kind))


class Scenario:
    """Rules, known models and API keys for one emulator, plus its request counters.

    Build one in Python (`Scenario([Rule(...)])`, `.add(...)`), from a mapping
    (`Scenario.from_dict`), a JSON or TOML file (`Scenario.from_file`), as a seeded random
    fault mix for load tests (`Scenario.random`), or to replay recorded traffic
    (`Scenario.replay`). The file format is the mapping format:

        {"models": ["claude-sonnet-4-6"],           # optional: the only models that exist
         "api_keys": ["sk-test"],                   # optional: the only keys accepted
         "rules": [{"provider": "claude", "first": 2, "status": 429, "retry_after": 1}],
         "random": {"fault_rate": 0.3, "seed": 7}}  # optional
    """

    def __init__(
        self,
        rules: Iterable[Rule] = (),
        *,
        models: Iterable[str] | None = None,
        api_keys: Iterable[str] | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._rules: list[Rule] = list(rules)
        self._counts: dict[str, int] = dict.fromkeys(PROVIDERS, 0)
        self._random: _RandomMix | None = None
        self.models: frozenset[str] | None = None if models is None else frozenset(models)
        self.api_keys: frozenset[str] | None = None if api_keys is None else frozenset(api_keys)
        self.recordings: list[Recording] = []

    # -- building -------------------------------------------------------------------------

    def add(self, *rules: Rule) -> Scenario:
        """Append rules (they rank after the existing ones). Returns the scenario."""
        with self._lock:
            self._rules.extend(rules)
        return self

    def remove(self, *rules: Rule) -> Scenario:
        """Remove these rules (by equality); the others and the random mix stay."""
        with self._lock:
            self._rules = [r for r in self._rules if r not in rules]
        return self

    def clear(self) -> Scenario:
        """Remove every rule and the random mix (counters are kept: see `reset`)."""
        with self._lock:
            self._rules.clear()
            self._random = None
        return self

    @property
    def rules(self) -> list[Rule]:
        with self._lock:
            return list(self._rules)

    @classmethod
    def random(
        cls,
        fault_rate: float = 0.3,
        seed: int | str = 0,
        *,
        kinds: Sequence[FaultKind] = _RANDOM_KINDS,
        retry_after_ms: int = 200,
    ) -> Scenario:
        """Fail about `fault_rate` of requests, with a fault drawn from `kinds`.

        The choice for request n of a provider depends only on (seed, provider, n), so a run
        is reproducible whatever the concurrency. 529 is drawn for Claude only; 429s carry
        `retry-after-ms: retry_after_ms`; midstream and drop cut after 0-3 chunks.
        """
        if not 0.0 <= fault_rate <= 1.0:
            raise ScenarioError(f"must be within [0, 1], not {fault_rate!r}", key="fault_rate")
        unknown_kinds = sorted(set(kinds) - set(_RANDOM_KINDS))
        if unknown_kinds:
            raise ScenarioError(
                f"unknown kinds {unknown_kinds}; known: {_RANDOM_KINDS}", key="kinds"
            )
        scenario = cls()
        scenario._random = _RandomMix(fault_rate, seed, tuple(kinds), retry_after_ms)
        return scenario

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str | None = None) -> Scenario:
        """Build from the mapping format shown in the class docstring. A bad key or value
        raises `ScenarioError` naming it (and `source`, the file it came from)."""
        try:
            return cls._from_dict(data)
        except ScenarioError as error:
            raise error.within(path=source) from None
        except (TypeError, ValueError) as error:
            raise ScenarioError(" ".join(str(error).split()), path=source) from None

    @classmethod
    def _from_dict(cls, data: Mapping[str, Any]) -> Scenario:
        if not isinstance(data, Mapping):
            raise ScenarioError(f"a scenario must be an object, not {type(data).__name__}")
        unknown = sorted(str(k) for k in set(data) - {"rules", "models", "api_keys", "random"})
        if unknown:
            raise ScenarioError(
                "unknown scenario key (known: api_keys, models, random, rules)", key=unknown[0]
            )
        mix = data.get("random")
        if mix is not None and not isinstance(mix, Mapping):
            raise ScenarioError("expected an object", key="random")
        try:
            scenario = cls.random(**mix) if mix is not None else cls()
        except ScenarioError as error:
            raise error.within("random") from None
        except TypeError as error:
            raise ScenarioError(" ".join(str(error).split()), key="random") from None
        rules = data.get("rules", [])
        if not isinstance(rules, (list, tuple)):
            raise ScenarioError("expected an array of rule objects", key="rules")
        for i, rule in enumerate(rules):
            try:
                scenario.add(Rule.from_dict(rule))
            except ScenarioError as error:
                raise error.within(f"rules[{i}]") from None
        for name in ("models", "api_keys"):
            value = data.get(name)
            if value is None:
                continue
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ScenarioError("expected an array of strings", key=name)
            setattr(scenario, name, frozenset(value))
        return scenario

    @classmethod
    def from_file(cls, path: str | Path) -> Scenario:
        """Load a `.json` or `.toml` scenario file (TOML: top-level keys, `[[rules]]` tables).

        Raises `ScenarioError` (one line naming the file and the key) when the file is missing
        or unreadable, is not valid JSON / TOML, or holds unknown keys or bad values.
        """
        path = Path(path)
        name = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or type(error).__name__
            raise ScenarioError(f"cannot read the scenario file ({reason})", path=name) from None
        if path.suffix.lower() == ".toml":
            if sys.version_info >= (3, 11):
                import tomllib
            else:  # pragma: no cover - Python 3.10 needs the tomli backport
                import tomli as tomllib
            try:
                data: Any = tomllib.loads(text)
            except tomllib.TOMLDecodeError as error:
                reason = " ".join(str(error).split())
                raise ScenarioError(f"not valid TOML: {reason}", path=name) from None
        else:
            try:
                data = json.loads(text)
            except ValueError as error:
                raise ScenarioError(f"not valid JSON: {error}", path=name) from None
        return cls.from_dict(data, source=name)

    @classmethod
    def replay(cls, *paths: str | Path) -> Scenario:
        """Serve the responses recorded in these cassettes (or bare `.sse.txt` bodies).

        Each recorded interaction is served once, in order, to the first request with the
        same method and path (Gemini's v1 and v1beta are treated alike); rules still apply
        first. See `automatosx.emulator.load_recordings` for the formats.
        """
        scenario = cls()
        for path in paths:
            scenario.recordings.extend(load_recordings(path))
        return scenario

    # -- serving --------------------------------------------------------------------------

    def next_request(self, provider: str) -> tuple[int, Fault]:
        """Count one request for `provider`; return its number and the fault it gets."""
        with self._lock:
            self._counts[provider] += 1
            number = self._counts[provider]
            rules = list(self._rules)
            mix = self._random
        return number, self.fault_for(provider, number, rules=rules, mix=mix)

    def fault_for(
        self,
        provider: str,
        number: int,
        *,
        rules: Sequence[Rule] | None = None,
        mix: _RandomMix | None = None,
    ) -> Fault:
        """The fault request `number` of `provider` gets (does not count anything)."""
        provider = canonical_provider(provider)
        if rules is None:
            with self._lock:
                rules, mix = list(self._rules), self._random
        fault = Fault()
        for rule in rules:
            if rule.matches(provider, number):
                fault = rule.fault().merged_under(fault)
        if mix is not None:
            fault = mix.fault(provider, number).merged_under(fault)
        return fault

    def count(self, provider: str) -> int:
        """How many generation requests `provider` has received."""
        with self._lock:
            return self._counts[canonical_provider(provider)]

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def reset(self) -> None:
        """Zero the counters (rules and recordings stay; served recordings are re-armed)."""
        with self._lock:
            self._counts = dict.fromkeys(PROVIDERS, 0)
            for recording in self.recordings:
                recording.served = False

    def take_recording(self, method: str, path: str) -> Recording | None:
        """The next unserved recording for method+path, marked served; None when none left."""
        wanted = (method.upper(), normalize_path(path))
        with self._lock:
            for recording in self.recordings:
                if not recording.served and (recording.method, recording.path) == wanted:
                    recording.served = True
                    return recording
        return None

    def __repr__(self) -> str:
        return f"Scenario(rules={self.rules!r}, counts={self.counts()!r})"
