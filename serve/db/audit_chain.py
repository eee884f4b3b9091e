"""The audit log's hash chains: how an event is hashed, and walking the log to find the first broken link.

Every event carries ``prev_hash`` (the hash of the event before it in the whole log), ``claim_prev_hash`` (the
hash of the claim's event before it; None for events of no claim) and ``hash``: SHA-256 of the canonical
serialisation below, which includes both previous hashes. The ``audit_head`` row holds the number of events
and the hash of the last one; appends lock it (``FOR UPDATE`` on PostgreSQL, the write lock on SQLite), so
concurrent writers never fork the chain and the log's order is its ids' order.

Changing a row breaks its own hash; deleting, reordering or inserting rows breaks a link (or the head). A
writer who rehashes everything after an edit is caught only against a head recorded elsewhere: keep
``autoquote audit verify``'s output (count and hash) outside the database and compare.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from serve.db.rows import AuditEventRow, AuditHeadRow, utcnow

log = logging.getLogger(__name__)

GENESIS = "0" * 64  # the "previous hash" of the first event, and of each claim's first event
FORMAT = 1  # bump with a migration that rehashes, never silently
CHUNK = 2000  # events read per query while walking

Problem = Literal["edited", "deleted", "reordered", "inserted"]


def plain(detail: Mapping[str, Any]) -> dict[str, Any]:
    """``detail`` as the database gives it back (JSON types only: tuples become lists, keys strings)."""
    found: dict[str, Any] = json.loads(json.dumps(detail))
    return found


def event_hash(
    at: datetime,
    actor_key_id: str | None,
    actor_role: str,
    action: str,
    claim_id: str | None,
    detail: Mapping[str, Any],
    prev_hash: str | None,
    claim_prev_hash: str | None,
) -> str:
    """SHA-256 of the event's canonical form: sorted-key JSON of every stored field, the time in UTC to the
    microsecond as stored, the two previous hashes included."""
    body = {
        "format": FORMAT,
        "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor_key_id": actor_key_id,
        "actor_role": actor_role,
        "action": action,
        "claim_id": claim_id,
        "detail": detail,
        "prev_hash": prev_hash,
        "claim_prev_hash": claim_prev_hash,
    }
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class StoredEvent(Protocol):
    """An event's stored fields: a row object or a plain result row of the audit_events table."""

    @property
    def at(self) -> datetime: ...
    @property
    def actor_key_id(self) -> str | None: ...
    @property
    def actor_role(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def claim_id(self) -> str | None: ...
    @property
    def detail(self) -> dict[str, Any]: ...
    @property
    def prev_hash(self) -> str: ...
    @property
    def claim_prev_hash(self) -> str | None: ...


def hash_of(row: StoredEvent) -> str:
    """The hash a stored event should carry, recomputed from its fields."""
    return event_hash(
        row.at, row.actor_key_id, row.actor_role, row.action, row.claim_id, row.detail,
        row.prev_hash, row.claim_prev_hash,
    )


def link(session: Session, row: AuditEventRow) -> None:
    """Chain a new event (not yet flushed) after the log's head and its claim's last event; moves the head.

    Locks the head row until the session commits: concurrent writers queue here, so ids follow the chain.
    """
    head = locked_head(session)
    claim_prev = None
    if row.claim_id is not None:
        last = session.scalar(
            select(AuditEventRow.hash)
            .where(AuditEventRow.claim_id == row.claim_id)
            .order_by(AuditEventRow.id.desc())
            .limit(1)
        )
        claim_prev = last or GENESIS
    row.prev_hash = head.hash
    row.claim_prev_hash = claim_prev
    row.hash = hash_of(row)
    head.events += 1
    head.hash = row.hash


def locked_head(session: Session) -> AuditHeadRow:
    """The head row, locked for this transaction (created from the log's last event if it is missing)."""
    session.flush()  # this transaction's earlier events first, whatever the session's autoflush
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        # Take SQLite's write lock before reading: a read-then-write transaction would otherwise fail when
        # another writer committed in between. A no-op write is enough.
        connection.exec_driver_sql("UPDATE audit_head SET events = events WHERE id = 1")
    head = session.scalar(select(AuditHeadRow).where(AuditHeadRow.id == 1).with_for_update())
    if head is None:
        last = session.scalar(select(AuditEventRow.hash).order_by(AuditEventRow.id.desc()).limit(1))
        count = session.scalar(select(func.count()).select_from(AuditEventRow)) or 0
        head = AuditHeadRow(id=1, events=count, hash=last or GENESIS)
        session.add(head)
    return head


@dataclass(frozen=True)
class Head:
    """How far the log is verified: ``events`` events, the last one ``last_id`` with ``hash``."""

    events: int = 0
    last_id: int = 0
    hash: str = GENESIS
    verified_at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True)
