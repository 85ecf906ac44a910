"""`opsledger/report.html`, the session rendered for a person inside its archive.

Built from what the seal records beside it (the ticket document of
`ticket.json`, the ticket's timeline, breaches and flag trail up to the
seal, the snapshot in the payload), with no clock and no randomness: the
same record always gives the same bytes, so sealing again is byte-identical.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opsledger.archiver.builder.bag import bag_dir_name
from opsledger.render import session_report
from opsledger.services.queries import ticket_timeline
from opsledger.services.session_view import ticket_view

if TYPE_CHECKING:
    from opsledger.services.bootstrap import Services

REPORT = "opsledger/report.html"


def report_html(
    services: Services,
    key: str,
    *,
    document: Mapping[str, Any],
    session_dir: Path,
    last_position: int,
) -> bytes:
    bag = bag_dir_name(key, str(document["session_date"]))
    view = ticket_view(services, key, document=document, session_dir=session_dir)
    timeline = ticket_timeline(services, key)
    html = session_report(view, timeline, archive={"name": f"{bag}.tar.zst", "bag": bag,
                                                   "last_position": last_position})
    return html.encode("utf-8")
