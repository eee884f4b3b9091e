"""Claim-level grading: what the model proposed against what the adjuster decided.

A proposal is **wrong** when the parts differ (compared case-insensitively) or when the amount differs from
the adjuster's final one by more than the policy's tolerance, ``max(grade_tolerance_ratio * final,
grade_tolerance_amount)``. It **overpays** (leakage) when the model's amount is above the final one by more
than the tolerance, and **underpays** (harm to the customer) when it is below by more. A rejected claim pays
nothing: a proposal that would have paid it is wrong and overpays, whatever the tolerance.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from model.decision import Policy
from model.errors import InputError
from model.findings import PriceEstimate

Action = Literal["approve", "edit", "reject"]


def _amounts(items: Mapping[str, float]) -> dict[str, float]:
    merged: dict[str, float] = {}
    for part, amount in items.items():
        if amount < 0:
            raise InputError(f"the amount for {part} is negative ({amount}); amounts are at least 0")
        key = part.strip().casefold()
        merged[key] = merged.get(key, 0.0) + amount
    return merged


@dataclass(frozen=True)
class Proposal:
    """What the model would pay: each part it priced with that part's amount, and the total."""

    items: Mapping[str, float]  # part -> amount; names are folded (stripped, case-folded) on creation
    amount: float
    currency: str

    def __post_init__(self) -> None:
        if self.amount < 0:
            raise InputError(f"a proposed amount of {self.amount} is negative; amounts are at least 0")
        object.__setattr__(self, "items", _amounts(self.items))

    @classmethod
    def from_estimate(cls, estimate: PriceEstimate) -> Proposal:
        """The model's quote as a proposal: its line items by part and its total."""
        items: dict[str, float] = {}
        for line in estimate.line_items:
            items[line.part] = items.get(line.part, 0.0) + line.total
        return cls(items, estimate.total, estimate.currency)

    @property
    def parts(self) -> frozenset[str]:
        return frozenset(self.items)


@dataclass(frozen=True)
class AdjusterDecision:
    """What the adjuster decided: approve (as proposed), edit (other parts or amounts) or reject (pay nothing)."""

    action: Action
    items: Mapping[str, float]  # part -> amount in the final line items; names folded on creation
    amount: float  # the approved amount; 0 for a rejection

    def __post_init__(self) -> None:
        if self.action == "reject" and (self.items or self.amount):
            raise InputError("a rejected claim pays nothing: give no parts and an amount of 0")
        if self.amount < 0:
            raise InputError(f"an approved amount of {self.amount} is negative; amounts are at least 0")
        object.__setattr__(self, "items", _amounts(self.items))

    @classmethod
    def rejected(cls) -> AdjusterDecision:
        return cls("reject", {}, 0.0)

    @property
    def parts(self) -> frozenset[str]:
        return frozenset(self.items)

    def restricted_to(self, parts: Iterable[str]) -> AdjusterDecision:
        """The decision on ``parts`` only (how a partial release is graded): their items and their sum."""
        keep = {p.strip().casefold() for p in parts}
        items = {p: a for p, a in self.items.items() if p in keep}
        return AdjusterDecision(self.action, items, sum(items.values()))


@dataclass(frozen=True)
class Grading:
    """One proposal graded against the adjuster's decision; ``blind``: the adjuster did not see the proposal."""

    action: Action
    blind: bool
    proposed_amount: float
    final_amount: float
    currency: str
    proposed_parts: tuple[str, ...]
    final_parts: tuple[str, ...]
    tolerance: float
    wrong: bool
    overpay: bool
    underpay: bool

    @property
    def difference(self) -> float:
        """Proposed minus final: positive when the model would have paid more."""
        return self.proposed_amount - self.final_amount

    @property
    def parts_differ(self) -> bool:
        return self.proposed_parts != self.final_parts

    @property
    def missing_parts(self) -> tuple[str, ...]:
        """Parts the adjuster paid that the model did not price (a miss)."""
        return tuple(sorted(set(self.final_parts) - set(self.proposed_parts)))

    @property
    def extra_parts(self) -> tuple[str, ...]:
        """Parts the model priced that the adjuster did not pay."""
        return tuple(sorted(set(self.proposed_parts) - set(self.final_parts)))


def tolerance(final_amount: float, policy: Policy) -> float:
    """How far the model's amount may be from the final one and still count as right."""
    return max(policy.grade_tolerance_ratio * final_amount, policy.grade_tolerance_amount)


def grade(proposal: Proposal, final: AdjusterDecision, policy: Policy, *, blind: bool) -> Grading:
    """Grade ``proposal`` against the adjuster's ``final`` decision under ``policy``'s tolerance."""
    if proposal.currency != policy.currency:
        raise InputError(
            f"the proposal is in {proposal.currency} but the {policy.label} policy counts in {policy.currency}; "
            "grade it under the policy it was quoted under"
        )
    allowed = tolerance(final.amount, policy)
    difference = proposal.amount - final.amount
    rejected_but_paid = final.action == "reject" and proposal.amount > 0
    overpay = difference > allowed or rejected_but_paid
    underpay = -difference > allowed
    parts_differ = proposal.parts != final.parts
    return Grading(
        action=final.action,
        blind=blind,
        proposed_amount=proposal.amount,
        final_amount=final.amount,
        currency=proposal.currency,
        proposed_parts=tuple(sorted(proposal.parts)),
        final_parts=tuple(sorted(final.parts)),
        tolerance=allowed,
        wrong=parts_differ or overpay or underpay,
        overpay=overpay,
        underpay=underpay,
    )
