"""Two raters, each in two tabs, rating at once through the real server: nothing is lost,
each (rater, output) is one row, and each row holds that rater's last answer."""

from __future__ import annotations

import json
import threading
import urllib.request
from pathlib import Path

from radinpaint.review.app import token_for
from radinpaint.review.ratings import REASONS, read_ratings
from radinpaint.review.store import ReviewStore

SECRET = b"s" * 32


def _post(base: str, rater: str, body: dict) -> dict:
    request = urllib.request.Request(
        f"{base}/api/{rater}/rating",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "X-Review-Token": token_for(SECRET, rater)},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def test_two_raters_in_two_tabs_lose_nothing(results_dir: Path, tmp_path: Path, live_server):
    store = ReviewStore.open(results_dir, db=tmp_path / "ratings.sqlite")
    base = live_server(store, SECRET)
    hashes = [i.output_hash for i in store.items]
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def tab(rater: str, tab_no: int) -> None:
        try:
            barrier.wait(timeout=30)
            for round_no in range(3):
                for k, h in enumerate(hashes):
                    # tab 1 of each rater says "not acceptable" in its last round, so the
                    # last answer differs by output; both tabs rate every output each round
                    last = round_no == 2
                    ok = not (last and tab_no == 1 and k % 2 == 0)
                    body = {"output_hash": h, "acceptable": ok,
                            "reasons": [] if ok else [REASONS[k % len(REASONS)]],
                            "comment": f"{rater}-{tab_no}-{round_no}"}  # fmt: skip
                    saved = _post(base, rater, body)["saved"]
                    assert saved["hash"] == h
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=tab, args=(r, t)) for r in ("ann", "ben") for t in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    ratings = read_ratings(store.db_path)
    assert len(ratings) == 2 * len(hashes)
    assert {(r.rater, r.output_hash) for r in ratings} == {
        (rater, h) for rater in ("ann", "ben") for h in hashes
    }
    for r in ratings:
        assert r.created <= r.updated
        assert r.comment.startswith(f"{r.rater}-")
        # the row holds one whole answer from one tab, never a mix of two
        tab_no, round_no = map(int, r.comment.split("-")[1:])
        k = hashes.index(r.output_hash)
        expect_ok = not (round_no == 2 and tab_no == 1 and k % 2 == 0)
        assert r.acceptable is expect_ok
        assert r.reasons == (() if expect_ok else (REASONS[k % len(REASONS)],))
