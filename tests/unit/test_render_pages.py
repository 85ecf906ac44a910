"""The pages are drawn from plain documents: what the record says is shown as
text (never as markup), every table and form is labelled for a screen reader,
and a breach's chart draws its threshold and window."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from opsledger import render
from opsledger.render.chart import breach_chart

CHECKS = [{"check": "approvals", "title": "Approvals confirmed", "owners": ["release-manager"],
           "evidence": "x.md", "distinct_signers": False},
          {"check": "prod-cutover", "title": "Production cutover gate signed",
           "owners": ["release-manager", "risk-officer"], "evidence": "y.md",
           "distinct_signers": True}]
HOSTILE = '<script>alert("x")</script>'


def ticket(**over):
    doc = {"ticket": "CHG-7", "title": HOSTILE, "status": "open", "strategy": "momo-1",
           "requested_env": "prod", "effective_env": "staging", "artifact_digest": "sha256:ab",
           "session_date": "2026-11-23", "opened_at": "2026-11-23T13:00:00.000000Z",
           "opened_by": {"actor": "dave.dev", "role": "dev-lead"}, "settled": False,
           "events": 3, "position": 9, "downgrades": [], "approvals": {}, "gate": None,
           "commands": [{"run_id": "r1", "command": "deploy", "env": "staging",
                         "actor": "dana.ops", "started_at": "2026-11-23T13:05:00Z",
                         "finished_at": "2026-11-23T13:06:00Z", "exit_code": 3,
                         "outcome": "exited", "detail": "", "reason": "", "log_sha256": "ee" * 32,
                         "log_path": "deploy.log", "log_bytes": 10}],
           "kill_reasons": [], "flag_mismatches": [], "last_flag_observation": None,
           "archive_status": None, "archives": [],
           "evidence": {"approvals": [{"actor": "alice.rm", "role": "release-manager",
                                       "at": "2026-11-23T13:01:00Z", "sha256": "cd" * 32,
                                       "path": "x.md", "size": 5, "superseded": None}]},
           "missing_checks": ["prod-cutover (needs 2 distinct people)"]}
    return doc | over


def breach():
    return {"breach_id": "b" * 64, "ticket": "CHG-7", "rule": "order_latency",
            "metric": "metrics.execution.latency", "severity": "critical", "unit": "ms",
            "threshold": 120.0, "observed": 150.0, "comparison": "p95 < 120 ms",
            "window_start": "2026-11-23T14:05:00.000000Z",
            "window_end": "2026-11-23T14:06:00.000000Z", "duration_s": 60.0,
            "escalation": "Trigger throttling", "incident_ref": "INC-1", "labels": {}}


def chart():
    t0 = 1795442700.0  # 2026-11-23T14:05:00Z
    return {"breach_id": "b" * 64, "threshold": 120.0, "unit": "ms", "quantity": "p95 latency",
            "window_start_ts": t0, "window_end_ts": t0 + 60, "start_ts": t0 - 600,
            "end_ts": t0 + 660, "points": [[t0 - 600 + 15 * i, 100.0 + (60 if 40 <= i <= 44 else 0)]
                                           for i in range(85)] + [[t0 + 700, float("nan")]],
            "source": "metrics_x.json.gz", "step": False, "note": None}


class Outline(HTMLParser):
    """Headings in order, table headers, form controls and their labels."""

    def __init__(self) -> None:
        super().__init__()
        self.headings: list[int] = []
        self.th_without_scope = 0
        self.controls: list[str] = []
        self.labels: set[str] = set()
        self.landmarks: set[str] = set()
        self.lang = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if re.fullmatch(r"h[1-6]", tag):
            self.headings.append(int(tag[1]))
        if tag == "th" and "scope" not in a:
            self.th_without_scope += 1
        if tag in ("input", "select", "textarea"):
            self.controls.append(a.get("id", ""))
        if tag == "label" and "for" in a:
            self.labels.add(a["for"])
        if tag in ("main", "nav", "header", "footer"):
            self.landmarks.add(tag)
        if tag == "html":
            self.lang = a.get("lang")


def outline(html: str) -> Outline:
    o = Outline()
    o.feed(html)
    return o


def assert_accessible(html: str) -> None:
    o = outline(html)
    assert o.lang == "en"
    assert {"main", "header", "footer"} <= o.landmarks
    assert o.headings[0] == 1 and o.headings.count(1) == 1
    assert all(b - a <= 1 for a, b in zip(o.headings, o.headings[1:], strict=False)), o.headings
    assert o.th_without_scope == 0
    assert all(c and c in o.labels for c in o.controls), (o.controls, o.labels)


def test_the_ticket_page_shows_what_is_missing_and_escapes_what_was_recorded():
    view = {"ticket": ticket(), "checks": CHECKS, "breaches": [breach()],
            "charts": {"b" * 64: chart()}, "flag_changes": []}
    html = render.ticket_page(view)
    assert HOSTILE not in html and "&lt;script&gt;" in html
    assert re.search(r'data-check="prod-cutover".*?<span class="badge bad">missing', html, re.S)
    assert re.search(r'data-check="approvals".*?<span class="badge ok">complete', html, re.S)
    assert "cd" * 32 in html and "ee" * 32 in html
    assert '<td data-field="exit_code">3</td>' in html
    assert "<script" not in html and "http://" not in html and "https://" not in html
    assert_accessible(html)


def test_the_incidents_form_labels_every_control_and_keeps_the_filters_typed():
    html = render.incidents_page([breach()], filters={"ticket": "CHG-7", "severity": "critical",
                                                      "since": HOSTILE},
                                 choices={"severities": ["warning", "critical", "page"],
                                          "tickets": ["CHG-7"], "metrics": []},
                                 charts={"b" * 64: chart()})
    assert '<option value="critical" selected>' in html
    assert 'value="CHG-7"' in html and HOSTILE not in html
    assert html.count("<svg") == 1
    assert_accessible(html)


def test_the_list_and_the_timeline_are_accessible_tables():
    rows = [{"ticket": "CHG-7", "strategy": "momo-1", "status": "open", "requested_env": "prod",
             "effective_env": "prod", "breach_count": 0, "opened_at": "2026-11-23T13:00:00Z",
             "updated_at": "2026-11-23T13:00:00Z", "position": 9}]
    assert_accessible(render.ticket_list_page(rows))
    timeline = {"ticket": "CHG-7", "events": [
        {"position": 9, "at": "2026-11-23T13:00:00Z", "actor": "dave.dev", "role": "dev-lead",
         "kind": "Opened", "summary": HOSTILE, "own": True, "signer": "dave.dev",
         "key": "SHA256:abc", "signature": "-----BEGIN SSH SIGNATURE-----"},
        {"position": 10, "at": "2026-11-23T13:01:00Z", "actor": None, "kind": "FlagSet",
         "summary": "x", "own": False}]}
    html = render.timeline_page(timeline)
    assert HOSTILE not in html and html.count("badge ok\">signed") == 1
    assert "unsigned" in html
    assert_accessible(html)


def test_the_chart_draws_the_threshold_the_window_and_breaks_the_line_at_a_gap():
    svg = str(breach_chart(chart(), chart_id="c1"))
    assert 'role="img"' in svg and 'aria-labelledby="c1-title c1-desc"' in svg
    assert 'class="threshold"' in svg and 'class="window"' in svg
    assert svg.count('class="series"') == 1
    assert "peak 160 ms" in svg and "threshold 120 ms" in svg
    # the threshold line sits below the peak: smaller y is higher on the chart
    ty = float(re.search(r'class="threshold" x1="\d+" x2="\d+" y1="([\d.]+)"', svg)[1])
    ys = [float(p.split(",")[1]) for p in re.search(r'points="([^"]+)"', svg)[1].split()]
    assert min(ys) < ty < max(ys)
    # a heartbeat is drawn as steps: each gap holds since the beat before
    stepped = str(breach_chart(chart() | {"step": True}, chart_id="c2"))
    assert len(re.search(r'points="([^"]+)"', stepped)[1].split()) == 2 * 85 - 1
