"""A real Prometheus (a pytest plugin loaded by tests/conftest.py): one server per
test session, holding the generated session of tests/promserver/."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import promserver
import pytest


def require_prometheus() -> None:
    """Skips without Debian's prometheus and promtool; under CI=true, fails."""
    prometheus, promtool = promserver.binaries()
    missing = [name for name, path in (("prometheus", prometheus), ("promtool", promtool))
               if path is None]
    if not missing:
        return
    why = f"{' and '.join(missing)} not installed (Debian package prometheus)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"a real Prometheus is required under CI=true: {why}")
    pytest.skip(why)


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory: pytest.TempPathFactory,
               ) -> Iterator[tuple[promserver.Server, promserver.Session]]:
    """(the running server, the session its blocks hold)."""
    require_prometheus()
    session = promserver.Session.recent()
    data = Path(tmp_path_factory.mktemp("prometheus")) / "data"
    promserver.build_blocks(session, data)
    served = promserver.serve(data)
    server = next(served)
    try:
        yield server, session
    finally:
        served.close()
