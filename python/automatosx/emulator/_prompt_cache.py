"""Prompt caching the way the services do it, so costs and hit rates come out as in production.

A cache belongs to one deployment: one API key at one origin (the `Host` the request was sent
to) and one model; nothing is shared across them. A prompt is a sequence of segments in the
order the service reads them (tools, system, then each message or block), and every segment
boundary is a prefix, named by a chained SHA-256 of the segments up to it. A request reads
the LONGEST prefix the deployment has cached and not let expire; it then caches its own
prefixes, so the next turn of a conversation (the same prompt plus two messages) reads all
of this one. Tokens are the emulator's estimate (`estimate_tokens`, ~4 characters each).

The services' rules (the values and their sources: docs/guides/emulator.md, "Prompt caching"):

- OpenAI (Chat Completions, Responses, Azure): automatic. Only prompts of at least
  `MIN_TOKENS_AUTOMATIC` (1,024) tokens are cached; a hit counts in steps of
  `OPENAI_STEP` (128) tokens past that. Nothing is billed for the write. Reported as
  `prompt_tokens_details.cached_tokens` / `input_tokens_details.cached_tokens`.
- Gemini (and Vertex): implicit caching, automatic, at least 1,024 tokens (`…-pro` models:
  `MIN_TOKENS_GEMINI_PRO`, 4,096), no write billed; `cachedContentTokenCount`.
- Anthropic: only at `cache_control` breakpoints (a marked tool, system block or message
  block; a top-level `cache_control` marks the last block). A breakpoint's prefix is cached
  when it is at least 1,024 tokens (Haiku models: 2,048). A request reads the longest cached
  prefix that ends at or before its last breakpoint and pays `cache_creation_input_tokens`
  for what it writes beyond that; `input_tokens` is only the rest.

TTLs: `DEFAULT_TTL_S` (300 s, refreshed by every hit) for all three; an Anthropic breakpoint
with `"ttl": "1h"` keeps its prefix 3,600 s, an OpenAI request with
`prompt_cache_retention: "24h"` keeps its prefixes 86,400 s.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from automatosx.emulator._reply import estimate_tokens

__all__ = [
    "DEFAULT_TTL_S",
    "MIN_TOKENS_AUTOMATIC",
    "CacheStats",
    "CacheSplit",
    "PromptCache",
    "Segments",
]

DEFAULT_TTL_S = 300.0
LONG_TTL_S = {"1h": 3_600.0, "24h": 86_400.0}
MIN_TOKENS_AUTOMATIC = 1_024
MIN_TOKENS_GEMINI_PRO = 4_096
MIN_TOKENS_ANTHROPIC = 1_024
MIN_TOKENS_ANTHROPIC_HAIKU = 2_048
OPENAI_STEP = 128
_MAX_PREFIXES = 500_000  # per cache; past it, expired prefixes are dropped first, then oldest


@dataclass(frozen=True)
class Segments:
    """A prompt as the cache sees it: its segments in order, which of them end at a
    breakpoint (None: automatic caching, every boundary counts), and a TTL override."""

    parts: Sequence[Any]
    breakpoints: Sequence[int] | None = None
    ttl_s: float | None = None


@dataclass(frozen=True)
class CacheSplit:
    """How many of a prompt's input tokens were read from the cache, and how many written
    (billed as cache writes: Anthropic only)."""

    read: int = 0
    written: int = 0


@dataclass(frozen=True)
class CacheStats:
    """What one deployment's cache (or all of them) did: requests, their input tokens, the
    tokens read from and written to the cache, and the requests that read any."""

    requests: int = 0
    input_tokens: int = 0
    read_tokens: int = 0
    written_tokens: int = 0
    hits: int = 0

    def __add__(self, other: CacheStats) -> CacheStats:
        return CacheStats(
            self.requests + other.requests,
            self.input_tokens + other.input_tokens,
            self.read_tokens + other.read_tokens,
            self.written_tokens + other.written_tokens,
            self.hits + other.hits,
        )

    @property
    def read_share(self) -> float:
        """The share of all input tokens read from the cache."""
        return self.read_tokens / self.input_tokens if self.input_tokens else 0.0


def deployment_of(api_key: str, origin: str) -> str:
    """A deployment's name: the API key is hashed, never kept."""
    return hashlib.sha256(f"{api_key}\0{origin}".encode()).hexdigest()[:32]


def minimum_tokens(provider: str, model: str) -> int:
    """The fewest tokens a prefix needs before the service caches it."""
    if provider == "claude":
        return MIN_TOKENS_ANTHROPIC_HAIKU if "haiku" in model else MIN_TOKENS_ANTHROPIC
    if provider == "gemini" and "-pro" in model:
        return MIN_TOKENS_GEMINI_PRO
    return MIN_TOKENS_AUTOMATIC


