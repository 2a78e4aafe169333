"""The local ledger: each budget's spend per scope value and window, reserved then settled.

An :class:`Account` is one budget for one scope value (``user=alice``) in its current window:
``spent`` (settled charges) and ``reserved`` (attempts under way), in nano-dollars and tokens.
A reservation (``Budgets.reserve_now``) checks and books each claim of an attempt, and takes
them all back (:meth:`Ledger.unbook`) if one does not fit, with no ``await`` in between: on
one event loop, reservations are atomic, so any number of concurrent requests can never book
more than the limit. :meth:`Ledger.settle` replaces a claim by its charge. A reservation made
in a window that has since ended is settled into that window's record (the store's), not into
the new window.

In a fleet (``shared=``), an account spends from a *lease* of the fleet's remainder instead of
its own limit (``_fleet.py``): the check is then "the lease holds the claim", and settled
charges are reported to Redis in the background.
"""

from __future__ import annotations

from dataclasses import dataclass

from automatosx.budgets._config import BudgetSpec

__all__ = ["Account", "Claim", "Ledger", "SpendRecord"]

_NEVER = float("inf")


class Account:
    """One budget, one scope value, its current window."""

    __slots__ = (
        "alert_at",
        "alerted",
        "end",
        "fleet_spent",
        "fleet_spent_tokens",
        "fleet_taken",
        "key",
        "lease",
        "lease_tokens",
        "leased",
        "limit",
        "limit_tokens",
        "reserved",
        "reserved_tokens",
        "scope",
        "spec",
        "spent",
        "spent_tokens",
        "start",
        "unreported",
        "unreported_tokens",
        "until",
        "uses",
        "wanted",
    )

    def __init__(self, spec: BudgetSpec, scope: str, start: int, end: int | None) -> None:
        self.spec = spec
        self.scope = scope
        self.key = (spec.id, scope)
        self.limit = spec.limit_nusd
        self.limit_tokens = spec.limit_tokens
        self.start = start
        self.end = end
        self.until = _NEVER if end is None else end
        """``end``, or infinity for a ``total`` window: a request compares ``now`` with it."""
        self.alert_at = spec.alert_at
        self.spent = 0
        self.reserved = 0
        self.spent_tokens = 0
        self.reserved_tokens = 0
        self.alerted = -1  # the window start whose alert was sent
        self.leased = False
        self.lease = 0
        self.lease_tokens = 0
        self.unreported = 0
        self.unreported_tokens = 0
        self.fleet_spent = 0
        self.fleet_spent_tokens = 0
        self.fleet_taken: tuple[int, int] | None = None
        """The fleet's leased-or-charged total as last seen in Redis (nusd, tokens)."""
        self.wanted = (0, 0)
        """What a short lease lacked for the last claim refused (nusd, tokens)."""
        self.uses = 0
        """Reservations from its lease so far (a fleet gives an unused lease back)."""

    def roll(self, start: int, end: int | None) -> None:
        """A new window: spend starts from zero (reservations under way stay booked)."""
        self.start = start
        self.end = end
        self.until = _NEVER if end is None else end
        self.spent = 0
        self.spent_tokens = 0
        self.fleet_spent = 0
        self.fleet_spent_tokens = 0
        self.lease = 0  # the old window's lease ends with it (its key in Redis expires)
        self.lease_tokens = 0
        self.fleet_taken = None
        self.unreported = 0
        self.unreported_tokens = 0

    def fits(self, nusd: int, tokens: int) -> bool:
        if self.leased:
            short_n = 0 if self.limit is None else nusd - self.lease
            short_t = 0 if self.limit_tokens is None else tokens - self.lease_tokens
            if short_n > 0 or short_t > 0:
                self.wanted = (max(0, short_n), max(0, short_t))
                return False
            return True
        limit = self.limit
        if limit is not None and self.spent + self.reserved + nusd > limit:
            return False
        lt = self.limit_tokens
        return lt is None or self.spent_tokens + self.reserved_tokens + tokens <= lt

    def used(self) -> tuple[int, int]:
        """(nano-dollars, tokens) spent in this window, reservations included; in a fleet,
        the fleet's charged total as last seen plus what this process has not reported."""
        if self.leased:
            return (
                self.fleet_spent + self.unreported + self.reserved,
                self.fleet_spent_tokens + self.unreported_tokens + self.reserved_tokens,
            )
        return self.spent + self.reserved, self.spent_tokens + self.reserved_tokens


Claim = tuple[Account, int, int, int]
"""One account's share of a reservation: (account, nano-dollars, tokens, window start)."""


@dataclass(frozen=True, slots=True)
class SpendRecord:
    """One attempt's spend against one budget scope, as stored (``budget_spend``)."""

    request_id: str
    attempt: int
    budget_id: str
    scope: str
    window_start: int
    reserved_nusd: int
    charged_nusd: int
    reserved_tokens: int
    charged_tokens: int
    at_ms: int


class Ledger:
    """Every account of a router's budgets (one event loop; no locks needed)."""

    __slots__ = ("accounts", "leased", "resumed")

    def __init__(self) -> None:
        self.leased = False
        """A fleet is attached: accounts spend from leases."""
        self.accounts: dict[tuple[str, str], Account] = {}
        self.resumed: dict[tuple[str, str, int], tuple[int, int]] = {}
        """Spend read back at ``open()``: (budget id, scope, window start) -> (nusd, tokens)."""

    def account(self, spec: BudgetSpec, scope: str, now: float) -> Account:
        """The account of ``spec`` for ``scope`` in the window holding ``now``."""
        acc = self.accounts.get((spec.id, scope))
        if acc is None:
            start, end = spec.window.bounds(now)
            acc = self.accounts[(spec.id, scope)] = Account(spec, scope, start, end)
            acc.leased = self.leased
            self._resume(acc)
        elif now >= acc.until:
            acc.roll(*spec.window.bounds(now))
            self._resume(acc)
        return acc

    def _resume(self, acc: Account) -> None:
        if self.resumed:
            back = self.resumed.get((acc.spec.id, acc.scope, acc.start))
            if back is not None:
                acc.spent, acc.spent_tokens = back

    @staticmethod
    def unbook(claims: list[Claim]) -> None:
        """Take back claims booked by a reservation that was then refused."""
        for acc, nusd, tokens, _ in claims:
            acc.reserved -= nusd
            acc.reserved_tokens -= tokens
            if acc.leased:
                acc.uses -= 1
                acc.lease += nusd
                acc.lease_tokens += tokens

    @staticmethod
    def settle(claim: Claim, nusd: int, tokens: int) -> None:
        """Replace a claim by its charge (``0, 0``: released)."""
        acc, claim_n, claim_t, start = claim
        acc.reserved -= claim_n
        acc.reserved_tokens -= claim_t
        if acc.start != start:
            return  # its window has ended: the charge is the store's record of that window
        acc.spent += nusd
        acc.spent_tokens += tokens
        if acc.leased:
            acc.lease += claim_n - nusd
            acc.lease_tokens += claim_t - tokens
            acc.unreported += nusd
            acc.unreported_tokens += tokens
