"""An auditor reads a session in a browser: `opsledger serve` over a demo
session, a read token issued by the administrator, the login form used with
the keyboard, then every page: no console error, nothing loaded from
elsewhere, the same data as the JSON API, a screenshot of each for review.
Once on the embedded SQLite store, once on PostgreSQL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from browserkit import full_page_screenshot, requested_urls, screenshot_dir, severe_console_entries
from conftest import PG_URL, fresh_schema
from demo_session import DemoSession, opsledger_command, run_demo

KEY = "CHG-2041"


@dataclass(frozen=True)
class Served:
    base: str
    token: str
    demo: DemoSession
    suffix: str  # of the screenshots' names: "" on SQLite, "-postgres"

    def api(self, path: str, **params) -> object:
        answer = httpx.get(f"{self.base}/api/v1{path}", params=params,
                           headers={"Authorization": f"Bearer {self.token}"}, timeout=30)
        assert answer.status_code == 200, answer.text
        return answer.json()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def as_admin(demo: DemoSession, *argv: str) -> str:
    done = subprocess.run([*opsledger_command(), "--identity", str(demo.folder / "keys/desk.admin"),
                           *argv], env=demo.env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture(scope="module", params=[
    "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None (the embedded store), or a PostgreSQL URL with a fresh schema."""
    if request.param == "sqlite":
        yield None
        return
    with fresh_schema() as schema:
        yield f"{PG_URL}?schema={schema}"


@pytest.fixture(scope="module")
def served(database: str | None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    demo = run_demo(tmp_path_factory.mktemp("pages") / "demo", database)
    assert (demo.home / "events.sqlite").exists() == (database is None)  # the store meant
    as_admin(demo, "roster", "grant", "ada.auditor", "auditor", "--reason", "quarterly audit")
    token = as_admin(demo, "roster", "token", "issue", "ada.auditor", "--scope", "read")
    port = free_port()
    # from the demo's folder: the session folders (and their metrics) are where the desk keeps them
    process = subprocess.Popen([*opsledger_command(), "serve", "--port", str(port)],
                               cwd=demo.folder, env=demo.env(), stderr=subprocess.PIPE, text=True)
    try:
        first = process.stderr.readline()
        assert first.startswith(f"opsledger: serving http://127.0.0.1:{port}/"), first
        yield Served(f"http://127.0.0.1:{port}", token, demo, "-postgres" if database else "")
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def visit(browser, served: Served, path: str, shot: str, status: int = 200) -> None:
    """Opens `path`; the page must log no error and ask for nothing from elsewhere
    (a page answered with an error `status` on purpose logs that status alone)."""
    requested_urls(browser)
    severe_console_entries(browser)
    browser.get(served.base + path)
    severe = severe_console_entries(browser)
    if status != 200:
        expected = f"{served.base}{path} - Failed to load resource: the server responded with a status of {status}"
        severe = [e for e in severe if not e["message"].startswith(expected)]
    assert severe == []
    urls = requested_urls(browser)
    assert urls and all(u.startswith(served.base + "/") for u in urls), urls
    saved = full_page_screenshot(browser, screenshot_dir() / f"{shot}{served.suffix}.png")
    print(f"screenshot: {saved}")


def texts(browser, css: str) -> list[str]:
    from selenium.webdriver.common.by import By

    return [e.text for e in browser.find_elements(By.CSS_SELECTOR, css)]


def attr(browser, css: str, name: str) -> list[str]:
    from selenium.webdriver.common.by import By

    return [e.get_attribute(name) for e in browser.find_elements(By.CSS_SELECTOR, css)]


def test_1_the_auditor_logs_in_with_the_keyboard(browser, served: Served):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    browser.delete_all_cookies()
    visit(browser, served, "/login", "login")
    field = browser.switch_to.active_element
    if field.get_attribute("id") != "token":  # the form's only field, reached by Tab
        browser.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
        field = browser.switch_to.active_element
        while field.get_attribute("id") != "token":
            field.send_keys(Keys.TAB)
            field = browser.switch_to.active_element
    field.send_keys(served.token + Keys.ENTER)
    WebDriverWait(browser, 15).until(lambda d: d.current_url == served.base + "/")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Change tickets"
    assert severe_console_entries(browser) == []


def test_2_the_ticket_list_shows_what_the_api_lists(browser, served: Served):
    visit(browser, served, "/", "tickets")
    rows = served.api("/tickets")
    assert attr(browser, "#tickets tbody tr", "data-ticket") == [r["ticket"] for r in rows]
    assert texts(browser, "#tickets [data-field=status]") == [r["status"] for r in rows]
    assert texts(browser, "#tickets [data-field=position]") == [str(r["position"]) for r in rows]


def test_3_the_ticket_page_shows_what_the_api_shows(browser, served: Served):
    from selenium.webdriver.common.by import By

    visit(browser, served, f"/tickets/{KEY}", "ticket")
    doc = served.api(f"/tickets/{KEY}")
    assert texts(browser, "dl.facts [data-field=status]") == [doc["status"]]
    assert texts(browser, "dl.facts [data-field=position]") == [str(doc["position"])]
    for row in browser.find_elements(By.CSS_SELECTOR, "#checks-table tbody tr"):
        check = row.get_attribute("data-check")
        shown = [e.text for e in row.find_elements(By.CSS_SELECTOR, "[data-field=sha256]")]
        assert shown == [e["sha256"] for e in doc["evidence"][check]], check
        signers = [e.text.split(" (")[0]
                   for e in row.find_elements(By.CSS_SELECTOR, "[data-field=signer]")]
        assert signers == [e["actor"] for e in doc["evidence"][check]], check
    assert len(attr(browser, "#checks-table tbody tr", "data-check")) == 7
    assert attr(browser, "#runs-table tbody tr", "data-run") == [c["run_id"]
                                                                for c in doc["commands"]]
    assert texts(browser, "#runs-table [data-field=exit_code]") == [
        str(c["exit_code"]) for c in doc["commands"]]
    assert texts(browser, "#runs-table [data-field=log_sha256]") == [
        c["log_sha256"] for c in doc["commands"]]
    assert texts(browser, "[data-field=archive_sha256]") == [
        a["archive_sha256"] for a in doc["archives"]]
    flags = served.api("/flags/live.enabled/history")["changes"]
    assert attr(browser, "#flag-table tbody tr", "data-position") == [
        str(c["position"]) for c in flags if c["ticket"] == KEY]
    incidents = served.api("/incidents", ticket=KEY)
    assert attr(browser, "#breaches-table tbody tr", "data-breach") == [
        b["breach_id"] for b in incidents]
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg.chart polyline.series")) == len(
        incidents)


