"""The review page's server side, through Flask's test client (no browser): blinding, the
rater's order, ratings stored one per rater and output, export, and every bad input refused
with a clear message and nothing written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("flask", reason="the review page needs flask (the test extra has it)")

from radinpaint.cli import main
from radinpaint.errors import InvalidInputError
from radinpaint.review.app import MAX_BODY, create_app, token_for
from radinpaint.review.ratings import REASONS, read_ratings
from radinpaint.review.store import ReviewStore

SECRET = b"k" * 32
BACKENDS = ("identity", "telea", "blur")


@pytest.fixture
def store(results_dir: Path, tmp_path: Path) -> ReviewStore:
    return ReviewStore.open(results_dir, db=tmp_path / "ratings.sqlite")


@pytest.fixture
def client(store: ReviewStore):
    app = create_app(store, secret=SECRET)
    app.testing = True
    return app.test_client()


def post(client, rater: str, body: object, token: str | None = "auto", **kw):
    headers = {}
    if token == "auto":
        token = token_for(SECRET, rater)
    if token is not None:
        headers["X-Review-Token"] = token
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post(f"/api/{rater}/rating", data=data, headers=headers,
                       content_type=kw.get("content_type", "application/json"))  # fmt: skip


def test_store_lists_every_distinct_output(store: ReviewStore) -> None:
    # 3 cases x 3 deterministic backends: each backend's variants are one output
    assert len(store.items) == 9
    assert {i.backend for i in store.items} == set(BACKENDS)
    assert all(i.variant == 0 for i in store.items)
    item = store.items[0]
    assert store.output(item.output_hash).content_hash() == item.output_hash
    case, mask = store.case_and_mask(item.case_id)
    assert case.id == item.case_id and mask.shape == case.image.shape[:2]


def test_page_is_blinded(client, store: ReviewStore) -> None:
    page = client.get("/rate/jd")
    assert page.status_code == 200
    items = client.get("/api/jd/items")
    assert items.status_code == 200
    text = page.get_data(as_text=True) + items.get_data(as_text=True)
    for name in (*BACKENDS, *(i.case_id for i in store.items)):
        assert name not in text
    listed = [e["hash"] for e in items.get_json()["items"]]
    assert sorted(listed) == sorted(store.by_hash)


def test_start_page_asks_for_a_rater_or_opens_the_given_one(store: ReviewStore) -> None:
    asks = create_app(store, secret=SECRET).test_client()
    start = asks.get("/")
    assert start.status_code == 200 and 'name="rater"' in start.get_data(as_text=True)
    chosen = asks.get("/?rater=jd")
    assert chosen.status_code == 302 and chosen.headers["Location"].endswith("/rate/jd")
    assert asks.get("/?rater=..%2F").status_code == 400
    fixed = create_app(store, rater="ann", secret=SECRET).test_client().get("/")
    assert fixed.status_code == 302 and fixed.headers["Location"].endswith("/rate/ann")
    page = asks.get("/rate/jd").get_data(as_text=True)
    assert token_for(SECRET, "jd") in page
    with pytest.raises(InvalidInputError, match="bad rater id"):
        create_app(store, rater="a b")


def test_a_local_server_answers_only_local_host_names(store: ReviewStore) -> None:
    from radinpaint.review.app import LOOPBACK_HOSTS

    app = create_app(store, secret=SECRET, trusted_hosts=LOOPBACK_HOSTS)
    client = app.test_client()
    assert client.get("/rate/jd", headers={"Host": "127.0.0.1:8765"}).status_code == 200
    assert client.get("/rate/jd", headers={"Host": "localhost"}).status_code == 200
    foreign = client.get("/api/jd/items", headers={"Host": "rebound.example:8765"})
    assert foreign.status_code == 400
    h = store.items[0].output_hash
    body = json.dumps({"output_hash": h, "acceptable": True})
    refused = client.post("/api/jd/rating", data=body, content_type="application/json",
                          headers={"Host": "rebound.example", "X-Review-Token":
                                   token_for(SECRET, "jd")})  # fmt: skip
    assert refused.status_code == 400
    assert read_ratings(store.db_path) == []


def test_each_rater_has_a_stable_shuffled_order(client) -> None:
    a1 = [e["hash"] for e in client.get("/api/alice/items").get_json()["items"]]
    a2 = [e["hash"] for e in client.get("/api/alice/items").get_json()["items"]]
    b = [e["hash"] for e in client.get("/api/bob/items").get_json()["items"]]
    assert a1 == a2
    assert sorted(a1) == sorted(b) and a1 != b


def test_rating_is_stored_then_updated_in_place(client, store: ReviewStore) -> None:
    h = client.get("/api/jd/items").get_json()["items"][0]["hash"]
    body = {"output_hash": h, "acceptable": False, "reasons": ["texture", "ghost-marker"]}
    r1 = post(client, "jd", body | {"comment": "halo"})
    assert r1.status_code == 200, r1.get_data(as_text=True)
    assert r1.get_json()["rated"] == 1
    first = read_ratings(store.db_path)
    assert len(first) == 1
    got = first[0]
    item = store.by_hash[h]
    assert (got.rater, got.output_hash, got.case_id, got.backend, got.inpainter) == (
        "jd", h, item.case_id, item.backend, item.inpainter)  # fmt: skip
    assert got.acceptable is False and got.reasons == ("ghost-marker", "texture")
    assert got.comment == "halo"
    r2 = post(client, "jd", {"output_hash": h, "acceptable": True, "reasons": []})
    assert r2.status_code == 200
    again = read_ratings(store.db_path)
    assert len(again) == 1
    assert again[0].acceptable is True and again[0].reasons == ()
    assert again[0].created == got.created and again[0].updated > got.updated
    listed = client.get("/api/jd/items").get_json()
    assert listed["rated"] == 1 and listed["resume"] == 1  # resumes at the first unrated


@pytest.mark.parametrize(
    ("body", "token", "status", "message"),
    [
        ({"output_hash": "HASH", "acceptable": True}, None, 403, "missing review token"),
        ({"output_hash": "HASH", "acceptable": True}, "f" * 64, 403, "bad review token"),
        ({"output_hash": "HASH", "acceptable": True}, "other-rater", 403, "bad review token"),
        ({"output_hash": "0" * 64, "acceptable": True}, "auto", 404, "no output"),
        ({"output_hash": "HASH", "acceptable": False, "reasons": ["blurry"]}, "auto", 400,
         "unknown reason"),
        ({"output_hash": "HASH", "acceptable": "yes"}, "auto", 400, "'acceptable'"),
        ({"output_hash": "HASH", "acceptable": True, "rater": "x"}, "auto", 400,
         "unknown field"),
        ({"output_hash": "HASH", "acceptable": True, "comment": "x" * 2001}, "auto", 400,
         "'comment'"),
        ({"output_hash": "HASH", "acceptable": True, "comment": "x" * MAX_BODY}, "auto", 413,
         "too large"),
        (b"not json", "auto", 400, "JSON object"),
        ([1, 2], "auto", 400, "JSON object"),
    ],
)  # fmt: skip
def test_tampered_requests_are_refused_and_nothing_is_written(
    client, store: ReviewStore, body, token, status, message
) -> None:
    h = store.items[0].output_hash
    if isinstance(body, dict):
        body = {k: (h if v == "HASH" else v) for k, v in body.items()}
    if token == "other-rater":
        token = token_for(SECRET, "someone-else")
    answer = post(client, "jd", body, token=token)
    assert answer.status_code == status
    assert message in answer.get_json()["error"]
    assert read_ratings(store.db_path) == []


def test_bad_rater_id_and_unknown_image_are_refused(client, store: ReviewStore) -> None:
    assert client.get("/rate/..%2Fetc").status_code in (400, 404)
    bad = client.get("/api/a%20b/items")
    assert bad.status_code == 400 and "bad rater id" in bad.get_json()["error"]
    assert client.get(f"/img/{'0' * 64}/output.png").status_code == 404
    h = store.items[0].output_hash
    assert client.get(f"/img/{h}/secret.png").status_code == 404
    for kind in ("output", "original", "outline"):
        png = client.get(f"/img/{h}/{kind}.png")
        assert png.status_code == 200 and png.data[:8] == b"\x89PNG\r\n\x1a\n"


def test_unknown_results_dir_is_a_clear_error(tmp_path: Path, capsys) -> None:
    with pytest.raises(InvalidInputError, match="no such results folder"):
        ReviewStore.open(tmp_path / "nowhere")
    with pytest.raises(InvalidInputError, match=r"has no manifest\.json"):
        ReviewStore.open(tmp_path)
    assert main(["review", str(tmp_path / "nowhere")]) == 2
    assert "no such results folder" in capsys.readouterr().err


def test_output_missing_from_cache_is_a_clear_error(results_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "run"
    shutil.copytree(results_dir, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["evaluation"]["cache_dir"] = str(copy / "cache")
    (copy / "manifest.json").write_text(json.dumps(manifest))
    entry = next((copy / "cache" / "inpaint").glob("??/*.json"))
    entry.unlink()
    with pytest.raises(
        InvalidInputError, match=r"1 output\(s\) of the run are missing from the cache"
    ):
        ReviewStore.open(copy, db=tmp_path / "r.sqlite")
    assert not (tmp_path / "r.sqlite").exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [("phantom:3:96", "image differs from the one the run used"),
     ("phantom:2:128", r"1 case\(s\) of the run are not in the dataset")],
)  # fmt: skip
def test_wrong_dataset_is_refused(results_dir: Path, tmp_path: Path, data, message) -> None:
    with pytest.raises(InvalidInputError, match=message):
        ReviewStore.open(results_dir, data=data, db=tmp_path / "r.sqlite")


def test_export_writes_every_rating(client, store: ReviewStore, tmp_path: Path, capsys) -> None:
    for item, ok in zip(store.items[:3], (True, False, True), strict=True):
        reasons = [] if ok else [REASONS[3], REASONS[4]]
        body = {"output_hash": item.output_hash, "acceptable": ok, "reasons": reasons,
                "comment": 'a "quoted", comma'}  # fmt: skip
        assert post(client, "jd", body).status_code == 200
    out = tmp_path / "export" / "ratings.csv"
    code = main(["review", str(store.results_dir), "--db", str(store.db_path),
                 "--export", str(out)])  # fmt: skip
    assert code == 0
    assert "3 rating(s) written" in capsys.readouterr().out
    assert read_ratings(out) == read_ratings(store.db_path)
    assert len(read_ratings(out)) == 3


def test_export_without_ratings_is_a_clear_error(results_dir: Path, tmp_path: Path, capsys):
    code = main(["review", str(results_dir), "--db", str(tmp_path / "none.sqlite"),
                 "--export", str(tmp_path / "x.csv")])  # fmt: skip
    assert code == 2
    assert "no ratings file here" in capsys.readouterr().err


def test_cli_serves_the_page_on_localhost(results_dir: Path, tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "radinpaint", "review", str(results_dir), "--rater", "jd",
           "--port", str(port), "--db", str(tmp_path / "r.sqlite")]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        page = None
        for _ in range(240):
            if proc.poll() is not None:
                break
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as answer:
                    page = (answer.geturl(), answer.read().decode())
                break
            except OSError:
                time.sleep(0.5)
        assert page is not None, proc.communicate()[0] if proc.poll() is not None else "no page"
        assert page[0].endswith("/rate/jd")
        assert 'name="review-token"' in page[1]
    finally:
        proc.terminate()
        out = proc.communicate(timeout=30)[0]
    assert f"open http://127.0.0.1:{port}/" in out
    assert "reviewing 9 output(s)" in out


class _Noise:
    """Seed-dependent: fills the mask with the request's own noise (a new output per
    variant, as a generative backend gives)."""

    name = "noise"

    def inpaint(self, requests):
        import numpy as np

        from radinpaint.records import InpaintResult, Radiograph

        out = []
        for r in requests:
            rng = np.random.default_rng(r.variant_seed)
            x = r.image.pixels
            y = np.where(r.mask.array, rng.uniform(0, 1, x.shape), x).astype(np.float32)
            out.append(
                InpaintResult(
                    Radiograph(y, r.image.bit_depth),
                    backend=self.name,
                    options={},
                    seed=r.variant_seed,
                    prompt=r.prompt,
                    variant=r.variant,
                    case_id=r.case_id,
                )
            )
        return out


def test_each_variant_of_a_seed_dependent_backend_is_an_item(tmp_path: Path) -> None:
    from radinpaint.datasets import PhantomDataset
    from radinpaint.evaluation import Evaluation, get_preset

    ev = Evaluation(
        PhantomDataset(2, size=96),
        inpainters=[_Noise(), "telea"],
        predictors=["phantom-ensemble"],
        variants=3,
        preset=get_preset("recommended").with_resamples(20),
        progress=False,
        cache_dir=tmp_path / "run" / "cache",
    )
    ev.run().write(tmp_path / "run", formats=("csv", "json"))
    with pytest.raises(InvalidInputError, match="cannot be rebuilt from the manifest"):
        ReviewStore.open(tmp_path / "run")  # the originals: only the dataset has them
    store = ReviewStore.open(tmp_path / "run", data="phantom:2:96")
    noise = [i for i in store.items if i.backend == "noise"]
    telea = [i for i in store.items if i.backend == "telea"]
    assert sorted((i.case_id, i.variant) for i in noise) == sorted(
        (c, v) for c in {i.case_id for i in telea} for v in range(3)
    )
    assert [i.variant for i in telea] == [0, 0]
    for item in noise:
        assert store.output(item.output_hash).content_hash() == item.output_hash
