"""The review page in a real browser (headless Chromium through selenium): a rater rates
with the keyboard and with the mouse, the ratings land in SQLite, a reload resumes at the
first unrated output, and two browser sessions of two raters at once lose nothing.

Skipped, with the reason, when selenium, Chromium or chromedriver is missing (``.ci/run``
installs Debian's chromium and chromium-driver).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from radinpaint.review.ratings import REASONS, read_ratings
from radinpaint.review.store import ReviewStore

from .._browser import headless_chromium

BACKENDS = ("identity", "telea", "blur")

pytestmark = pytest.mark.slow  # a browser per test


@pytest.fixture
def browser():
    driver = headless_chromium()
    yield driver
    driver.quit()


@pytest.fixture
def store(results_dir: Path, tmp_path: Path) -> ReviewStore:
    return ReviewStore.open(results_dir, db=tmp_path / "ratings.sqlite")


def _wait(driver, script: str, timeout: float = 30):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(lambda d: d.execute_script(script))


def _open(driver, url: str) -> None:
    driver.get(url)
    _wait(driver, "return document.body.dataset.ready === '1'")
    _wait(driver, "return document.getElementById('output').complete && "
                  "document.getElementById('output').naturalWidth > 0")  # fmt: skip


def _state(driver) -> dict:
    return driver.execute_script(
        "const b = document.body.dataset; return {hash: b.hash, index: Number(b.index), "
        "rated: Number(b.rated), status: document.getElementById('status').textContent};"
    )


def _keys(driver, *keys: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    driver.execute_script("if (document.activeElement) document.activeElement.blur();")
    chain = ActionChains(driver)
    for key in keys:
        chain.send_keys(key)
    chain.perform()


def _wait_rated(driver, n: int) -> None:
    _wait(driver, f"return Number(document.body.dataset.rated) === {n}")


def test_keyboard_rating_lands_in_sqlite(browser, store: ReviewStore, live_server) -> None:
    from selenium.webdriver.common.keys import Keys

    base = live_server(store)
    _open(browser, f"{base}/rate/kb")
    page = browser.find_element("tag name", "body").text
    assert "of 9" in page
    for name in (*BACKENDS, *(i.case_id for i in store.items)):
        assert name not in browser.page_source  # blinded
    first = _state(browser)
    assert first["index"] == 0 and first["rated"] == 0
    _keys(browser, "1", "3", "r")  # ghost marker + anatomy changed, not acceptable
    _wait_rated(browser, 1)
    second = _state(browser)
    assert second["index"] == 1 and second["hash"] != first["hash"]
    _keys(browser, "a")
    _wait_rated(browser, 2)
    _keys(browser, "k", "k")  # back to the first: its rating is shown
    assert _state(browser)["hash"] == first["hash"]
    checked = browser.execute_script(
        "return Array.from(document.querySelectorAll('input[name=reason]:checked'))"
        ".map(b => b.value)"
    )
    assert checked == [REASONS[0], REASONS[2]]
    assert "not acceptable" in browser.find_element("id", "verdict").text
    _keys(browser, Keys.ARROW_RIGHT, Keys.ARROW_RIGHT, "j")
    assert _state(browser)["index"] == 3
    rows = {r.output_hash: r for r in read_ratings(store.db_path)}
    assert set(rows) == {first["hash"], second["hash"]}
    r1, r2 = rows[first["hash"]], rows[second["hash"]]
    assert (r1.rater, r1.acceptable, r1.reasons) == ("kb", False, (REASONS[0], REASONS[2]))
    assert (r2.rater, r2.acceptable, r2.reasons) == ("kb", True, ())
    assert r1.backend == store.by_hash[r1.output_hash].backend


def test_mouse_rating_and_reload_resumes(browser, store: ReviewStore, live_server) -> None:
    base = live_server(store)
    _open(browser, f"{base}/rate/mouse")
    first = _state(browser)
    browser.find_element("css selector", "label:has(#reason-texture)").click()
    browser.find_element("id", "reason-border-artifact").click()
    comment = browser.find_element("id", "comment")
    comment.click()
    comment.send_keys("seam at the bottom edge; a r 1")  # typing is not a shortcut
    browser.find_element("id", "reject").click()
    _wait_rated(browser, 1)
    browser.find_element("id", "accept").click()
    _wait_rated(browser, 2)
    browser.find_element("id", "prev").click()
    browser.find_element("id", "prev").click()
    assert _state(browser)["hash"] == first["hash"]
    # the page reloaded resumes at the first unrated output
    _open(browser, f"{base}/rate/mouse")
    resumed = _state(browser)
    assert resumed["rated"] == 2 and resumed["index"] == 2
    assert "2 of 9 rated" in browser.find_element("id", "progress-text").text
    rows = {r.output_hash: r for r in read_ratings(store.db_path)}
    assert len(rows) == 2
    got = rows[first["hash"]]
    assert got.acceptable is False
    assert got.reasons == ("texture", "border-artifact")
    assert got.comment == "seam at the bottom edge; a r 1"


def test_forged_token_shows_the_error_and_writes_nothing(
    browser, store: ReviewStore, live_server
) -> None:
    base = live_server(store)
    _open(browser, f"{base}/rate/eve")
    browser.execute_script(  # forge the token the page sends
        "const f = window.fetch; window.fetch = (u, o) => { if (o && o.headers) "
        "o.headers['X-Review-Token'] = 'f'.repeat(64); return f(u, o); };"
    )
    _keys(browser, "a")
    _wait(browser, "return document.getElementById('status').textContent.includes('not saved')")
    assert "bad review token" in _state(browser)["status"]
    assert _state(browser)["rated"] == 0
    assert read_ratings(store.db_path) == []


def test_two_raters_in_two_browsers_at_once(store: ReviewStore, live_server) -> None:
    base = live_server(store)
    one, two = headless_chromium(), headless_chromium()
    try:
        _open(one, f"{base}/rate/ann")
        _open(two, f"{base}/rate/ben")
        for _ in range(len(store.items)):
            # both press their key before either waits: the saves overlap
            _keys(one, "a")
            _keys(two, "2", "r")
            done_one = _state(one)["rated"]
            done_two = _state(two)["rated"]
            _wait(one, f"return Number(document.body.dataset.rated) >= {done_one}")
            _wait(two, f"return Number(document.body.dataset.rated) >= {done_two}")
            _wait(one, "return !document.getElementById('status').textContent.startsWith('sav"
                       "ing')")  # fmt: skip
            _wait(two, "return !document.getElementById('status').textContent.startsWith('sav"
                       "ing')")  # fmt: skip
        _wait_rated(one, len(store.items))
        _wait_rated(two, len(store.items))
        assert "all 9 outputs rated" in _state(one)["status"]
    finally:
        one.quit()
        two.quit()
    ratings = read_ratings(store.db_path)
    assert len(ratings) == 2 * len(store.items)
    for r in ratings:
        if r.rater == "ann":
            assert r.acceptable is True and r.reasons == ()
        else:
            assert r.rater == "ben" and r.acceptable is False and r.reasons == (REASONS[1],)
    assert {r.output_hash for r in ratings if r.rater == "ben"} == set(store.by_hash)
