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
