"""The auditor opens the archive's report from disk, offline: Chromium shows
it from file:// with no console error and asks for nothing but the file."""

from __future__ import annotations

from pathlib import Path

import pytest
from browserkit import full_page_screenshot, requested_urls, screenshot_dir, severe_console_entries
from demo_session import DemoSession, extract, run_demo
from opsledger.services.session_report import REPORT


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoSession:
    return run_demo(tmp_path_factory.mktemp("report-browser") / "demo")


def test_chromium_opens_the_report_from_a_file_with_no_errors_and_no_requests(
        browser, demo: DemoSession, tmp_path: Path):
    from selenium.webdriver.common.by import By

    report = extract(demo.archive, tmp_path) / REPORT
    requested_urls(browser)
    severe_console_entries(browser)  # both logs start empty for this page
    browser.get(report.as_uri())
    assert browser.title.startswith("Session report CHG-2041")
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith("Session report: CHG-2041")
    rows = browser.find_elements(By.CSS_SELECTOR, "#checks-table tbody tr")
    assert len(rows) == 7
    assert {r.find_element(By.CSS_SELECTOR, "[data-field=status]").text for r in rows} == {
        "complete"}
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg.chart polyline.series")) == 4
    shot = full_page_screenshot(browser, screenshot_dir() / "report.png")
    print(f"screenshot: {shot}")
    assert severe_console_entries(browser) == []
    urls = requested_urls(browser)
    assert urls and all(u.startswith("file://") for u in urls), urls
