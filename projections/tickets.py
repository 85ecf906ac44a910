"""The tickets view: each change ticket as it stands, one row per ticket.

The row keeps the columns people filter on (status, strategy, envs, breach
count, closed) and the whole state as one canonical JSON document: evidence
per check, approvals, gate, commands with exit codes and log hashes, the
last observed `live.enabled`, flag mismatches and archive status.
`fold` is also what time travel replays in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar

from opsledger.domain.runbook import gate_gaps
from opsledger.projections import encoding
from opsledger.projections.facts import Fact, micros
from opsledger.projections.schema import Column, Table
from opsledger.projections.view import Rows, View

PREFIX = "opsledger.ticket."
OPENED = PREFIX + "Opened"
TABLE = "view_tickets"

State = dict[str, Any]


def _opened(state: State | None, f: Fact) -> State:
    d = f.data
    return {
        "ticket": d["key"],
        "ticket_id": f.originator_id,
        "title": d.get("title", ""),
        "strategy": d["strategy"],
        "artifact_digest": d["artifact_digest"],
        "session_date": d["session_date"],
        "opened_at": d["timestamp"],
        "opened_by": {"actor": d["actor"], "role": d.get("role")},
        "requested_env": d["env"],
        "effective_env": d["env"],
        "gate": None,
        "evidence": {},
        "approvals": {},
        "commands": [],
        "downgrades": [],
        "kill_reasons": [],
        "settled": False,
        "live_enabled": None,
        "last_flag_observation": None,
        "flag_mismatches": [],
        "breach_count": 0,
        "breaches_by_severity": {},
        "archives": [],
        "closed": None,
    }


def _evidence(s: State, f: Fact) -> None:
    d = f.data
    s["evidence"].setdefault(d["check"], []).append(
        {
            "evidence_id": d["evidence_id"],
            "path": d["path"],
            "sha256": d["sha256"],
            "size": d["size"],
            "actor": d["actor"],
            "role": d.get("role"),
            "at": d["timestamp"],
            "superseded": None,
        }
    )


def _superseded(s: State, f: Fact) -> None:
    d = f.data
    for records in s["evidence"].values():
        for record in records:
            if record["evidence_id"] == d["evidence_id"]:
                record["superseded"] = {
                    "reason": d["reason"],
                    "actor": d["actor"],
                    "at": d["timestamp"],
                }


def _approval(s: State, f: Fact) -> None:
    d = f.data
    s["approvals"][d["approval"]] = {
        "reference": d["reference"],
        "actor": d["actor"],
        "role": d.get("role"),
        "at": d["timestamp"],
    }


def _gate(s: State, f: Fact) -> None:
    d = f.data
    s["gate"] = {
        "decision": d["decision"],
        "missing": list(d["missing"]),
        "actor": d["actor"],
        "at": d["timestamp"],
    }


def _downgraded(s: State, f: Fact) -> None:
    d = f.data
    s["effective_env"] = d["effective_env"]
    s["downgrades"].append(
        {
            "run_id": d["run_id"],
            "requested_env": d["requested_env"],
            "effective_env": d["effective_env"],
            "missing": list(d["missing"]),
            "at": d["timestamp"],
        }
    )


def _started(s: State, f: Fact) -> None:
    d = f.data
    if d["command"] == "deploy":
        s["effective_env"] = d["env"]
    s["commands"].append(
        {
            "run_id": d["run_id"],
            "command": d["command"],
            "argv": list(d["argv"]),
            "env": d["env"],
            "reason": d.get("reason", ""),
            "actor": d["actor"],
            "started_at": d["started_at"],
            "log_path": d["log_path"],
            "outcome": None,
            "exit_code": None,
            "finished_at": None,
            "log_sha256": None,
            "log_bytes": None,
            "detail": None,
        }
    )


def _finished(s: State, f: Fact) -> None:
    d = f.data
    for command in s["commands"]:
        if command["run_id"] == d["run_id"]:
            command.update(
                outcome=d["outcome"],
                exit_code=d["exit_code"],
                finished_at=d["finished_at"],
                log_sha256=d["log_sha256"],
                log_bytes=d["log_bytes"],
                detail=d.get("detail", ""),
            )


def _killed(s: State, f: Fact) -> None:
    s["kill_reasons"].append({"reason": f.data["reason"], "at": f.data["timestamp"]})


def _settled(s: State, f: Fact) -> None:
    s["settled"] = True


def _observed(s: State, f: Fact) -> None:
    d = f.data
    s["live_enabled"] = d["observed"]
    s["last_flag_observation"] = {
        "run_id": d["run_id"],
        "flag": d["flag"],
        "expected": d["expected"],
        "observed": d["observed"],
        "at": d["timestamp"],
    }


def _mismatch(s: State, f: Fact) -> None:
    d = f.data
    s["flag_mismatches"].append(
        {
            "run_id": d["run_id"],
            "flag": d["flag"],
            "expected": d["expected"],
            "observed": d["observed"],
            "at": d["timestamp"],
        }
    )


def _breach(s: State, f: Fact) -> None:
    s["breach_count"] += 1
    by = s["breaches_by_severity"]
    by[f.data["severity"]] = by.get(f.data["severity"], 0) + 1


def _sealed(s: State, f: Fact) -> None:
    d = f.data
    s["archives"].append(
        {
            "location": d["location"],
            "archive_sha256": d["archive_sha256"],
            "archive_bytes": d["archive_bytes"],
            "manifest_sha256": d["manifest_sha256"],
            "location_hash": d["location_hash"],
            "file_count": d["file_count"],
            "missing": list(d["missing"]),
            "sealed_at": d["timestamp"],
            "verified": None,
            "verified_at": None,
            "failures": [],
        }
    )


def _verified(s: State, f: Fact) -> None:
    d = f.data
    for archive in s["archives"]:
        if archive["archive_sha256"] == d["archive_sha256"]:
            archive.update(verified=d["ok"], verified_at=d["timestamp"], failures=list(d["failures"]))


def _closed(s: State, f: Fact) -> None:
    d = f.data
    s["closed"] = {
        "actor": d["actor"],
        "at": d["timestamp"],
        "archive_sha256": d["archive_sha256"],
        "pruned": d.get("pruned", False),
    }


_HANDLERS: dict[str, Callable[[State, Fact], None]] = {
    PREFIX + "EvidenceAttached": _evidence,
    PREFIX + "EvidenceSuperseded": _superseded,
    PREFIX + "ApprovalGiven": _approval,
    PREFIX + "GateEvaluated": _gate,
    PREFIX + "Downgraded": _downgraded,
    PREFIX + "CommandStarted": _started,
    PREFIX + "CommandFinished": _finished,
    PREFIX + "KillSwitchEngaged": _killed,
    PREFIX + "SessionSettled": _settled,
    PREFIX + "FlagObserved": _observed,
    PREFIX + "FlagMismatchDetected": _mismatch,
    PREFIX + "SlaBreachRecorded": _breach,
    PREFIX + "ArchiveSealed": _sealed,
    PREFIX + "ArchiveVerified": _verified,
    PREFIX + "Closed": _closed,
}


def fold(state: State | None, fact: Fact) -> State | None:
    """The ticket after `fact`. Takes ownership of `state` (it is changed in place).

    A topic this code does not know still counts as an event of the ticket,
    so a newer writer never makes an older reader's positions lie.
    """
    if fact.topic == OPENED:
        state = _opened(state, fact)
    elif state is None:
        return None  # an event before Opened cannot happen in a valid log; ignore it
    else:
        handler = _HANDLERS.get(fact.topic)
        if handler is not None:
            handler(state, fact)
    state["version"] = fact.version
    state["position"] = fact.position
    state["updated_at"] = fact.timestamp
    state["events"] = state.get("events", 0) + 1
    return state


# --- what is derived from the state, computed once per written row -------------------


def missing_checks(evidence: Mapping[str, list[dict[str, Any]]], approvals: Mapping[str, Any]) -> list[str]:
    """The runbook's gaps in runbook order: the domain's own Go/No-Go rule."""
    current = {
        check: [(e["role"], e["actor"]) for e in records if e["superseded"] is None]
        for check, records in evidence.items()
    }
    return gate_gaps(current, approvals)


def archive_status(archives: Sequence[Mapping[str, Any]]) -> str:
    if not archives:
        return "none"
    verified = archives[-1]["verified"]
    return "sealed" if verified is None else ("verified" if verified else "failed")


def status(s: Mapping[str, Any]) -> str:
    if s["closed"]:
        return "closed"
    if s["archives"]:
        return "archived"
    if s["kill_reasons"]:
        return "halted"
    if s["settled"]:
        return "settled"
    if any(c["command"] == "deploy" for c in s["commands"]):
        return "deployed"
    if s["gate"]:
        return s["gate"]["decision"]
    return "open"


def document(s: State) -> dict[str, Any]:
    """The ticket as shown: the folded state plus what is derived from it."""
    return {
        **s,
        "status": status(s),
        "missing_checks": missing_checks(s["evidence"], s["approvals"]),
        "archive_status": archive_status(s["archives"]),
    }


COLUMNS = (
    Column("ticket_id", "text", nullable=False),
    Column("ticket", "text", nullable=False),
    Column("strategy", "text", nullable=False),
    Column("status", "text", nullable=False),
    Column("requested_env", "text", nullable=False),
    Column("effective_env", "text", nullable=False),
    Column("breach_count", "int", nullable=False),
    Column("closed", "int", nullable=False),
    Column("opened_at", "int", nullable=False),
    Column("updated_at", "int", nullable=False),
    Column("position", "int", nullable=False),
    Column("doc", "text", nullable=False),
)


def encode(s: State) -> tuple[Any, ...]:
    doc = document(s)
    return (
        s["ticket_id"],
        s["ticket"],
        s["strategy"],
        doc["status"],
        s["requested_env"],
        s["effective_env"],
        s["breach_count"],
        1 if s["closed"] else 0,
        micros(s["opened_at"]),
        micros(s["updated_at"]),
        s["position"],
        encoding.dumps(doc),
    )


_DERIVED = ("status", "missing_checks", "archive_status")


def decode(row: tuple[Any, ...]) -> State:
    state = encoding.loads(row[-1])
    for name in _DERIVED:
        state.pop(name, None)
    return state


class TicketsView(View):
    name: ClassVar[str] = "tickets"
    version: ClassVar[int] = 1
    tables: ClassVar[tuple[Table, ...]] = (
        Table(
            TABLE,
            COLUMNS,
            key=("ticket_id",),
            indexes=(("ticket",), ("strategy", "opened_at"), ("status", "opened_at")),
            encode=encode,
            decode=decode,
        ),
    )

    def wants(self, topic: str) -> bool:
        return topic.startswith(PREFIX)

    def needs(self, facts: Sequence[Fact]) -> Mapping[str, Iterable[Any]]:
        opened = {f.originator_id for f in facts if f.topic == OPENED}  # born in this batch
        return {TABLE: {f.originator_id for f in facts if f.originator_id not in opened}}

    def apply(self, fact: Fact, rows: Rows) -> None:
        state = fold(rows.get(TABLE, fact.originator_id), fact)
        if state is not None:
            rows.put(TABLE, fact.originator_id, state)
