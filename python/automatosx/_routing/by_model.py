"""Route by model name: a request that names its ``model`` but no ``provider`` goes to the
group that serves that model, not blindly to ``primaryProvider``.

The rule, in order (a *group* is ``ProviderConfig.group``, by default the deployment id):

1. the primary's deployments list the model in ``models`` (or as ``defaultModel``): the
   primary, as without this rule;
2. else the groups whose deployments list it: exactly one is the target; several are an
   ambiguous name, a :class:`~automatosx.errors.RequestValidationError` naming them (set the
   request's ``provider``);
3. else the model's *family* (:data:`FAMILIES`: ``claude-*`` → claude, ``gpt-*``,
   ``chatgpt-*``, ``o1``/``o3``/``o4``... → openai, ``gemini-*`` → gemini) against each group's
   provider kind: the primary when its kind matches, else exactly one matching group, several
   being ambiguous as above;
4. else the primary (a name nobody knows: its provider answers).

The target's route is the usual one: that group first, then ``fallbackProviders``. The
decision is made once per model name (a bounded cache), and not at all when the request names
its provider or no model, or when only one group is configured.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Protocol

from automatosx.errors import RequestValidationError

__all__ = ["FAMILIES", "Member", "ModelRoutes", "family_of"]


class Member(Protocol):
    """What routing by model reads of a deployment (``plan.Deployment`` has it)."""

    @property
    def name(self) -> str: ...
    @property
    def group(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def models(self) -> tuple[str, ...]: ...
    @property
    def default_model(self) -> str | None: ...


FAMILIES: dict[str, re.Pattern[str]] = {
    "claude": re.compile(r"claude-"),
    "openai": re.compile(r"(gpt-|chatgpt-|o[0-9])"),
    "gemini": re.compile(r"gemini-"),
}
"""Each built-in kind's model names (matched at the start of the name)."""

_CACHE = 1_024


def family_of(model: str) -> str | None:
    """The provider kind whose family ``model`` belongs to (None: no known family)."""
    for kind, pattern in FAMILIES.items():
        if pattern.match(model):
            return kind
    return None


class ModelRoutes:
    """Which group a request's model goes to; built once per plan."""

    __slots__ = ("cache", "kinds", "listed", "primary", "primary_groups")

    def __init__(
        self,
        groups: Mapping[str, Sequence[Member]],
        primary: str,
        primary_members: Sequence[Member],
    ) -> None:
        self.primary = primary
        self.primary_groups = frozenset(dep.group or dep.name for dep in primary_members)
        self.listed: dict[str, list[str]] = {}
        self.kinds: dict[str, list[str]] = {}
        for group, members in groups.items():
            models: set[str] = set()
            for dep in members:
                models.update(dep.models)
                if dep.default_model:
                    models.add(dep.default_model)
                if group not in self.kinds.setdefault(dep.kind, []):
                    self.kinds[dep.kind].append(group)
            for model in models:
                self.listed.setdefault(model, []).append(group)
        self.cache: dict[str, str] = {}

    @classmethod
    def build(
        cls,
        groups: Mapping[str, Sequence[Member]],
        primary: str,
        primary_members: Sequence[Member],
    ) -> ModelRoutes | None:
        """None when there is nothing to choose (a single group)."""
        if len(groups) < 2:
            return None
        return cls(groups, primary, primary_members)

    def target(self, model: str) -> str:
        """The group (or the primary's name) a request for ``model`` goes to;
        RequestValidationError when the name is ambiguous."""
        hit = self.cache.get(model)
        if hit is None:
            hit = self._decide(model)
            if len(self.cache) < _CACHE:
                self.cache[model] = hit
        return hit

    def _decide(self, model: str) -> str:
        listed = self.listed.get(model, [])
        if self.primary_groups.intersection(listed):
            return self.primary
        if listed:
            return self._one(model, listed, "list it in their models")
        kind = family_of(model)
        if kind is None:
            return self.primary
        matching = self.kinds.get(kind, [])
        if self.primary_groups.intersection(matching) or not matching:
            return self.primary
        return self._one(model, matching, f"are of kind {kind}")

    def _one(self, model: str, groups: list[str], why: str) -> str:
        if len(groups) == 1:
            return groups[0]
        raise RequestValidationError(
            f"invalid request: model: {model!r} is ambiguous: groups {', '.join(groups)} {why}; "
            "name one with the request's provider"
        )
