"""Runbook section 6, for the auditor years later: the sealed archive of a
session carries `opsledger/report.html`, the session rendered for a person,
checked by the archive's tag manifest like every other tag file."""

from __future__ import annotations

import hashlib
import json
import subprocess
import tarfile
from html.parser import HTMLParser
from pathlib import Path

import bagit
import pytest
import zstandard
from demo_session import DemoSession, extract, opsledger_command, run_demo
from opsledger.services.bootstrap import Services
from opsledger.services.session_report import REPORT, report_html
from opsledger.services.settings import Settings


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoSession:
    return run_demo(tmp_path_factory.mktemp("report") / "demo")


def repack(bag: Path, out: Path) -> Path:
    """The bag tarred and compressed again as the archive was (members in name order)."""
    with out.open("wb") as raw, zstandard.ZstdCompressor().stream_writer(raw) as packed, \
            tarfile.open(fileobj=packed, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(bag.rglob("*")):
            tar.add(path, arcname=path.relative_to(bag.parent).as_posix(), recursive=False)
    return out


def verify(demo: DemoSession, archive: Path) -> tuple[int, dict]:
    done = subprocess.run([*opsledger_command(), "archive", "verify", str(archive),
                           "--public-key", str(demo.ledger_pub), "--json"],
                          env=demo.env(), capture_output=True, text=True, timeout=120)
    return done.returncode, json.loads(done.stdout)


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.targets: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.targets += [v or "" for k, v in attrs if k in ("src", "href", "action", "srcset",
                                                            "poster", "data", "xlink:href")]


def test_the_report_is_a_tag_file_listed_in_the_tag_manifest_and_bagit_python_validates(
        demo: DemoSession, tmp_path: Path):
    bag = extract(demo.archive, tmp_path)
    report = bag / REPORT
    assert report.is_file()
    listed = dict(reversed(line.split(maxsplit=1))
                  for line in (bag / "tagmanifest-sha256.txt").read_text().splitlines())
    assert listed[REPORT] == hashlib.sha256(report.read_bytes()).hexdigest()
    bagit.Bag(str(bag)).validate()  # raises BagValidationError on any mismatch


def test_one_byte_changed_in_the_report_fails_archive_verify(demo: DemoSession, tmp_path: Path):
    bag = extract(demo.archive, tmp_path / "x")
    # the same bag repacked untouched: whatever repacking alone costs is not about the report
    rc, clean = verify(demo, repack(bag, tmp_path / "clean.tar.zst"))
    assert not [f for f in clean["findings"] if REPORT in json.dumps(f)], clean
    report = bag / REPORT
    data = bytearray(report.read_bytes())
    at = data.index(b"Pre-launch checks")
    data[at] = ord("p")  # one byte, same size
    report.write_bytes(bytes(data))
    rc, altered = verify(demo, repack(bag, tmp_path / "altered.tar.zst"))
    assert rc == 1
    about = [f for f in altered["findings"] if REPORT in json.dumps(f)]
    assert about and "checksum" in json.dumps(about).lower(), altered["findings"]


def test_the_report_loads_nothing_and_shows_the_checks_and_runs(demo: DemoSession,
                                                               tmp_path: Path):
    bag = extract(demo.archive, tmp_path)
    html = (bag / REPORT).read_text("utf-8")
    assert "http://" not in html and "https://" not in html
    links = Links()
    links.feed(html)
    assert all(t.startswith("#") for t in links.targets), links.targets
    assert "script" not in links.tags and "link" not in links.tags and "img" not in links.tags
    ticket = json.loads((bag / "opsledger" / "ticket.json").read_text())
    for check in ("approvals", "release-readiness", "prod-cutover", "health-gate",
                  "risk-envelope", "oncall-rotation", "incident-playbooks"):
        assert f'data-check="{check}"' in html
        for evidence in ticket["evidence"][check]:
            assert evidence["sha256"] in html
    assert [c["command"] for c in ticket["commands"]] == ["deploy", "validate", "settle"]
    for run in ticket["commands"]:
        assert f'data-run="{run["run_id"]}"' in html and run["log_sha256"] in html
    assert html.count("<svg") == 4  # one chart per breach, drawn from the payload's snapshot
    assert f"opsledger archive verify {demo.archive.name} --public-key" in html
    assert "ssh-keygen -Y verify" in html and "bagit --validate" in html


def test_the_report_is_built_from_the_record_alone_and_the_same_record_gives_the_same_bytes(
        demo: DemoSession):
    services = Services(Settings(home=demo.home))
    from opsledger.services.views import fresh_reader

    document = fresh_reader(services, ["tickets"]).ticket(demo.key)
    first = report_html(services, demo.key, document=document, session_dir=demo.session_dir,
                        last_position=document["position"])
    again = report_html(services, demo.key, document=json.loads(json.dumps(document)),
                        session_dir=demo.session_dir, last_position=document["position"])
    assert first == again
    assert b"<svg" in first
