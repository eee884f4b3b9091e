"""What a customer is told about a claim: the quote they may see, one sentence on what happens next, and at most
three reasons in plain words.

A customer sees the models' quote until an adjuster decides: an adjuster's interim line-item edits stay between
adjusters until the claim is approved or rejected, then the decision, its amount and its comment are shown.

The reasons are the decision's, said once per code however many parts or photos raised them (the parts named
together), most telling first; the adjuster keeps the full list. The words are the catalogues'
(``reason.customer.<code>``, ``result.*.next``), in the customer's language, so they have one source.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from model.decision import Reason, ReasonCode
from serve.db.rows import ClaimRow, QuoteRow
from serve.http.locale import Locale, messages, part_name, placeholders

MAX_REASONS = 3
# What the customer can act on or recognise first, then why a person looks, then the service's own limits.
PRIORITY: tuple[ReasonCode, ...] = (
    "declared_not_found",
    "undeclared_damage",
    "poor_photo",
    "no_damage_found",
    "severe_damage",
    "low_confidence",
    "over_limit",
    "wide_interval",
    "duplicate_photo",
    "adjuster_check",
    "retake_limit",
    "model_unavailable",
    "pipeline_error",
    "policy_not_calibrated",
)


@dataclass(frozen=True)
class CustomerSummary:
    """One sentence on what happens next, and the reasons a person looks at the claim (at most three)."""

    next: str
    reasons: tuple[str, ...] = ()


def customer_quote(claim: ClaimRow) -> QuoteRow | None:
    """The quote a customer sees: the models' newest until an adjuster decides, then the one decided on."""
    if claim.reviews or not claim.quotes:
        return claim.quotes[-1] if claim.quotes else None
    model = [q for q in claim.quotes if q.source == "model"]
    return model[-1] if model else claim.quotes[-1]


def customer_amount(claim: ClaimRow) -> float | None:
    """The amount a customer is told: the approved amount once decided, else the total of the quote they see."""
    if claim.reviews:
        return claim.reviews[-1].amount
    quote = customer_quote(claim)
    return quote.total if quote is not None else None


def plain_reasons(reasons: Sequence[Reason], locale: Locale) -> tuple[str, ...]:
    """At most three reasons in plain words, one per code, the parts each names said together."""
    cat = messages(locale)
    parts: dict[str, list[str]] = {}
    for r in reasons:
        named = parts.setdefault(r.code, [])
        part = str(r.params.get("part") or "")
        if part and part_name(part, "", locale) not in named:
            named.append(part_name(part, "", locale))
    out: list[str] = []
    for code in sorted(parts, key=lambda c: PRIORITY.index(c) if c in PRIORITY else len(PRIORITY)):
        template = cat.get(f"reason.customer.{code}")
        if template is None:
            continue
        if "parts" in placeholders(template) and not parts[code]:
            continue  # a sentence about parts the reason does not name would say nothing true
        sentence = template.format(parts=cat["summary.parts.separator"].join(parts[code]))
        if sentence not in out:
            out.append(sentence)
        if len(out) == MAX_REASONS:
            break
    return tuple(out)


def _next_key(claim: ClaimRow, quote_reasons: Sequence[Reason]) -> str:
    if claim.reviews:
        return f"result.{claim.reviews[-1].outcome}.next"
    if claim.status == "withdrawn":
        return "result.withdrawn"
    if claim.status == "submitted":
        return "result.submitted.next" if claim.photos else "result.nophotos.next"
    if claim.status == "retake_requested":
        nothing_seen = bool(quote_reasons) and all(r.code == "no_damage_found" for r in quote_reasons)
        return "result.nodamage.next" if nothing_seen else "result.retake.next"
    if claim.status == "assessed":
        return "result.offer.next"
    return "result.review.next"


def customer_summary(claim: ClaimRow, reasons: Sequence[Reason], locale: Locale) -> CustomerSummary:
    """What happens next and, while a person looks at the claim, why (the reasons as the customer may see them)."""
    said = messages(locale)[_next_key(claim, reasons)]
    waiting = claim.status == "in_review" and not claim.reviews
    return CustomerSummary(said, plain_reasons(reasons, locale) if waiting else ())
