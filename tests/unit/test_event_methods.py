"""The ticket's `@applies` methods take exactly their event's fields.

`domain.model.applies` gives each method its event class's signature, so a
method names only what it reads; these tests hold `eventsourcing` to binding
calls and replays by that signature, as it did when each method listed every
field itself.
"""

from __future__ import annotations

import inspect
from datetime import date

import pytest
from eventsourcing.domain import decorated_funcs
from opsledger.domain.model import Created
from opsledger.domain.runbook import Env
from opsledger.domain.ticket import Ticket

DIGEST = "sha256:" + "ab" * 32
METHODS = {
    cls: func
    for name in dir(Ticket)
    if isinstance(cls := getattr(Ticket, name), type) and (func := decorated_funcs.get(cls))
}


def test_every_event_method_takes_its_events_fields() -> None:
    assert len(METHODS) == 19  # every ticket event but Opened, which __init__ applies
    for cls, func in [*METHODS.items(), (Ticket.Opened, Ticket.__init__)]:
        params = [p for p in inspect.signature(func).parameters if p != "self"]
        assert set(params) == set(cls.model_fields) - set(Created.model_fields), func


def ticket() -> Ticket:
    return Ticket.open(
        key="CHG-1",
        strategy="s1",
        env=Env.PROD,
        artifact_digest=DIGEST,
        actor="ops",
        role=None,
        session_date=date(2025, 1, 1),
    )


def test_a_call_must_give_every_field_and_no_other() -> None:
    t = ticket()
    with pytest.raises(TypeError, match="'role'"):
        t._close(archive_sha256="0" * 64, pruned=False, actor="ops")
    with pytest.raises(TypeError, match="'bogus'"):
        t._close(archive_sha256="0" * 64, pruned=False, actor="ops", role=None, bogus=1)
    assert not t.closed


def test_a_replayed_event_reaches_the_method_by_name() -> None:
    t = ticket()
    t._seal(
        location="s3://b/k",
        archive_sha256="1" * 64,
        archive_bytes=1,
        manifest_sha256="2" * 64,
        location_hash="3" * 64,
        file_count=1,
        missing=["x"],
        details={},
        actor="ops",
        role=None,
    )
    events = t.collect_events()
    replayed = None
    for e in events:
        replayed = e.mutate(replayed)
    assert (
        replayed.archives
        == t.archives
        == [
            {"location": "s3://b/k", "archive_sha256": "1" * 64, "missing": ["x"], "verified": None}
        ]
    )
