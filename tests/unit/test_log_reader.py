"""The log read as stored (what `flag get` and the views read, with no domain
classes) answers as replaying the aggregates does."""

from __future__ import annotations

from conftest import sqlite_env
from opsledger.domain.application import OpsLedger
from opsledger.domain.log_reader import LogReader
from opsledger.domain.runbook import Role
from story import PEOPLE, staff


def test_a_flag_read_as_stored_is_the_flag_replayed(tmp_path):
    env = sqlite_env(tmp_path / "events.sqlite")
    app = OpsLedger(env=env)
    staff(app)
    reader = LogReader(env=env)
    assert reader.flag_value("live.enabled") is None is app.flag_value("live.enabled")
    for value in ("true", "off", "yes", "no"):
        app.set_flag("live.enabled", value=value, actor=PEOPLE[Role.OPERATOR], role=None,
                     reason="the runbook says so")
        assert reader.flag_value("live.enabled") == app.flag_value("live.enabled")
    app.set_flag("desk.mode", value="Calm", actor=PEOPLE[Role.OPERATOR], role=None, reason="r")
    assert reader.flag_value("desk.mode") == "Calm" == app.flag_value("desk.mode")


DECODE_ALONE = """
import sys
from opsledger.domain.log_reader import LogReader
reader = LogReader(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": sys.argv[1]})
assert "opsledger.domain.ticket.aggregate" not in sys.modules
events = [reader.mapper.to_domain_event(n)
          for n in reader.recorder.select_notifications(start=1, limit=10_000)]
print(len(events), len({type(e).__name__ for e in events}))
"""


def test_a_process_that_started_without_the_event_classes_still_decodes(tmp_path):
    """eventsourcing resolves a stored topic only once its class is defined: the
    mapper imports the event modules before a decode that needs them."""
    import subprocess
    import sys

    env = sqlite_env(tmp_path / "events.sqlite")
    app = OpsLedger(env=env)
    staff(app)
    app.set_flag("live.enabled", value="true", actor=PEOPLE[Role.OPERATOR], role=None, reason="r")
    app.close()
    done = subprocess.run([sys.executable, "-c", DECODE_ALONE, env["SQLITE_DBNAME"]],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    count, kinds = map(int, done.stdout.split())
    assert count > 5 and kinds >= 3
