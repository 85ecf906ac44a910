"""Debian's Chromium driven by Selenium, headless and offline, for the page tests.

Chromium is started with every background-networking feature off and a
fresh profile, so the only requests it makes are the pages' own; the
performance log records each of them for the tests to check. Missing
chromium or chromedriver skips the browser tests, except under CI=true,
where it fails them (as PostgreSQL and RGW do).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

CHROMIUM = ("/usr/bin/chromium", "chromium", "chromium-browser")
CHROMEDRIVER = ("/usr/bin/chromedriver", "chromedriver")
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", "--window-size=1366,900")
ROOT = Path(__file__).resolve().parents[1]


def _which(names: tuple[str, ...]) -> str | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


def require_browser() -> tuple[str, str]:
    browser, driver = _which(CHROMIUM), _which(CHROMEDRIVER)
    problem = None
    if browser is None or driver is None:
        problem = "chromium and chromium-driver (Debian packages) are not installed"
    else:
        try:
            import selenium  # noqa: F401
        except ImportError:
            problem = "selenium is not installed (the test extra)"
    if problem is None:
        return browser, driver
    if os.environ.get("CI") == "true":
        pytest.fail(f"the browser tests need Chromium under CI=true: {problem}")
    pytest.skip(problem)


def screenshot_dir() -> Path:
    """Kept after the run for a person to look at: $OPSLEDGER_SCREENSHOTS, else
    tests/.artifacts/screenshots (ignored by git)."""
    folder = Path(os.environ.get("OPSLEDGER_SCREENSHOTS") or ROOT / "tests/.artifacts/screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def start_driver():
    browser, driver_path = require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="opsledger-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    driver.set_page_load_timeout(30)
    return driver, profile


def severe_console_entries(driver) -> list[dict]:
    return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def requested_urls(driver) -> list[str]:
    """Every URL the browser asked for since the last call (performance log)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def full_page_screenshot(driver, path: Path) -> Path:
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1366, min(max(int(height) + 40, 600), 8000))
    driver.save_screenshot(str(path))
    driver.set_window_size(1366, 900)
    return path