class Break:
    """The first broken link: the event where it shows, what is wrong, and a sentence saying why."""

    event_id: int | None
    problem: Problem
    why: str


@dataclass(frozen=True)
class Verdict:
    """A walk's result: the last verified head, the first break (None: intact), whether it reached the end."""

    head: Head
    broken: Break | None
    complete: bool

    def as_dict(self) -> dict[str, Any]:
        """The verdict as JSON-ready data."""
        return {
            "intact": self.broken is None,
            "complete": self.complete,
            "events": self.head.events,
            "last_id": self.head.last_id,
            "hash": self.head.hash,
            "verified_at": self.head.verified_at.isoformat(),
            "broken": None if self.broken is None else {
                "event_id": self.broken.event_id, "problem": self.broken.problem, "why": self.broken.why,
            },
        }


def verify(session: Session, since: Head | None = None, budget: int | None = None) -> Verdict:
    """Walk the log from ``since`` (the start when None) in id order, checking each event's hash, its link to
    the one before it, its link to its claim's previous event, and the head row at the end.

    At most ``budget`` events are read (None: all); a verdict that stopped early is not ``complete``.
    """
    start = since or Head()
    broken = _recheck(session, start) if start.last_id else None
    if broken is not None:
        return Verdict(start, broken, True)
    events, last_id, prev, read = start.events, start.last_id, start.hash, 0
    while budget is None or read < budget:
        # Plain rows, not row objects: a third faster, and nothing the walk reads stays in the session.
        rows = session.execute(
            select(*AuditEventRow.__table__.columns).where(AuditEventRow.id > last_id).order_by(AuditEventRow.id)
            .limit(CHUNK if budget is None else min(CHUNK, budget - read))
        ).all()
        recorded = session.get(AuditHeadRow, 1, populate_existing=True)
        if not rows:
            return Verdict(Head(events, last_id, prev), _end(session, recorded, events, last_id, prev), True)
        claims = _claim_heads(session, {r.claim_id for r in rows if r.claim_id is not None}, rows[0].id)
        for row in rows:
            if recorded is not None and (events, prev) == (recorded.events, recorded.hash):
                why = f"event {row.id} is past the log's head ({recorded.events} events): no writer of the log added it"
                return Verdict(Head(events, last_id, prev), Break(row.id, "inserted", why), True)
            ok = hash_of(row) == row.hash and row.prev_hash == prev
            if ok and row.claim_id is not None and row.claim_prev_hash != claims.get(row.claim_id, GENESIS):
                why = f"event {row.id} does not follow claim {row.claim_id}'s event before it"
                return Verdict(Head(events, last_id, prev), Break(row.id, _claim_problem(session, row), why), True)
            if not ok:
                return Verdict(Head(events, last_id, prev), _diagnose(session, row, prev), True)
            if row.claim_id is not None:
                claims[row.claim_id] = row.hash
            events, last_id, prev, read = events + 1, row.id, row.hash, read + 1
            if budget is not None and read >= budget:
                break
    return Verdict(Head(events, last_id, prev), None, False)


def _recheck(session: Session, head: Head) -> Break | None:
    """The event a previous walk ended on must still be there, unchanged."""
    row = session.get(AuditEventRow, head.last_id, populate_existing=True)
    if row is None:
        return Break(head.last_id, "deleted", f"event {head.last_id}, the last verified one, is gone")
    if row.hash != head.hash or hash_of(row) != head.hash:
        return Break(head.last_id, "edited", f"event {head.last_id} changed after it was verified")
    return None


def _end(session: Session, recorded: AuditHeadRow | None, events: int, last_id: int, prev: str) -> Break | None:
    """At the end of the log: the head row must name the last event."""
    if recorded is None:
        return Break(None, "deleted", "the log's head row (table audit_head) is gone")
    if (recorded.events, recorded.hash) == (events, prev):
        return None
    if recorded.events > events:
        missing = recorded.events - events
        return Break(last_id or None, "deleted", f"{missing} event(s) after event {last_id} are missing: "
                     f"the head records {recorded.events} events, the log holds {events}")
    return Break(last_id or None, "edited", f"the log's head ({recorded.events} events, {recorded.hash[:12]}…) "
                 f"does not match its last event {last_id}")


