"""Budgets: each benchmark reports its figure against its budget; nothing is asserted.

``report(...)`` records a line; ``benches/conftest.py`` prints them all, PASS or MISS, at the
end of the pytest session, and ``startup.py`` prints its own.
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

    @property
    def verdict(self) -> str:
        if self.budget is None:
            return "INFO"
        return "PASS" if self.measured <= self.budget else "MISS"

    def line(self) -> str:
        bound = "" if self.budget is None else f"   (budget <= {self.budget:g} {self.unit})"
        return f"{self.verdict}  {self.name:<58} {self.measured:>10.3f} {self.unit}{bound}"


RESULTS: list[Result] = []


def report(name: str, measured: float, budget: float, unit: str) -> None:
    RESULTS.append(Result(name, measured, budget, unit))


def info(name: str, measured: float, unit: str) -> None:
    RESULTS.append(Result(name, measured, None, unit))


def summary(results: list[Result] | None = None) -> list[str]:
    rows = RESULTS if results is None else results
    misses = sum(r.verdict == "MISS" for r in rows)
    passes = sum(r.verdict == "PASS" for r in rows)
    return [r.line() for r in rows] + [f"{passes} budget(s) met, {misses} missed"]
