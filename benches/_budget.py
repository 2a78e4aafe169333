"""Budgets: each benchmark reports its figure against its budget; nothing is asserted.

``report(...)`` records a line; ``benches/conftest.py`` prints them all, PASS or MISS, at the
end of the pytest session, and ``startup.py`` prints its own. ``info(..., against=...)`` is a
figure with no budget of its own shown next to a budget it is compared with (the router's
overhead with the SQLite store, next to the router's own budget).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RESULTS", "Result", "info", "report", "summary"]


@dataclass(frozen=True, slots=True)
class Result:
    name: str
    measured: float
    budget: float | None  # an upper bound; None: reported for information only
    unit: str
    against: float | None = None  # for information: a budget this figure is compared with

    @property
    def verdict(self) -> str:
        if self.budget is None:
            return "INFO"
        return "PASS" if self.measured <= self.budget else "MISS"

    def line(self) -> str:
        if self.budget is not None:
            bound = f"   (budget <= {self.budget:g} {self.unit})"
        elif self.against is not None:
            side = "within" if self.measured <= self.against else "above"
            bound = f"   ({side} the router's {self.against:g} {self.unit}; no budget)"
        else:
            bound = ""
        return f"{self.verdict}  {self.name:<58} {self.measured:>10.3f} {self.unit}{bound}"


RESULTS: list[Result] = []


def report(name: str, measured: float, budget: float, unit: str) -> None:
    RESULTS.append(Result(name, measured, budget, unit))


def info(name: str, measured: float, unit: str, *, against: float | None = None) -> None:
    RESULTS.append(Result(name, measured, None, unit, against))


def summary(results: list[Result] | None = None) -> list[str]:
    rows = RESULTS if results is None else results
    misses = sum(r.verdict == "MISS" for r in rows)
    passes = sum(r.verdict == "PASS" for r in rows)
    return [r.line() for r in rows] + [f"{passes} budget(s) met, {misses} missed"]