def _claim_heads(session: Session, claim_ids: Iterable[str], before: int) -> dict[str, str]:
    """Each claim's last event hash before event ``before``."""
    ids = sorted(set(claim_ids))
    if not ids:
        return {}
    last = (
        select(func.max(AuditEventRow.id))
        .where(AuditEventRow.claim_id.in_(ids), AuditEventRow.id < before)
        .group_by(AuditEventRow.claim_id)
    )
    rows = session.execute(
        select(AuditEventRow.claim_id, AuditEventRow.hash).where(AuditEventRow.id.in_(last))
    ).all()
    return {claim_id: h for claim_id, h in rows if claim_id is not None}


def _diagnose(session: Session, row: Any, prev: str) -> Break:
    """Name what broke at ``row`` (its hash or its link to ``prev``) from the links around it."""
    links = session.execute(
        select(AuditEventRow.id, AuditEventRow.hash, AuditEventRow.prev_hash).order_by(AuditEventRow.id)
    ).all()
    later = {h: i for i, h, _p in links if i > row.id}
    earlier = {h: i for i, h, _p in links if i < row.id}
    successor = next(((i, p) for i, _h, p in links if i > row.id), None)
    linked_in = row.prev_hash == prev
    if not linked_in and row.prev_hash in later:
        return Break(row.id, "reordered", f"event {row.id} follows event {later[row.prev_hash]}, which comes after it")
    if successor is not None and successor[1] == prev and successor[1] != row.hash:
        return Break(row.id, "inserted", f"event {row.id} is not in the chain: event {successor[0]} follows "
                     "the event before it")
    if not linked_in and row.prev_hash in earlier and earlier[row.prev_hash] != _previous_id(links, row.id):
        first = next(i for i, _h, _p in links if i > earlier[row.prev_hash])
        return Break(first, "inserted", f"event {row.id} follows event {earlier[row.prev_hash]}: "
                     f"the events from {first} to before {row.id} are not in the chain")
    if hash_of(row) != row.hash:
        return Break(row.id, "edited", f"event {row.id}'s content does not match its hash")
    if not linked_in and row.prev_hash == GENESIS:
        return Break(row.id, "inserted", f"event {row.id} claims to be the first event of the log")
    return Break(row.id, "deleted", f"the event before event {row.id} is missing (its previous hash is unknown)")


def _previous_id(links: Sequence[Any], event_id: int) -> int | None:
    before = [i for i, _h, _p in links if i < event_id]
    return before[-1] if before else None


def _claim_problem(session: Session, row: Any) -> Problem:
    """Why an event's claim link is wrong: it points at a later event of the claim, or at none left."""
    later = session.scalar(
        select(func.count()).where(
            AuditEventRow.claim_id == row.claim_id, AuditEventRow.id > row.id, AuditEventRow.hash == row.claim_prev_hash
        )
    )
    return "reordered" if later else "deleted"


def verify_anchor(session: Session, events: int, expected: str) -> Break | None:
    """An intact log must still hold, as its ``events``-th event, the head hash recorded outside it."""
    row = session.execute(
        select(AuditEventRow.id, AuditEventRow.hash).order_by(AuditEventRow.id).offset(events - 1).limit(1)
    ).first()
    if row is None:
        return Break(None, "deleted", f"the log holds fewer than the {events} events recorded earlier")
    if row.hash != expected:
        return Break(row.id, "edited", f"event {row.id}, the {events}-th, has hash {row.hash[:12]}…, not the "
                     f"{expected[:12]}… recorded earlier: the log was rewritten up to there")
    return None


class AuditWatch:
    """One process's last verified head, moved forward by at most ``budget`` events per check, so a check
    stays fast however long the log is; a break is reported until the log verifies again from the last good
    head."""

    def __init__(self, budget: int = 2000) -> None:
        self.budget = budget
        self._lock = threading.Lock()
        self._head: Head | None = None
        self._last: Verdict | None = None

    def check(self, session: Session) -> Verdict | None:
        """Verify what was appended since the last check (None while another thread is checking, before any)."""
        if not self._lock.acquire(blocking=False):
            return self._last
        try:
            verdict = verify(session, self._head, self.budget)
            if verdict.broken is None:
                self._head = verdict.head
            elif self._last is None or self._last.broken != verdict.broken:
                log.error("audit log broken at event %s: %s: %s", verdict.broken.event_id, verdict.broken.problem,
                          verdict.broken.why)
            self._last = verdict
            return verdict
        finally:
            self._lock.release()
