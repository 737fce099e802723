"""Render docs/img/review-page.png: the review page on phantom outputs, in headless Chromium.

Usage::

    python benchmarks/review_screenshot.py [--out docs/img/review-page.png]

Runs a small evaluation on phantoms only (never real radiographs: their terms forbid
redistribution) with classical backends, serves the review page on 127.0.0.1, rates two
outputs with the keyboard, ticks two reasons on the third and takes the screenshot. Needs
the ``review`` extra, selenium, and Chromium with chromedriver on PATH.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    """Make the run, serve it, drive the page and save the screenshot."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "img" / "review-page.png")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=820)
    args = parser.parse_args()

    import waitress
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.support.ui import WebDriverWait

    from radinpaint.cli import main as cli
    from radinpaint.review.app import create_app
    from radinpaint.review.store import ReviewStore

    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        code = cli(["run", "--data", "phantom:6:384", "--inpainters",
                    "identity,telea,navier-stokes,blur", "--predictors", "phantom-ensemble",
                    "--variants", "1", "--n-resamples", "20", "--no-progress",
                    "--format", "csv,json", "--out", str(run)])  # fmt: skip
        if code != 0:
            raise SystemExit(code)
        store = ReviewStore.open(run)
        server = waitress.create_server(create_app(store), host="127.0.0.1", port=0)
        threading.Thread(target=server.run, daemon=True).start()
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        driver_path = shutil.which("chromedriver")
        if chromium is None or driver_path is None:
            raise SystemExit("needs chromium and chromedriver on PATH")
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--window-size={args.width},{args.height}"):  # fmt: skip
            options.add_argument(arg)
        driver = webdriver.Chrome(options=options, service=Service(driver_path))
        try:
            driver.set_window_size(args.width, args.height)
            driver.get(f"http://127.0.0.1:{server.effective_port}/rate/demo")
            wait = WebDriverWait(driver, 60)
            wait.until(lambda d: d.execute_script("return document.body.dataset.ready === '1'"))

            def rated(n: int) -> None:
                wait.until(
                    lambda d: d.execute_script(f"return document.body.dataset.rated === '{n}'")
                )

            ActionChains(driver).send_keys("a").perform()
            rated(1)
            ActionChains(driver).send_keys("1", "4", "r").perform()
            rated(2)
            ActionChains(driver).send_keys("2", "4").perform()
            comment = driver.find_element("id", "comment")
            comment.send_keys("faint seam along the lower edge of the mask")
            driver.execute_script("document.activeElement.blur();")
            wait.until(
                lambda d: d.execute_script(
                    "return Array.from(document.images).every(i => i.complete && i.naturalWidth)"
                )
            )
            args.out.parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(args.out))
        finally:
            driver.quit()
            server.close()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
