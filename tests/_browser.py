"""Headless Chromium through selenium for the tests that look at a page in a real browser.

The test that asks for one is skipped, with the reason, when selenium, Chromium or
chromedriver is missing (``.ci/run`` installs Debian's chromium and chromium-driver).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from typing import Any

import pytest

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
"""The Chromium executables looked for on PATH, in this order."""


def headless_chromium(width: int = 1280, height: int = 900, extra: Sequence[str] = ()) -> Any:
    """A headless Chromium ``webdriver.Chrome`` with a ``width`` x ``height`` window (the
    caller quits it); ``extra``: more Chromium arguments. Skips the test when selenium,
    Chromium or chromedriver is missing."""
    pytest.importorskip("selenium", reason="selenium is not installed (the test extra has it)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium = next((p for p in map(shutil.which, BROWSERS) if p), None)
    driver_path = shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        pytest.skip(
            "headless Chromium needs chromium and chromedriver on PATH "
            "(Debian: apt-get install chromium chromium-driver)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={width},{height}", *extra):  # fmt: skip
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    driver.set_window_size(width, height)
    return driver
