"""The pages: each takes the documents of the service calls and returns HTML.

`links=False` renders for a file on its own (the archive's report): no
navigation to a server, only anchors within the page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from typing import Any

import jinja2
from opsledger.render.chart import breach_chart
from opsledger.render.format import FILTERS, check_rows


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("opsledger.render", "templates"),
        autoescape=True,  # every value is text from the record, never markup
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(FILTERS)
    env.globals["chart"] = breach_chart
    env.globals["stylesheet"] = _stylesheet()
    return env


@cache
def _text(name: str) -> str:
    return resources.files("opsledger.render").joinpath("templates", name).read_text("utf-8")


def _stylesheet() -> str:
    return _text("style.css")


def _render(template: str, **context: Any) -> str:
    return _environment().get_template(template).render(**context)


def ticket_list_page(rows: Sequence[Mapping[str, Any]], *, filters: Mapping[str, Any] | None = None
                     ) -> str:
    """`services.queries.ticket_rows`."""
    return _render("tickets.html", rows=rows, filters=dict(filters or {}), links=True,
                   title="Change tickets")


def ticket_page(view: Mapping[str, Any], *, links: bool = True) -> str:
    """`view` is `services.session_view.ticket_view`: the ticket document, the
    seven checks, its breaches (with charts), the flag trail."""
    return _render("ticket.html", v=view, checks=check_rows(view), links=links,
                   title=f"{view['ticket']['ticket']}: {view['ticket'].get('title') or ''}")


def timeline_page(timeline: Mapping[str, Any], *, links: bool = True) -> str:
    """`services.queries.ticket_timeline`."""
    return _render("timeline.html", timeline=timeline, links=links,
                   title=f"{timeline['ticket']}: timeline")


def incidents_page(
    incidents: Sequence[Mapping[str, Any]],
    *,
    filters: Mapping[str, Any],
    choices: Mapping[str, Sequence[str]],
    charts: Mapping[str, Mapping[str, Any]] | None = None,
    error: str | None = None,
) -> str:
    """`services.incidents.list_incidents`, the filters asked (as typed) and the
    choices offered (`severities`, `tickets`, `metrics`); `charts` by breach id."""
    return _render("incidents.html", incidents=incidents, filters=dict(filters),
                   choices=choices, charts=dict(charts or {}), error=error, links=True,
                   title="SLA incidents")


def session_report(
    view: Mapping[str, Any],
    timeline: Mapping[str, Any],
    *,
    archive: Mapping[str, Any],
) -> str:
    """The archive's `opsledger/report.html`: the ticket page, the timeline and
    how to verify the archive, in one file that loads nothing. `archive` holds
    `name` (the archive's file name), `bag` (its top folder), `last_position`."""
    steps = (_text("openssh_steps.txt").replace("ARCHIVE", archive["name"])
             .replace("BAG", archive["bag"]))
    return _render("report.html", v=view, checks=check_rows(view), timeline=timeline,
                   archive=archive, links=False, openssh_steps=steps,
                   title=f"Session report {view['ticket']['ticket']}")
