"""HTML for people: the web pages and the session report inside an archive.

Pure: plain dicts and lists in (the documents the services return), HTML
strings out. Jinja2 with autoescape on; one stylesheet inlined into every
page and SVG charts drawn here, so a page needs nothing else to load: it
works offline, from `file://`, and years later.
"""

from opsledger.render.pages import (
    incidents_page,
    session_report,
    ticket_list_page,
    ticket_page,
    timeline_page,
)

__all__ = [
    "incidents_page",
    "session_report",
    "ticket_list_page",
    "ticket_page",
    "timeline_page",
]
