"""The JSON API's response models: the OpenAPI schema is generated from these.

Each names the fields a client relies on; the documents the services return
may carry more (`extra="allow"`), and those are passed through as they are,
exactly as `--json` prints them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    head: int = Field(description="The event log's last position.")
    views: dict[str, int] = Field(description="The position each view has applied.")


class TicketRow(Open):
    ticket: str
    strategy: str
    status: str
    requested_env: str | None = None
    effective_env: str | None = None
    breach_count: int
    closed: bool
    position: int


class Ticket(Open):
    ticket: str | None = Field(None, description="The ticket's key.")
    status: str | None = None
    approvals: dict[str, Any] = {}
    archives: list[dict[str, Any]] = []


class TimelineEntry(Open):
    position: int
    version: int | None = None
    own: bool | None = None
    signer: str | None = Field(None, description="Who signed the event (SSHSIG).")
    key: str | None = Field(None, description="The signing key's SHA256 fingerprint.")
    signature: str | None = Field(None, description="The armored SSHSIG signature.")
    signed: str | None = Field(None, description="base64 of the exact signed bytes.")


class Timeline(BaseModel):
    ticket: str
    events: list[TimelineEntry]


class FlagChange(Open):
    position: int
    flag: str
    old: str | None
    new: str
    actor: str
    reason: str


class FlagHistory(BaseModel):
    flag: str
    changes: list[FlagChange]


class Incident(Open):
    position: int
    ticket: str
    breach_id: str
    metric: str
    severity: str
    threshold: float | None = None
    observed: float | None = None
    window_start: str | None = None
    window_end: str | None = None


class Archive(Open):
    name: str
    location: str
    complete: bool
    size: int | None = None


class Verification(Open):
    target: str
    ok: bool
    provenance: str
    archive_sha256: str | None = None
    findings: list[str]


class LedgerStatus(Open):
    tree_size: int
    root_hash: str
    position: int
    head: int
    lag: int
    checkpoints: list[int]


class Checkpoint(BaseModel):
    size: int
    note: str = Field(description="The signed checkpoint note (C2SP tlog-checkpoint).")


class InclusionProof(Open):
    format: str
    leaf_index: int
    leaf_hash: str
    tree_size: int
    root_hash: str
    path: list[str]
    checkpoint: str | None


class Roster(BaseModel):
    version: int
    people: dict[str, list[str]]


class RosterKeys(BaseModel):
    version: int
    keys: list[dict[str, Any]]


class SignedAction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    payload: str = Field(max_length=360_000,
                         description="base64 of the signed intent's exact (canonical JSON) bytes.")
    signature: str = Field(max_length=64_000,
                           description="The armored SSHSIG signature (namespace opsledger).")


class ActionRecorded(BaseModel):
    action: str
    target: str
    signer: str
    events: int = Field(description="Events the action recorded (0: nothing changed).")
    result: Any = None


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
