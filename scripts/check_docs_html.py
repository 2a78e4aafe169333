"""Fail when a built page still shows a raw Sphinx role (``:class:`` and the like).

Usage: ``python scripts/check_docs_html.py site``. Prints each page and role found, and exits
1 when there is one: ``make docs`` runs it after ``mkdocs build`` (see scripts/docs_roles.py,
which turns the docstrings' roles into links).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

# A role as it comes out of Markdown: ":class:<code>X</code>" or ":class:`X`".
RAW_ROLE = re.compile(r":(?:py:)?(?:class|mod|func|meth|attr|data|exc|obj|const|ref):(?:<code>|`)")
_SKIP = re.compile(r"<(pre|script|style)\b.*?</\1>", re.S)


def raw_roles(page: str) -> list[str]:
    """The raw roles in a page's HTML, outside code blocks (where one may be quoted)."""
    text = _SKIP.sub("", page)
    return [m.group(0) for m in RAW_ROLE.finditer(text)]


def main(argv: list[str]) -> int:
    site = Path(argv[1] if len(argv) > 1 else "site")
    pages = sorted(site.rglob("*.html"))
    if not pages:
        print(f"check_docs_html: no HTML under {site}/ (build the site first)", file=sys.stderr)
        return 1
    bad = 0
    for page in pages:
        found = raw_roles(page.read_text(encoding="utf-8"))
        if found:
            bad += len(found)
            print(f"{page}: {len(found)} raw role(s): {', '.join(sorted(set(found)))}")
    if bad:
        print(f"check_docs_html: {bad} raw role(s); write :class:`Name` (scripts/docs_roles.py "
              "links it) and check the name resolves", file=sys.stderr)  # fmt: skip
        return 1
    print(f"check_docs_html: {len(pages)} pages, no raw role")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
