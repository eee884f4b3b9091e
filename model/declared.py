"""Declared damage: the parts a customer says are damaged, and what the photos confirm of them.

A claim may declare parts, each a detector class with an optional side (text form ``Door``, ``door:left``,
case-insensitive), and each photo may be tagged with the declared part it shows (a close-up) or be a wide
shot (no tag). Verification is pure and reads one threshold, the policy's ``min_detection_score``:

* a declared part is **confirmed** when the detector found that part, at or above the threshold, on a photo
  tagged with it or on a wide shot; otherwise it is **not confirmed**;
* damage found at or above the threshold on a part nobody declared is **undeclared**; below it, ignored;
* what is priced is the findings that confirm a declared part (that part, on its close-ups or a wide shot,
  at or above the threshold): an unconfirmed or undeclared part is never priced.

The detector knows part classes, not sides: ``Door:left`` and ``Door:right`` are each confirmed by a door
found on their own close-ups, or both by a door found on a wide shot.

The part vocabulary is the detector's classes (``Pipeline.parts``); nothing here lists part names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from model.errors import PartNotDeclared, UnknownPart, UnknownSide
from model.findings import Finding
from model.vocabulary import SIDES, Side

PartStatus = Literal["confirmed", "not_confirmed"]


@dataclass(frozen=True)
class DeclaredPart:
    """A part the customer says is damaged: a detector class, and where on the car when they said so."""

    part: str
    side: Side | None = None

    def __str__(self) -> str:
        """The text form the parser reads back: ``Door`` or ``Door:left``."""
        return f"{self.part}:{self.side}" if self.side else self.part

    @property
    def label(self) -> str:
        """The part in a sentence: ``left Door``, ``Bumper``."""
        return f"{self.side} {self.part}" if self.side else self.part

    def shown_by(self, tag: DeclaredPart | None) -> bool:
        """True when a photo with this tag can confirm this part: a wide shot, or a close-up of this part."""
        if tag is None:
            return True
        same_side = self.side is None or tag.side is None or self.side == tag.side
        return tag.part.casefold() == self.part.casefold() and same_side


def parse_declared_part(text: str, parts: Sequence[str]) -> DeclaredPart:
    """``Door`` or ``door:left`` as a :class:`DeclaredPart`, spelled as ``parts`` (the detector's classes) spell it.

    Raises ``UnknownPart`` for a part outside ``parts`` and ``UnknownSide`` (an ``InputError``) for a side
    other than front, rear, left or right. An empty ``parts`` (no detector loaded) checks the side only.
    """
    name, colon, side_text = text.strip().partition(":")
    name, side_text = name.strip(), side_text.strip().casefold()
    known = {p.casefold(): p for p in parts}
    if not name or (known and name.casefold() not in known):
        raise UnknownPart(f"unknown part {name!r} in {text!r}; declare one of {', '.join(parts)}")
    side: Side | None = None
    if colon:
        matched = [s for s in SIDES if s == side_text]
        if not matched:
            raise UnknownSide(
                f"unknown side {side_text!r} in {text!r}; write the part alone ({name}) or add one of "
                f"{', '.join(SIDES)} after a colon ({name}:left)"
            )
        side = matched[0]
    return DeclaredPart(known.get(name.casefold(), name), side)


def parse_declared(texts: Iterable[str], parts: Sequence[str]) -> tuple[DeclaredPart, ...]:
    """Each text parsed as by :func:`parse_declared_part`; a part declared twice counts once, first order kept."""
    return tuple(dict.fromkeys(parse_declared_part(t, parts) for t in texts))


def check_tags(declared: Sequence[DeclaredPart], tags: Mapping[str, DeclaredPart | None]) -> None:
    """Refuse a photo tagged with a part the claim does not declare (``tags``: photo id to its tag) with
    ``PartNotDeclared`` (an ``InputError``)."""
    for photo_id, tag in tags.items():
        if tag is not None and not any(d.shown_by(tag) for d in declared):
            said = ", ".join(map(str, declared)) or "nothing"
            raise PartNotDeclared(
                f"photo {photo_id} is tagged {tag}, but the claim declares {said}; tag it with a declared part, "
                "declare that part, or send it untagged as a wide shot"
            )


@dataclass(frozen=True)
class PartCheck:
    """One declared part: confirmed or not, the finding that confirmed it, and the photos tagged with it."""

    declared: DeclaredPart
    status: PartStatus
    finding: Finding | None = None  # the highest-scoring finding that confirms it; None when not confirmed
    close_ups: tuple[str, ...] = ()  # ids of the photos tagged with this part

    @property
    def confirmed(self) -> bool:
        return self.status == "confirmed"

    @property
    def photo_id(self) -> str | None:
        """The photo that confirmed the part, else the first close-up of it (the one to retake), else None."""
        if self.finding is not None:
            return self.finding.photo_id
        return self.close_ups[0] if self.close_ups else None


@dataclass(frozen=True)
class Verification:
    """Declared against found, part by part, at one detection threshold."""

    parts: tuple[PartCheck, ...]
    undeclared: tuple[Finding, ...]  # findings at or above the threshold on parts nobody declared
    priced: tuple[Finding, ...]  # the findings that confirm a declared part: all the price may cover
    threshold: float

    @property
    def complete(self) -> bool:
        """Every declared part confirmed and nothing undeclared found: verification lets the claim settle."""
        return all(p.confirmed for p in self.parts) and not self.undeclared

    @property
    def not_confirmed(self) -> tuple[PartCheck, ...]:
        return tuple(p for p in self.parts if not p.confirmed)

    @property
    def confirmed_parts(self) -> frozenset[str]:
        """The part classes confirmed (casefolded), as the price's line items name them."""
        return frozenset(p.declared.part.casefold() for p in self.parts if p.confirmed)

    @property
    def undeclared_parts(self) -> tuple[str, ...]:
        """Each undeclared part once, in the order first found."""
        return tuple(dict.fromkeys(f.part for f in self.undeclared))


def verify(
    declared: Sequence[DeclaredPart],
    findings: Sequence[Finding],
    tags: Mapping[str, DeclaredPart | None],
    min_score: float,
    min_agreement: float | None = None,
) -> Verification:
    """Check each declared part against the findings; ``tags`` maps photo id to its tag (absent: a wide shot).

    A finding counts when the detector scored it at least ``min_score`` and, when ``min_agreement`` is set,
    the part verifier agrees at least that much (a finding the verifier did not check does not count).
    """

    def counts(f: Finding) -> bool:
        agrees = min_agreement is None or (f.agreement is not None and f.agreement >= min_agreement)
        return f.score >= min_score and agrees

    checks: list[PartCheck] = []
    priced: dict[int, Finding] = {}  # by position: findings hold dicts and do not hash
    for d in declared:
        close_ups = tuple(pid for pid, tag in tags.items() if tag is not None and d.shown_by(tag))
        confirming = [
            (i, f) for i, f in enumerate(findings)
            if f.part.casefold() == d.part.casefold() and counts(f)
            and d.shown_by(tags.get(f.photo_id) if f.photo_id is not None else None)
        ]
        if confirming:
            best = max(confirming, key=lambda item: item[1].score)[1]
            checks.append(PartCheck(d, "confirmed", best, close_ups))
            priced.update(confirming)
        else:
            checks.append(PartCheck(d, "not_confirmed", None, close_ups))
    named = {d.part.casefold() for d in declared}
    undeclared = tuple(f for f in findings if f.part.casefold() not in named and counts(f))
    return Verification(tuple(checks), undeclared, tuple(priced[i] for i in sorted(priced)), min_score)
