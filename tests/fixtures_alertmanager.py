"""A real Alertmanager (Debian's prometheus-alertmanager 0.25) for the tests of
`POST /api/v1/alertmanager`: started on 127.0.0.1 at a free port, clustering
off, with a route whose webhook points at a running `opsledger serve`; only the
process started here is stopped at the end."""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from realserver import Server, running

# The route of README.md's "Alertmanager" section, with the token inline (the
# README reads it from a file: credentials_file) and a second receiver whose
# token is wrong, picked by the label `token="wrong"`.
CONFIG = """\
route:
  receiver: opsledger
  group_by: ['alertname', 'change_ticket']
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - matchers: ['token="wrong"']
      receiver: opsledger-wrong-token
receivers:
  - name: opsledger
    webhook_configs:
      - url: {url}
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: {token}
  - name: opsledger-wrong-token
    webhook_configs:
      - url: {url}
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: {wrong}
"""


def binary() -> str | None:
    return shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


def require_alertmanager() -> str:
    """The binary; skips without it, and under CI=true fails."""
    found = binary()
    if found:
        return found
    why = "prometheus-alertmanager not installed (Debian package prometheus-alertmanager)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"a real Alertmanager is required under CI=true: {why}")
    pytest.skip(why)


@dataclass(frozen=True)
class Alertmanager(Server):
    def post_alerts(self, alerts: list[dict]) -> None:
        """Alertmanager's own API, as Prometheus posts alerts to it."""
        request = urllib.request.Request(
            f"{self.url}/api/v2/alerts", data=json.dumps(alerts).encode(), method="POST",
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 200, answer.read()

    def metric(self, name: str) -> float:
        """The sum of a metric's samples on /metrics (0 when absent)."""
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=10) as answer:
            text = answer.read().decode()
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith((name + " ", name + "{")))


@contextmanager
def alertmanager(workdir: Path, *, url: str, token: str, wrong: str,
                 timeout: float = 60.0) -> Iterator[Alertmanager]:
    """Alertmanager sending to `url` with `token` (and `wrong` for `token="wrong"`)."""
    exe = require_alertmanager()
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "alertmanager.yml"
    config.write_text(CONFIG.format(url=url, token=token, wrong=wrong))
    with running("alertmanager", lambda port: [
            exe, f"--config.file={config}", f"--storage.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
            "--log.level=debug"],
            log=workdir / "alertmanager.log", home=workdir, timeout=timeout,
            kind=Alertmanager) as server:
        yield server
