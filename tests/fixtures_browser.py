"""One headless Chromium for the whole browser test session (tests/browser/)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from browserkit import start_driver


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    driver, profile = start_driver()
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
