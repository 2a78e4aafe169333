"""The routing plan: built once when the router opens, frozen, handed to every request.

A :class:`Deployment` is one configured provider (a ``ProviderConfig``, or your own adapter):
the unit of routing, with its own adapter, breaker, limiter and cool-down. Deployments share
a *group* (``ProviderConfig.group``, default: the id). ``primaryProvider``,
``fallbackProviders`` and a request's ``provider`` name a group or a deployment id, and a
fallback entry may be ``"<group-or-id>/<model>"``: the same deployment(s) with another model.

The :class:`Plan` resolves every name once: each possible primary's :class:`Route` (its
entries, in order), the backoff, the prices and the options a request reads — so a request
never reads the router's private state. A route whose entries are single deployments has its
candidate list computed once; a route with a group of several asks the group's balancer for
an order per request (O(deployments in the group)).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from automatosx._core import Backoff, CircuitBreaker
from automatosx._routing.balance import Balancer, MemberStats, WeightedBalancer, balancer
from automatosx._routing.by_model import ModelRoutes
from automatosx._routing.deadlines import Deadlines
from automatosx._routing.guard import local_guard
from automatosx._routing.hedge import Hedging
from automatosx._routing.waitlog import WaitLog
from automatosx.errors import ConfigurationError
from automatosx.guards import AttemptGuard, AttemptGuardFactory, DeploymentSpec, Guard, GuardFactory
from automatosx.providers.base import Provider
from automatosx.schemas import ModelPrice, ProviderRequest, RouterOptions

if TYPE_CHECKING:
    from automatosx._routing.before import PreRequest
    from automatosx.observe import Observers
    from automatosx.pricing import PriceBook

__all__ = ["Candidate", "Deployment", "Pins", "Plan", "Route", "build_guards"]


class Pins(Protocol):
    """Sticky routing as the plan sees it (``cache/_wiring.py``): each group's balancer
    wrapped with its pins; with a fleet's map (``fetches``), the pins of a request's groups
    fetched before its candidates are chosen."""

    @property
    def fetches(self) -> bool: ...

    def balancer(self, group: str, inner: Balancer) -> Balancer: ...

    async def prefetch(
        self, request: ProviderRequest, groups: Sequence[tuple[str, Sequence[Deployment]]]
    ) -> None: ...


_MODEL_CACHE = 256
_ROUTE_CACHE = 1_024


@dataclass(slots=True, eq=False)
class Deployment:
    """One configured provider: what the router routes to."""

    name: str
    """The deployment id (``ProviderConfig.id``; by default its kind's name)."""
    provider: Provider
    default_model: str | None
    max_retries: int
    timeout_s: float
    spec: DeploymentSpec
    """What the guard factories build this deployment's guards from."""
    guard: Guard = field(init=False)
    """Built once by the plan's :data:`~automatosx.guards.GuardFactory` (``Plan.build``)."""
    extra_guards: tuple[AttemptGuard, ...] = ()
    """Its :class:`~automatosx.guards.AttemptGuard` s, built once by the plan."""
    breaker: CircuitBreaker | None = None
    prices: Mapping[str, ModelPrice] = field(default_factory=dict)
    owned: bool = True
    kind: str = ""
    """The provider kind (``ProviderConfig.name``); a user's adapter: its name."""
    group: str = ""
    weight: int = 1
    stats: MemberStats = field(default_factory=MemberStats)
    labels: dict[str, str] = field(default_factory=dict)
    """``"<id>/<model>"`` per model: the state machine's fallback labels, made once."""
    models: tuple[str, ...] = ()
    """The models its config lists (routing by model name, see ``by_model``)."""
    waits: WaitLog = field(default_factory=WaitLog)
    """Its requests' waits at admission since the last INFO line (``waits.py``)."""
    first_token_s: float = 0.0
    """A stream's wait for its first event here: ``timeout_s``, capped by the router's
    ``firstTokenTimeoutMs`` (set by ``Plan.build``)."""


Candidate = tuple[Deployment, str]
"""One candidate of a request: a deployment and the model to ask it for."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One entry of a route: a group's (or one deployment's) members, and a model override."""

    label: str
    members: tuple[Deployment, ...]
    model: str | None


@dataclass(frozen=True, slots=True)
class Route:
    """The candidates of one primary: its entries in order (the primary, then the fallbacks)."""

    entries: tuple[Entry, ...]
    static: tuple[Candidate, ...] | None
    """The candidates, when no entry has a choice to make (computed once)."""
    static_labels: list[str]
    overlaps: bool
    """A deployment appears in more than one entry: candidates are de-duplicated."""
    by_model: dict[str, tuple[tuple[Candidate, ...], list[str]]] = field(default_factory=dict)
    """Static routes' candidates for a request that names its model (bounded cache)."""

    def candidates(
        self, request: ProviderRequest, balancers: Mapping[str, Balancer]
    ) -> tuple[tuple[Candidate, ...], list[str]]:
        """The request's candidates and the machine's fallback labels (all but the first).
        The request's own model is the primary entry's; a group's balancer sees the request
        (sticky routing pins a conversation, user or tenant to a deployment)."""
        model = request.model
        static = self.static
        if static is not None:
            if model is None:
                return static, self.static_labels
            hit = self.by_model.get(model)
            if hit is not None:
                return hit
            made = self._expand(request, balancers)
            if len(self.by_model) < _MODEL_CACHE:
                self.by_model[model] = made
            return made
        return self._expand(request, balancers)

    def _expand(
        self, request: ProviderRequest, balancers: Mapping[str, Balancer]
    ) -> tuple[tuple[Candidate, ...], list[str]]:
        model = request.model
        cands: list[Candidate] = []
        for i, entry in enumerate(self.entries):
            members = entry.members
            if len(members) > 1:
                members = balancers[entry.label].order(members, request)  # type: ignore[assignment]
            chosen = model if i == 0 and model is not None else entry.model
            for dep in members:
                cands.append((dep, chosen or dep.default_model or model or ""))
        unique = _dedupe(cands) if self.overlaps else tuple(cands)
        return unique, [_label(dep, m) for dep, m in unique[1:]]


def _dedupe(cands: Iterable[Candidate]) -> tuple[Candidate, ...]:
    seen: set[tuple[int, str]] = set()
    out: list[Candidate] = []
    for dep, model in cands:
        key = (id(dep), model)
        if key not in seen:
            seen.add(key)
            out.append((dep, model))
    return tuple(out)


def _labels(cands: Sequence[Candidate]) -> list[str]:
    return [_label(dep, model) for dep, model in cands[1:]]


def _label(dep: Deployment, model: str) -> str:
    """The machine's name for a candidate (cached on the deployment)."""
    labels = dep.labels
    label = labels.get(model)
    if label is None:
        label = f"{dep.name}/{model}"
        if len(labels) < _MODEL_CACHE:
            labels[model] = label
    return label


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything a request needs from the router, computed at ``open()``."""

    options: RouterOptions
    deployments: Mapping[str, Deployment]
    groups: Mapping[str, tuple[Deployment, ...]]
    routes: Mapping[str, Route]
    """Each possible primary (a group, a deployment id, or either with ``/model``)."""
    balancers: Mapping[str, Balancer]
    backoff: Backoff
    prices: PriceBook | None
    observers: Observers
    first_token_timeout_s: float | None
    stream_idle_timeout_s: float | None
    restart_streams: bool
    fallback_on_content_filter: bool
    observes_latency: bool
    """Each reply is told to its group's balancer (a latency balancer, sticky routing)."""
    hedging: Hedging | None
    attempt_guards: bool
    """Some deployment has an :class:`~automatosx.guards.AttemptGuard`."""
    before: tuple[PreRequest, ...]
    """The pre-request steps (``before.py``), asked in order between intake and the loop."""
    ending: set[asyncio.Task[None]] = field(default_factory=set)
    """Cancelled requests still being recorded (``aclose`` waits for them)."""
    deadlines: Deadlines = field(default_factory=Deadlines)
    """Every attempt's deadline, under one loop timer (``deadlines.py``)."""
    by_model: ModelRoutes | None = None
    """Where a request that names only its model goes (None: a single group)."""
    pins: Pins | None = None
    """Sticky routing (None: off)."""

    @classmethod
    def build(
        cls,
        options: RouterOptions,
        deployments: Mapping[str, Deployment],
        prices: PriceBook | None,
        observers: Observers,
        *,
        guards: GuardFactory = local_guard,
        attempt_guards: Sequence[AttemptGuardFactory] = (),
        before: Sequence[PreRequest] = (),
        pins: Pins | None = None,
    ) -> Plan:
        """Resolve every name and build every deployment's guards, once: ``guards`` builds
        each deployment's :class:`~automatosx.guards.Guard` (local, or a fleet's), each of
        ``attempt_guards`` its extra guards. Nothing replaces them afterwards."""
        cls.check_names(options, deployments)  # fail at open() on a bad reference
        build_guards(deployments, guards, attempt_guards)
        groups = _groups(deployments)
        fallbacks = list(options.fallback_providers) if options.enable_fallback else []
        resolve = _Resolver(deployments, groups)
        fallback_entries = [resolve(name, "fallbackProviders") for name in fallbacks]
        strategy = options.load_balancing
        balancers = {g: balancer(strategy) for g, members in groups.items() if len(members) > 1}
        if pins is not None:
            balancers = {g: pins.balancer(g, b) for g, b in balancers.items()}
        observes = strategy == "latency" or pins is not None
        if observes:  # every reply is told to its group's balancer: a group of one's ignores it
            balancers = {g: balancers.get(g) or WeightedBalancer() for g in groups}
        routes: dict[str, Route] = {}
        for target in [*groups, *deployments]:
            if target in routes:
                continue
            primary = resolve(target, "provider")
            routes[target] = _route([primary, *fallback_entries])
        first_token = options.first_token_timeout_ms
        idle = options.stream_idle_timeout_ms
        for dep in deployments.values():
            limit = dep.timeout_s
            dep.first_token_s = limit if first_token is None else min(limit, first_token / 1000)
        return cls(
            options=options,
            deployments=deployments,
            groups=groups,
            routes=routes,
            balancers=balancers,
            backoff=Backoff(
                base_ms=options.backoff_base_ms,
                cap_ms=options.backoff_cap_ms,
                max_wait_ms=options.max_retry_wait_ms,
            ),
            prices=prices,
            observers=observers,
            first_token_timeout_s=None if first_token is None else first_token / 1000,
            stream_idle_timeout_s=None if idle is None else idle / 1000,
            restart_streams=options.restart_streams,
            fallback_on_content_filter=options.fallback_on_content_filter,
            observes_latency=observes,
            hedging=None if options.hedging is None else Hedging(options.hedging),
            attempt_guards=any(dep.extra_guards for dep in deployments.values()),
            before=tuple(before),
            pins=pins,
            by_model=ModelRoutes.build(
                groups,
                options.primary_provider,
                resolve(options.primary_provider, "primaryProvider").members,
            ),
        )

    def route(self, target: str) -> Route | None:
        """The route of a request's ``provider`` (or the primary): a group, an id, or either
        with ``/model`` (resolved on first use and kept)."""
        route = self.routes.get(target)
        if route is None:
            try:
                primary = _Resolver(self.deployments, self.groups)(target, "provider")
            except ConfigurationError:
                return None
            base = self.routes[self.options.primary_provider]
            route = _route([primary, *base.entries[1:]])
            if len(self.routes) < _ROUTE_CACHE:
                self.routes[target] = route  # type: ignore[index]
        return route

    @staticmethod
    def check_names(options: RouterOptions, deployments: Mapping[str, Deployment]) -> None:
        """Every group or deployment the options name is configured; fail at ``open()``."""
        if not deployments:
            raise ConfigurationError(
                "no providers configured: pass providers=[...] or set ANTHROPIC_API_KEY, "
                "OPENAI_API_KEY or GEMINI_API_KEY"
            )
        groups = _groups(deployments)
        for dep in deployments.values():
            members = groups.get(dep.name)
            if members is not None and dep not in members:
                raise ConfigurationError(
                    f"providers: deployment id {dep.name!r} is also the group of "
                    f"{', '.join(repr(m.name) for m in members)}: a route naming it would go to "
                    "that group, never to this deployment; rename the id or the group"
                )
        resolve = _Resolver(deployments, groups)
        fallbacks = options.fallback_providers if options.enable_fallback else []
        for name in fallbacks:
            if name == options.primary_provider:
                raise ConfigurationError(
                    f"router options: fallbackProviders names the primary {name!r}: a "
                    "fallback must be another group, deployment or '<group-or-id>/<model>'"
                )
        missing = []
        for name in [options.primary_provider, *fallbacks]:
            try:
                resolve(name, "router options")
            except ConfigurationError:
                missing.append(name)
        if missing:
            raise ConfigurationError(
                f"provider(s) {', '.join(missing)} named in the router options are not "
                f"configured (or disabled): each must name a group, a deployment id, or "
                f"'<group-or-id>/<model>'; configured groups: {', '.join(resolve.groups)}; "
                f"deployment ids: {', '.join(deployments)}"
            )


def build_guards(
    deployments: Mapping[str, Deployment],
    guards: GuardFactory,
    attempt_guards: Sequence[AttemptGuardFactory] = (),
) -> None:
    """Give each deployment its guards, built once (a second call is a bug: refused)."""
    for dep in deployments.values():
        if hasattr(dep, "guard"):
            raise ConfigurationError(
                f"deployment {dep.name!r}: its guards were already built (a guard is built "
                "once, never swapped: another router may hold it)"
            )
        dep.guard = guards(dep.spec)
        extra = (factory(dep.spec) for factory in attempt_guards)
        dep.extra_guards = tuple(g for g in extra if g is not None)


def _groups(deployments: Mapping[str, Deployment]) -> dict[str, tuple[Deployment, ...]]:
    groups: dict[str, list[Deployment]] = {}
    for dep in deployments.values():
        groups.setdefault(dep.group or dep.name, []).append(dep)
    return {name: tuple(members) for name, members in groups.items()}


class _Resolver:
    """A route target -> an :class:`Entry`: a group, else a deployment id, optionally
    followed by ``/<model>`` (a model name may itself contain ``/``)."""

    def __init__(
        self, deployments: Mapping[str, Deployment], groups: Mapping[str, tuple[Deployment, ...]]
    ) -> None:
        self.deployments = deployments
        self.groups = groups

    def members(self, name: str) -> tuple[Deployment, ...] | None:
        group = self.groups.get(name)
        if group is not None:
            return group
        dep = self.deployments.get(name)
        return None if dep is None else (dep,)

    def __call__(self, target: str, where: str) -> Entry:
        members = self.members(target)
        if members is not None:
            return Entry(target, members, None)
        head, sep, model = target.partition("/")
        if sep and model:
            members = self.members(head)
            if members is not None:
                return Entry(head, members, model)
        groups = ", ".join(sorted(self.groups))
        ids = ", ".join(sorted(self.deployments))
        raise ConfigurationError(
            f"{where}: {target!r} names no configured group or deployment id (configured "
            f"groups: {groups}; deployment ids: {ids}); disabled deployments are left out. "
            "A fallback entry may be '<group-or-id>/<model>'"
        )


def _route(entries: Sequence[Entry]) -> Route:
    deduped: list[Entry] = []
    seen: set[tuple[str, str | None]] = set()
    for entry in entries:
        key = (entry.label, entry.model)
        if key not in seen:
            seen.add(key)
            deduped.append(entry)
    static: tuple[Candidate, ...] | None = None
    labels: list[str] = []
    members = [id(dep) for e in deduped for dep in e.members]
    overlaps = len(members) != len(set(members))
    if all(len(e.members) == 1 for e in deduped):
        cands = [(e.members[0], e.model or e.members[0].default_model or "") for e in deduped]
        static = _dedupe(cands)
        labels = _labels(static)
    return Route(tuple(deduped), static, labels, overlaps)