def test_4_the_timeline_shows_every_event_and_its_signer(browser, served: Served):
    visit(browser, served, f"/tickets/{KEY}/timeline", "timeline")
    events = served.api(f"/tickets/{KEY}/timeline")["events"]
    assert attr(browser, "#timeline-table tbody tr", "data-position") == [
        str(e["position"]) for e in events]
    assert texts(browser, "#timeline-table [data-field=kind]") == [e["kind"] for e in events]
    signed = [t.startswith("signed") for t in texts(browser, "#timeline-table [data-field=signature]")]
    assert signed == [bool(e.get("signature")) for e in events]


def test_5_the_incidents_are_filtered_with_the_keyboard(browser, served: Served):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    visit(browser, served, "/incidents", "incidents")
    everything = served.api("/incidents")
    assert attr(browser, "#incidents-table tbody tr", "data-breach") == [
        b["breach_id"] for b in everything]
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg.chart")) == len(everything)
    # Tab into the form's severity list, choose "page" by typing, Enter submits
    ticket = browser.find_element(By.ID, "f-ticket")
    ticket.click()
    ticket.send_keys(KEY)
    focused = browser.switch_to.active_element
    while focused.get_attribute("id") != "f-severity":
        focused.send_keys(Keys.TAB)
        focused = browser.switch_to.active_element
    focused.send_keys("p")  # a closed <select> picks the first option starting so: "page"
    assert focused.get_attribute("value") == "page"
    focused.send_keys(Keys.TAB)  # since
    browser.switch_to.active_element.send_keys(Keys.ENTER)
    WebDriverWait(browser, 15).until(lambda d: "severity=page" in d.current_url)
    assert severe_console_entries(browser) == []
    full_page_screenshot(browser, screenshot_dir() / f"incidents-filtered{served.suffix}.png")
    paged = served.api("/incidents", severity="page", ticket=KEY)
    assert paged and len(paged) < len(everything)
    assert attr(browser, "#incidents-table tbody tr", "data-breach") == [
        b["breach_id"] for b in paged]
    assert set(texts(browser, "#incidents-table [data-field=severity]")) == {"page"}
    assert browser.find_element(By.ID, "f-severity").get_attribute("value") == "page"


def test_6_a_bad_time_in_the_filter_is_said_on_the_page(browser, served: Served):
    from selenium.webdriver.common.by import By

    visit(browser, served, "/incidents?since=yesterday", "incidents-invalid", status=422)
    assert "is not a time" in browser.find_element(By.CSS_SELECTOR, "[role=alert]").text


def test_screenshots_are_kept_for_review(served: Served):
    folder = screenshot_dir()
    print(f"screenshots in {folder}")
    assert os.path.isdir(folder)
