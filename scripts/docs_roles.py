"""A griffe extension for the API reference: the docstrings' Sphinx roles become links.

The package's docstrings are Markdown with one kind of cross-reference, Sphinx's roles:
``:class:`RouterOptions```, ``:func:`~automatosx.store.open_store```, ``:mod:`automatosx.
telemetry```, ``:meth:`Router.stream```, ``:data:`...```, ``:attr:``, ``:exc:``, ``:obj:``.
mkdocstrings renders Markdown, where such a role would show as raw text; this extension,
run by mkdocstrings-python (``extensions:`` in mkdocs.yml), rewrites each role into an
autorefs cross-reference to the object's full path, resolved in the docstring's own scope
(the names its module imports). A target that is not on the site renders as code, without a
link. ``scripts/check_docs_html.py`` fails ``make docs`` when a role is left in the HTML.
"""

from __future__ import annotations

import html
import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(class|mod|func|meth|attr|data|exc|obj|const):`(~?)([^`]+?)`")
TITLED = re.compile(r"(?P<title>.+?)\s*<(?P<target>[^<>]+)>")
"""A role's ``title <target>`` form."""


def resolve(obj: griffe.Object, target: str) -> str:
    """``target``'s full path as seen from ``obj`` (its module's imports, then its parents)."""
    head, _, rest = target.partition(".")
    if head == obj.module.package.name:
        return target
    for scope in (obj, *_parents(obj)):
        try:
            full = scope.resolve(head)
        except (griffe.NameResolutionError, AttributeError, KeyError, ValueError):
            continue
        return f"{full}.{rest}" if rest else full
    return target


def _parents(obj: griffe.Object) -> list[griffe.Object]:
    parents = []
    parent = obj.parent
    while parent is not None:
        parents.append(parent)
        parent = parent.parent
    return parents


def link(obj: griffe.Object, match: re.Match[str]) -> str:
    role, short, target = match.groups()
    target = target.strip()
    titled = TITLED.fullmatch(target)
    if titled:
        bare = titled["target"].removesuffix("()")
        shown = titled["title"]
    else:
        bare = target.removesuffix("()")
        shown = bare.rsplit(".", 1)[-1] if short else bare
        if role in ("func", "meth") and not shown.endswith("()"):
            shown += "()"
    identifier = html.escape(resolve(obj, bare), quote=True)
    return (
        f'<autoref identifier="{identifier}" optional><code>{html.escape(shown)}</code></autoref>'
    )


def rewrite(obj: griffe.Object, text: str) -> str:
    """``text`` with every role replaced by a cross-reference."""
    return ROLE.sub(lambda m: link(obj, m), text)


class SphinxRoles(griffe.Extension):
    """Rewrites the roles of every docstring once the object tree is complete."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None and ":" in obj.docstring.value:
            obj.docstring.value = rewrite(obj, obj.docstring.value)
