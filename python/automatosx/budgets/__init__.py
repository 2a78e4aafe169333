"""Spend control: budgets that reserve an attempt's maximum cost before it is sent and
settle its real cost after (``docs/guides/budgets.md``).

Configure them as ``RouterOptions.budgets``; this package is imported only when a router has
budgets. Public here: :func:`parse_budgets` (validates the entries), :class:`BudgetSpec`,
:class:`Window`, and :func:`read_budget_status` (what ``automatosx budgets --db`` prints).
"""

from __future__ import annotations

from automatosx.budgets._config import BudgetSpec, parse_budgets
from automatosx.budgets._window import Window

__all__ = ["BudgetSpec", "Window", "parse_budgets"]
