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
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from automatosx.emulator._replay import Recording, load_recordings, normalize_path

__all__ = [
    "PROVIDERS",
    "Fault",
    "FaultKind",
    "MalformedKind",
    "RefusalKind",
    "Rule",
    "Scenario",
    "canonical_provider",
]

PROVIDERS: tuple[str, ...] = ("claude", "openai", "gemini")
_ALIASES = {"anthropic": "claude", "google": "gemini", "*": "*", "any": "*"}

MalformedKind = Literal["not_json", "wrong_shape"]
RefusalKind = Literal["context_length", "content_filter", "prompt_blocked"]
_MALFORMED_KINDS: tuple[MalformedKind, ...] = ("not_json", "wrong_shape")
_REFUSAL_KINDS: tuple[RefusalKind, ...] = ("context_length", "content_filter", "prompt_blocked")
FaultKind = Literal["429", "500", "503", "529", "midstream", "drop"]
_RANDOM_KINDS: tuple[FaultKind, ...] = ("429", "500", "503", "529", "midstream", "drop")


def canonical_provider(name: str) -> str:
    """Map a provider name or alias ("anthropic", "google") to claude / openai / gemini / *."""
    lowered = name.lower()
    canonical = _ALIASES.get(lowered, lowered)
    if canonical != "*" and canonical not in PROVIDERS:
        raise ValueError(f"unknown provider {name!r}; expected one of {PROVIDERS} or '*'")
    return canonical


