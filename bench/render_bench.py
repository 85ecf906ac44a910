"""Render benchmark: the ticket page and the archive's report for a ticket of 1,000 events.

    .venv/bin/python bench/render_bench.py [--events 1000] [--repeat 20]

Records one ticket through the domain application into a fresh embedded
store: the seven checks' evidence attached again and again, the gate, the
approvals, and `live.enabled` flipped on the ticket, until the ticket's
timeline holds --events events. Then prints, as the median of --repeat runs:

- the ticket page: its service calls (`session_view.ticket_view`), its
  rendering (`render.ticket_page`), both together;
- the report: `session_report.report_html` (the same view, the timeline with
  its signatures, rendered into one file), and its size;
- the ratio report / ticket page.

Issue 16's target: under 200 ms each for a ticket of 1,000 events (printed,
never asserted).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from opsledger import render  # noqa: E402
from opsledger.domain.application import OpsLedger  # noqa: E402
from opsledger.domain.runbook import CHECKS, LIVE_FLAG, Role  # noqa: E402
from opsledger.services.bootstrap import Services  # noqa: E402
from opsledger.services.queries import ticket_timeline  # noqa: E402
from opsledger.services.session_report import report_html  # noqa: E402
from opsledger.services.session_view import ticket_view  # noqa: E402
from opsledger.services.settings import Settings  # noqa: E402
from story import PEOPLE, approve_all, attach_all, open_ticket  # noqa: E402

KEY = "CHG-2041"


def record(home: Path, events: int) -> None:
    app = OpsLedger(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                         "SQLITE_DBNAME": str(home / "events.sqlite")})
    open_ticket(app, KEY)
    attach_all(app, KEY)
    approve_all(app, KEY)
    app.evaluate_gate(KEY, actor=PEOPLE[Role.OPERATOR], role=Role.OPERATOR)
    done = len(app.ticket_events(KEY))
    i = 0
    while done < events:
        if i % 3 == 2:  # a flag change on the ticket: on its timeline, not its own event
            app.set_flag(LIVE_FLAG, value="true" if i % 2 else "false", actor=PEOPLE[Role.OPERATOR],
                         role=Role.OPERATOR, reason=f"flip {i}", ticket=KEY)
        else:
            check = CHECKS[i % len(CHECKS)]
            role = check.owners[0]
            app.attach_evidence(KEY, check=check.name, path=f"evidence/{check.name}-{i}.md",
                                sha256=f"{i:064x}", size=100 + i, actor=PEOPLE[role], role=role)
        done += 1
        i += 1
    app.close()


def median_ms(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / ".opsledger"
        home.mkdir()
        began = time.perf_counter()
        record(home, args.events)
        services = Services(Settings(home=home))
        timeline = ticket_timeline(services, KEY)  # also catches the views up, once
        print(f"recorded {len(timeline['events'])} timeline events of {KEY} "
              f"in {time.perf_counter() - began:.1f} s")
        session_dir = Path(tmp) / "session"
        session_dir.mkdir()

        view_ms, view = median_ms(lambda: ticket_view(services, KEY), args.repeat)
        render_ms, page = median_ms(lambda: render.ticket_page(view), args.repeat)
        page_ms, _ = median_ms(lambda: render.ticket_page(ticket_view(services, KEY)), args.repeat)
        document = view["ticket"]
        report_ms, report = median_ms(
            lambda: report_html(services, KEY, document=document, session_dir=session_dir,
                                last_position=document["position"]), args.repeat)
        print(f"ticket page: service calls {view_ms:.1f} ms + render {render_ms:.1f} ms; "
              f"together {page_ms:.1f} ms ({len(page) / 1024:.0f} KiB)")
        print(f"report.html: {report_ms:.1f} ms ({len(report) / 1024:.0f} KiB, "
              f"timeline with signatures included)")
        print(f"ratio report / ticket page: {report_ms / page_ms:.2f}")
        print("target (issue 16): each under 200 ms for 1,000 events")


if __name__ == "__main__":
    main()