class PromptCache:
    """The prompt caches of every deployment one emulator app serves.

    `create_app(prompt_cache=PromptCache(ttl_s=..., clock=...))` sets the TTL and the clock
    (seconds, monotonic); `app.state.prompt_cache.stats(api_key=...)` reads the counts.
    """

    def __init__(
        self, ttl_s: float = DEFAULT_TTL_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._prefixes: dict[str, float] = {}  # deployment + chained hash -> expiry
        self._stats: dict[str, CacheStats] = {}
        self._keys: dict[str, str] = {}  # deployment -> the hash of its API key alone

    def split(
        self,
        provider: str,
        model: str,
        deployment: tuple[str, str],
        segments: Segments,
        input_tokens: int,
    ) -> CacheSplit:
        """Read and write `segments`' prefixes for `deployment` (API key, origin); what the
        request reports as cached (read) and as cache writes."""
        name = deployment_of(*deployment)
        points = _points(name, model, segments.parts)
        marks = segments.breakpoints
        if marks is not None:
            last = max(marks, default=-1)
            readable = points[: last + 1]
            writable = [points[i] for i in sorted(set(marks)) if i < len(points)]
        else:
            readable = writable = points
        least = minimum_tokens(provider, model)
        ttl = segments.ttl_s or self.ttl_s
        now = self._clock()
        with self._lock:
            read = 0
            for key, tokens in reversed(readable):
                if tokens >= least and self._prefixes.get(key, 0.0) > now:
                    read = tokens
                    self._prefixes[key] = max(self._prefixes[key], now + ttl)
                    break
            for key, tokens in writable:
                if tokens >= least:
                    self._prefixes[key] = max(self._prefixes.get(key, 0.0), now + ttl)
            if len(self._prefixes) > _MAX_PREFIXES:
                self._evict(now)
            if provider == "openai" and read:
                read = least + (read - least) // OPENAI_STEP * OPENAI_STEP
            read = min(read, input_tokens)
            written = 0
            if provider == "claude" and writable and writable[-1][1] >= least:
                written = max(0, min(writable[-1][1], input_tokens) - read)
            self._count(name, deployment[0], input_tokens, read, written)
        return CacheSplit(read, written)

    def _count(self, name: str, api_key: str, tokens: int, read: int, written: int) -> None:
        step = CacheStats(1, tokens, read, written, 1 if read else 0)
        self._stats[name] = self._stats.get(name, CacheStats()) + step
        self._keys[name] = _key_hash(api_key)

    def _evict(self, now: float) -> None:
        live = {k: v for k, v in self._prefixes.items() if v > now}
        if len(live) > _MAX_PREFIXES:
            live = dict(sorted(live.items(), key=lambda kv: kv[1])[-_MAX_PREFIXES // 2 :])
        self._prefixes = live

    def stats(self, api_key: str | None = None) -> CacheStats:
        """Counts for the deployments using `api_key` (at any origin), or for all."""
        with self._lock:
            wanted = None if api_key is None else _key_hash(api_key)
            total = CacheStats()
            for name, stats in self._stats.items():
                if wanted is None or self._keys[name] == wanted:
                    total = total + stats
            return total

    def clear(self) -> None:
        """Forget every cached prefix and count."""
        with self._lock:
            self._prefixes.clear()
            self._stats.clear()
            self._keys.clear()


def _key_hash(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()[:32]


def _points(name: str, model: str, parts: Sequence[Any]) -> list[tuple[str, int]]:
    """(chained hash, cumulative tokens) at each segment boundary."""
    chain = hashlib.sha256(f"{name}\0{model}".encode())
    chars = 0
    points = []
    for part in parts:
        text = json.dumps(part, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        chain.update(text.encode("utf-8", "surrogatepass"))
        chain.update(b"\0")
        chars += _size(part)
        points.append((chain.hexdigest(), estimate_tokens(chars)))
    return points


def _size(part: Any) -> int:
    """Characters a segment adds to the prompt, counted as the wires count the prompt."""
    if isinstance(part, str):
        return len(part)
    if isinstance(part, dict) and set(part) == {"tools"}:
        return 0  # declarations: part of the prefix, not of the wires' token estimate
    if isinstance(part, dict):
        for key in ("text", "content", "instructions"):
            if isinstance(part.get(key), str):
                return len(part[key])
        if isinstance(part.get("parts"), list):
            return sum(_size(p) for p in part["parts"])
    if isinstance(part, list):
        return sum(_size(p) for p in part)
    return len(json.dumps(part, default=str))
