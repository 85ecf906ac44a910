"""Telling whether the process that recorded a run's start is still there:
a pid alone is not enough (zombies, reused pids, reboots, other hosts)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from opsledger.adapters.runner import recorder_gone, recorder_identity


def test_this_process_is_there():
    assert recorder_gone(recorder_identity()) is False


def test_an_ended_process_is_gone_even_before_it_is_reaped():
    child = subprocess.Popen([sys.executable, "-c", "import os; print(os.getpid())"],
                             stdout=subprocess.PIPE, text=True)
    identity = {**recorder_identity(), "pid": child.pid}
    identity.pop("start_ticks", None)
    child.stdout.read()
    time.sleep(0.2)  # exited, not waited for: a zombie
    assert recorder_gone(identity) is True
    child.wait()
    assert recorder_gone(identity) is True  # reaped: no such pid


def test_a_reused_pid_or_another_boot_is_gone():
    me = recorder_identity()
    if "start_ticks" in me:
        assert recorder_gone({**me, "start_ticks": me["start_ticks"] + 1}) is True
    if "boot_id" in me:
        assert recorder_gone({**me, "boot_id": "another-boot"}) is True


def test_another_host_cannot_be_told():
    assert recorder_gone({**recorder_identity(), "host": "elsewhere.example"}) is None
    assert recorder_gone({"pid": os.getpid()}) is None  # no host recorded
