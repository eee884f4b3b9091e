"""Every kind of audit event has one writer, read from the source: a function of serve/db/audit.py.

A kind is a string passed to the log's low-level writer ``_record``, or an event of the claim state table.
Each literal kind may appear in one function only (its writer); the table's events appear only in the table,
and reach the log through one function that passes them on (``claim_transition``); an audit row is built in
``_record`` alone.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path

from serve.claims.states import TRANSITIONS

SERVE = Path(__file__).resolve().parents[2] / "serve"
LOG = "serve.db.audit"
TABLE = "serve.claims.states"


def _name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


class _Scan(ast.NodeVisitor):
    """Per function of one module: the strings it holds, the calls to ``_record`` and the audit rows it builds."""

    def __init__(self, module: str) -> None:
        self.module = module
        self.scope: list[str] = []
        self.strings: dict[str, set[str]] = defaultdict(set)  # string -> functions holding it
        self.literal_kinds: set[str] = set()
        self.passes_a_kind_on: set[str] = set()  # functions calling _record with a kind that is not a literal
        self.builds_rows: set[str] = set()

    @property
    def where(self) -> str:
        return f"{self.module}:{'.'.join(self.scope) or '<module>'}"

    def _scoped(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _scoped

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str):
            self.strings[node.value].add(self.where)

    def visit_Call(self, node: ast.Call) -> None:
        name = _name(node.func)
        if name == "_record":
            keywords = {k.arg: k.value for k in node.keywords}
            kind = node.args[2] if len(node.args) > 2 else keywords.get("action")
            if isinstance(kind, ast.Constant) and isinstance(kind.value, str):
                self.literal_kinds.add(kind.value)
            else:
                self.passes_a_kind_on.add(self.where)
        elif name == "AuditEventRow":
            self.builds_rows.add(self.where)
        self.generic_visit(node)


def problems(sources: Mapping[str, str], table_events: set[str]) -> list[str]:
    """What breaks "one writer per kind" in these modules (module name -> source)."""
    scans = []
    for module, source in sources.items():
        scan = _Scan(module)
        scan.visit(ast.parse(source))
        scans.append(scan)
    holders: dict[str, set[str]] = defaultdict(set)
    for scan in scans:
        for text, where in scan.strings.items():
            holders[text] |= where
    literal_kinds = set().union(*(s.literal_kinds for s in scans))
    found = []
    for kind in sorted(literal_kinds):
        writers = holders[kind]
        if len(writers) != 1 or not next(iter(writers)).startswith(f"{LOG}:"):
            found.append(f"{kind} is written from {sorted(writers)}; write it from one function of {LOG}")
        if kind in table_events:
            found.append(f"{kind} is a claim transition's event; only the state table writes it")
    for event in sorted(table_events):
        if holders[event] - {f"{TABLE}:<module>"}:
            found.append(f"{event} appears in {sorted(holders[event])}; only the state table of {TABLE} names it")
    passers = set().union(*(s.passes_a_kind_on for s in scans))
    if passers != {f"{LOG}:claim_transition"}:
        found.append(f"kinds from variables are written by {sorted(passers)}; only {LOG}:claim_transition may")
    builders = set().union(*(s.builds_rows for s in scans))
    if builders != {f"{LOG}:_record"}:
        found.append(f"audit rows are built in {sorted(builders)}; only {LOG}:_record may")
    return found


def _serve_sources() -> dict[str, str]:
    return {
        ".".join(path.relative_to(SERVE.parent).with_suffix("").parts): path.read_text(encoding="utf-8")
        for path in SERVE.rglob("*.py")
    }


def test_each_audit_event_kind_has_one_writer() -> None:
    sources = _serve_sources()
    events = {t.event for t in TRANSITIONS.values()}
    assert problems(sources, events) == []
    # The kinds outside the state table, each with its writer: the scan saw them all.
    scan = _Scan(LOG)
    scan.visit(ast.parse(sources[LOG]))
    assert scan.literal_kinds == {
        "key.created",
        "key.revoked",
        "model.promoted",
        "model.promotion_refused",
        "model.shadow_started",
        "model.shadow_stopped",
        "autonomy.pending_confirmation",
        "autonomy.switched_on",
        "autonomy.revoked",
        "autonomy.shadow",
        "autonomy.confirmed",
    }


_LOG_SOURCE = '''
def _record(session, actor, action, claim_id, detail):
    return AuditEventRow(action=action)
def claim_transition(session, actor, claim_id, event, detail):
    return _record(session, actor, event, claim_id, detail)
def model_promoted(session, actor):
    return _record(session, actor, "model.promoted", None, {})
'''
_TABLE_SOURCE = 'TRANSITIONS = {"open": "claim.created"}\n'


def test_the_check_catches_a_second_writer() -> None:
    good = {LOG: _LOG_SOURCE, TABLE: _TABLE_SOURCE}
    assert problems(good, {"claim.created"}) == []
    second_writer = {**good, "serve.cli": "def promote(s):\n    audit._record(s, None, 'model.promoted', None, {})\n"}
    assert any("model.promoted is written from" in p for p in problems(second_writer, {"claim.created"}))
    by_hand = {**good, "serve.routes.admin": "def promote(s):\n    s.add(AuditEventRow(action='model.promoted'))\n"}
    assert len(problems(by_hand, {"claim.created"})) == 2  # the kind twice, and a row built outside _record
    table_event_elsewhere = {
        **good,
        "serve.routes.claims": "def open(s):\n    audit.claim_transition(s, None, 'c', 'claim.created', {})\n",
    }
    assert any("claim.created appears in" in p for p in problems(table_event_elsewhere, {"claim.created"}))
    from_a_variable = {**good, "serve.jobs.export": "def f(s, kind):\n    audit._record(s, None, kind, None, {})\n"}
    assert any("kinds from variables" in p for p in problems(from_a_variable, {"claim.created"}))