@dataclass(frozen=True)
class Fault:
    """What to do to one request: the merged effect of the rules that matched it.

    - `status`: answer with this HTTP status and the provider's real error body. With
      `stream_error_after` set it names the error carried by the event instead; with
      `drop_after` set (and no `stream_error_after`) it is ignored.
    - `error`: the error type / code to put in the body (e.g. "insufficient_quota" for OpenAI,
      "api_error" for Anthropic); each provider has a default per status.
    - `message`: the error message; defaults to the provider's usual wording.
    - `retry_after` (seconds) -> `retry-after` header, rounded up to whole seconds;
      `retry_after_ms` -> `retry-after-ms` header. Gemini sends neither header (the real
      service does not): both go into the error's `google.rpc.RetryInfo.retryDelay` instead,
      `retry_after_ms` winning.
    - `headers`: extra response headers.
    - `latency`: seconds before the first byte; `chunk_latency`: seconds between stream chunks.
    - `stream_error_after`: on a streamed request, send this many text chunks, then the
      provider's in-stream error event; a non-streamed request gets the error as a status.
    - `drop_after`: close the connection after this many text chunks (streamed) or after part
      of the body (non-streamed, any value).

    Faults for failover and timeout tests:

    - `silence`: accept the request (read its body) and never send a byte, not even headers,
      until the client gives up and disconnects.
    - `late_first_token_ms`: send the headers (and a stream's opening events) at once, then
      wait this long before the first text chunk; a JSON reply waits this long before it is
      sent at all.
    - `stall_after`: send this many text chunks (non-streamed: half the body), then keep the
      connection open and send nothing more until the client disconnects.
    - `cut_after`: send this many text chunks, then end the response cleanly without the
      provider's terminating events (no Anthropic `message_stop`, no OpenAI `[DONE]`, no
      Gemini chunk with a `finishReason`). Non-streamed: half the JSON body, ended cleanly.
    - `malformed_event`: "not_json" (an SSE event whose data is not valid JSON) or
      "wrong_shape" (valid JSON of no shape the provider sends), inserted after
      `malformed_after` text chunks (default 1) in an otherwise complete stream.
    - `refusal`: the request is refused as each service refuses it:
      "context_length" -> 400 (OpenAI `context_length_exceeded`; Anthropic
      "prompt is too long: N tokens > M maximum"; Gemini INVALID_ARGUMENT "The input token
      count (N) exceeds the maximum number of tokens allowed (M).");
      "content_filter" -> 200 whose reply stops for safety (OpenAI `finish_reason:
      "content_filter"`, Anthropic `stop_reason: "refusal"`, Gemini candidate
      `finishReason: "SAFETY"` without content);
      "prompt_blocked" -> OpenAI 400 `content_policy_violation`, Gemini 200 with
      `promptFeedback.blockReason: "SAFETY"` and no candidates, Anthropic a 200 refusal with
      no content.

    In a scenario file these are rule keys like the others, e.g.
    `{"provider": "openai", "cut_after": 2}` or `{"provider": "gemini", "refusal":
    "context_length"}`.

    Replaying recorded traffic, only `status` (on generation requests, answered before any
    recording is taken, its error body shaped by `error`, `message` and the retry fields),
    `latency`, `headers` and `drop_after` apply; `stream_error_after` and `chunk_latency`
    are ignored.
    """

    status: int | None = None
    error: str | None = None
    message: str | None = None
    retry_after: float | None = None
    retry_after_ms: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    latency: float | None = None
    chunk_latency: float | None = None
    stream_error_after: int | None = None
    drop_after: int | None = None
    silence: bool | None = None
    late_first_token_ms: int | None = None
    stall_after: int | None = None
    cut_after: int | None = None
    malformed_event: MalformedKind | None = None
    malformed_after: int | None = None
    refusal: RefusalKind | None = None

    def __post_init__(self) -> None:
        if self.malformed_event is not None and self.malformed_event not in _MALFORMED_KINDS:
            raise ValueError(
                f"malformed_event must be one of {_MALFORMED_KINDS}, not {self.malformed_event!r}"
            )
        if self.refusal is not None and self.refusal not in _REFUSAL_KINDS:
            raise ValueError(f"refusal must be one of {_REFUSAL_KINDS}, not {self.refusal!r}")
        for name in ("late_first_token_ms", "stall_after", "cut_after", "malformed_after"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must be >= 0, not {value!r}")

    @property
    def is_empty(self) -> bool:
        return self == Fault()

    def merged_under(self, earlier: Fault) -> Fault:
        """`earlier` with the fields it leaves unset taken from this fault."""
        changes: dict[str, Any] = {}
        for f in fields(Fault):
            mine, theirs = getattr(self, f.name), getattr(earlier, f.name)
            if f.name == "headers":
                changes["headers"] = {**mine, **theirs}
            else:
                changes[f.name] = theirs if theirs is not None else mine
        return replace(earlier, **changes)


_FAULT_FIELDS = frozenset(f.name for f in fields(Fault))


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
            raise ValueError("a rule takes at most one of request, requests, first, every")
        if self.every is not None and self.every < 1:
            raise ValueError("every must be >= 1")

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
        return Fault(**{name: getattr(self, name) for name in _FAULT_FIELDS})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Rule:
        known = _FAULT_FIELDS | {"provider", "request", "requests", "first", "every"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown rule keys: {sorted(unknown)}")
        kwargs = dict(data)
        if "requests" in kwargs:
            start, end = kwargs["requests"]
            kwargs["requests"] = (int(start), None if end is None else int(end))
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
            raise ValueError("fault_rate must be within [0, 1]")
        scenario = cls()
        scenario._random = _RandomMix(fault_rate, seed, tuple(kinds), retry_after_ms)
        return scenario

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Scenario:
        """Build from the mapping format shown in the class docstring."""
        unknown = set(data) - {"rules", "models", "api_keys", "random"}
        if unknown:
            raise ValueError(f"unknown scenario keys: {sorted(unknown)}")
        mix = data.get("random")
        scenario = cls.random(**mix) if mix is not None else cls()
        scenario.add(*(Rule.from_dict(r) for r in data.get("rules", ())))
        if data.get("models") is not None:
            scenario.models = frozenset(data["models"])
        if data.get("api_keys") is not None:
            scenario.api_keys = frozenset(data["api_keys"])
        return scenario

    @classmethod
    def from_file(cls, path: str | Path) -> Scenario:
        """Load a `.json` or `.toml` scenario file (TOML: top-level keys, `[[rules]]` tables)."""
        path = Path(path)
        text = path.read_text(encoding="utf-8")
        if path.suffix.lower() == ".toml":
            if sys.version_info >= (3, 11):
                import tomllib
            else:  # pragma: no cover - Python 3.10 needs the tomli backport
                import tomli as tomllib

            return cls.from_dict(tomllib.loads(text))
        return cls.from_dict(json.loads(text))

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
