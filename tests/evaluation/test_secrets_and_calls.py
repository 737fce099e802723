"""Secrets reach no record and no file; a refused API call is sent again alone, its
variants still together, and the manifest's money is what the service billed.

The fake OpenAI server keeps its own books (``generated``: every answered call's ``n`` and
``usage``), so the tests compare the evaluation's counts with what was really produced.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest

pytest.importorskip("openai")

from radinpaint import get_inpainter
from radinpaint.capabilities import Capabilities
from radinpaint.evaluation import Evaluation, LocalExecutor, get_preset
from radinpaint.evaluation.specs import BackendSpec
from radinpaint.hookspecs import hookimpl
from radinpaint.inpainters.base import PerImageInpainter
from radinpaint.inpainters.openai.pricing import cost_from_usage, price_for
from radinpaint.records import InpaintRequest, Mask

from ..inpainters.fake_openai_server import FakeOpenAI, _make_handler, serve

FAST = get_preset("recommended").with_resamples(30)
MODEL = "gpt-image-1.5"
PASSWORD = "hunter2"  # in URLs
API_KEY = "sk-hunter-api-key-97531"
LICENCE = "licence-hunter-86420"  # an option the backend declares secret
SECRETS = (PASSWORD, API_KEY, LICENCE)


# -- a local backend with secrets among its options ----------------------------------------


@attrs.define
class KeyedInpainter(PerImageInpainter):
    """Greys the masked pixels; returns whole images as they are (``compositing=None``)."""

    api_key: str | None = None
    endpoint: str = "https://example.invalid/v1"
    licence: str = ""

    name = "test-keyed"
    compositing = None

    def inpaint_one(self, request: InpaintRequest) -> np.ndarray:
        x = request.image.pixels
        return np.where(request.mask.array, 0.5, x).astype(np.float32)


@hookimpl
def radinpaint_register_inpainters(register):
    register(
        "test-keyed",
        KeyedInpainter,
        summary="test",
        capabilities=Capabilities(deterministic=True, secret_options={"licence"}),
    )


@pytest.fixture
def keyed():
    """Register ``test-keyed``."""
    import types

    from radinpaint import registry
    from radinpaint.plugins import get_plugin_manager

    module = types.ModuleType("radinpaint_keyed_backend")
    module.radinpaint_register_inpainters = radinpaint_register_inpainters  # type: ignore[attr-defined]
    get_plugin_manager().register(module, name="radinpaint_keyed_backend")
    registry._clear_cache()


# -- fake servers ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def api() -> Iterator[FakeOpenAI]:
    with serve(FakeOpenAI()) as state:
        yield state


@pytest.fixture
def server(api: FakeOpenAI) -> Iterator[FakeOpenAI]:
    api.reset()
    yield api
    api.reset()


def _serve_any_edit_path() -> tuple[FakeOpenAI, ThreadingHTTPServer]:
    """The fake server, taking any path that ends in ``images/edits`` as the edit route.

    The SDK appends its route after a base URL's query string
    (``/v1/?api_key=...images/edits``); this server answers it anyway, so that a base URL
    carrying a key as a query parameter can be followed through a whole run.
    """
    state = FakeOpenAI()

    class Handler(_make_handler(state)):  # type: ignore[misc, valid-type]
        def do_POST(self) -> None:
            if self.path.endswith("images/edits"):
                self.path = "/v1/images/edits"
            super().do_POST()

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    state.base_url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    return state, httpd


@pytest.fixture(params=["userinfo", "query"])
def secret_url(request, server) -> Iterator[tuple[FakeOpenAI, str]]:
    """A fake server and a base URL for it with a password in it."""
    if request.param == "userinfo":
        yield server, server.base_url.replace("http://", f"http://user:{PASSWORD}@")
        return
    state, httpd = _serve_any_edit_path()
    try:
        yield state, f"{state.base_url}?api_key={PASSWORD}"
    finally:
        httpd.shutdown()
        httpd.server_close()


# -- helpers ---------------------------------------------------------------------------------


def _files_with_secrets(*roots: Path) -> list[str]:
    found = []
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                found += [f"{path} holds {s!r}" for s in SECRETS if s.encode() in data]
    return found


def _no_secret_in(value: Any) -> None:
    text = json.dumps(value, default=str)
    assert not [s for s in SECRETS if s in text], text[:2000]


def _with_empty_mask(case):
    return attrs.evolve(case, id=f"{case.id}-blank", artifact_mask=Mask.empty(case.image.shape))


def _openai(base_url: str, **options: Any) -> BackendSpec:
    return BackendSpec(
        "openai",
        {
            "base_url": base_url,
            "api_key": API_KEY,
            "allow_external_upload": True,
            "size": "256x256",
            "timeout": 10.0,
            "max_retries": 1,
            **options,
        },
        label="openai",
    )


def _evaluation(data, inpainters, tmp_path: Path, **kw: Any) -> Evaluation:
    kw.setdefault("variants", 2)
    return Evaluation(
        data,
        inpainters=inpainters,
        predictors=["test-mean"],
        preset=FAST,
        cache_dir=tmp_path / "cache",
        executor=LocalExecutor(4),
        pixel_detail_cases=0,
        progress=False,
        **kw,
    )


def _server_usd(state: FakeOpenAI) -> float:
    price = price_for(MODEL)
    return sum(cost_from_usage(price, g["usage"]) for g in state.generated)


def _settled(state: FakeOpenAI) -> None:
    """Wait until the server has finished every request (abandoned ones included)."""
    deadline = time.monotonic() + 15
    while state.in_flight and time.monotonic() < deadline:
        time.sleep(0.05)
    assert state.in_flight == 0


# -- secrets -----------------------------------------------------------------------------------


def test_no_secret_reaches_a_result_the_manifest_the_cache_or_a_file(
    secret_url, test_plugin, keyed, phantoms, tmp_path
):
    state, base_url = secret_url
    data = [*phantoms[:2], _with_empty_mask(phantoms[2])]
    keyed_spec = BackendSpec(
        "test-keyed",
        {"api_key": API_KEY, "endpoint": f"https://user:{PASSWORD}@example.invalid/v1"},
        label="keyed",
    )
    inpainters = [_openai(base_url), keyed_spec]

    first = _evaluation(data, inpainters, tmp_path).run()
    assert state.edit_count == 2  # the two cases with artifacts, both variants in one call
    ok = first.table[first.table["view"] == "total"]
    assert ok["error"].isna().all(), ok["error"].dropna().unique()
    blank = ok[ok["case_id"] == data[2].id]
    assert (blank["inpaint_flags"] == "empty-mask").all()
    first.write(tmp_path / "report")
    _no_secret_in(first.manifest)
    openai_record = first.manifest["backends"]["inpainters"][0]
    assert "127.0.0.1" in openai_record["options"]["base_url"]  # kept, without the password

    # a rerun is served from the cache and writes no secret either
    again = _evaluation(data, inpainters, tmp_path).run()
    assert state.edit_count == 2
    assert again.manifest["counts"]["inpaint_computed"] == 0
    again.write(tmp_path / "report-again")
    _no_secret_in(again.manifest)

    assert _files_with_secrets(tmp_path) == []

    # the results themselves: the unchanged (empty mask) and compositing=None paths too
    image = phantoms[0].image
    mask = phantoms[0].artifact_mask
    blank_request = InpaintRequest(image, Mask.empty(image.shape), seed=1, case_id="blank")
    request = InpaintRequest(image, mask, seed=1, case_id="c")
    backend = get_inpainter("openai", **dict(inpainters[0].options))
    (unchanged,) = backend.inpaint([blank_request])
    assert unchanged.flags == ("empty-mask",)
    _no_secret_in(unchanged.options)
    _no_secret_in(unchanged.to_record())
    assert "127.0.0.1" in unchanged.options["base_url"]
    results = get_inpainter("test-keyed", **dict(keyed_spec.options)).inpaint(
        [request, blank_request]
    )
    assert [r.compositing for r in results] == [None, None]
    assert results[1].flags == ("empty-mask",)
    for r in results:
        _no_secret_in(r.to_record())
        assert "example.invalid" in r.options["endpoint"]


def test_a_refused_upload_names_no_secret(secret_url, test_plugin, phantoms, tmp_path):
    """Without the upload opt-in nothing is sent; the error saying so holds no secret."""
    state, base_url = secret_url
    spec = _openai(base_url, allow_external_upload=False)
    result = _evaluation(phantoms[:2], [spec], tmp_path).run()
    assert state.edit_count == 0
    assert result.manifest["counts"]["inpaint_failed"] == 4
    assert "outside service" in result.failures["error"].iloc[0]
    result.write(tmp_path / "report")
    _no_secret_in(result.failures.to_dict("records"))
    _no_secret_in(result.manifest)
    assert _files_with_secrets(tmp_path) == []


def test_an_option_declared_secret_reaches_no_cache_file(test_plugin, keyed, phantoms, tmp_path):
    spec = BackendSpec("test-keyed", {"licence": LICENCE}, label="keyed")
    result = _evaluation(phantoms[:2], [spec], tmp_path).run()
    assert result.manifest["counts"]["inpaint_computed"] == 2
    result.write(tmp_path / "report")
    _no_secret_in(result.manifest)
    assert _files_with_secrets(tmp_path) == []


# -- calls, retries and money ------------------------------------------------------------------


@pytest.mark.parametrize("preset", ["recommended", "study"])
@pytest.mark.parametrize("fault", ["500-until-retries-run-out", "400-once"])
def test_a_refused_call_is_sent_again_alone_with_its_variants(
    server, test_plugin, phantoms, tmp_path, preset, fault
):
    if fault == "400-once":
        server.fail_next(400, code="invalid_request")
    else:
        server.fail_next(500)  # max_retries=1: two attempts, both refused
        server.fail_next(500)
    # one call at a time, so the first call is the one refused
    spec = _openai(server.base_url, preset=preset, model=MODEL, n=2, max_concurrency=1)
    result = _evaluation(phantoms[:2], [spec], tmp_path).run()
    counts = result.manifest["counts"]

    assert counts["inpaint_computed"] == 4 and counts["inpaint_failed"] == 0
    assert result.table["error"].isna().all(), result.table["error"].dropna().unique()
    # the service generated exactly the four images kept: nothing delivered was sent again
    assert server.images_generated == 4
    assert len(server.generated) == 2
    assert len({g["request"] for g in server.generated}) == 2
    # every call, refused ones included, carried the case's two variants
    assert {g["n"] for g in server.generated} == {2}
    assert {e.fields["n"] for e in server.edits} == {"2"}
    assert server.edit_count == (3 if fault == "400-once" else 4)
    # money: what the service billed, from its own usage blocks
    assert counts["images_paid"] == 4
    assert counts["cost_usd_billed_failures"] == 0
    assert counts["cost_usd_spent"] == pytest.approx(_server_usd(server), abs=1e-5)
    assert counts["cost_usd_spent"] > 0


def test_a_billed_timeout_is_counted(server, test_plugin, phantoms, tmp_path):
    server.delays.append(3.0)  # the first request outlives the client's timeout
    spec = _openai(server.base_url, n=2, max_concurrency=1, timeout=1.0, max_retries=2)
    result = _evaluation(phantoms[:2], [spec], tmp_path).run()
    _settled(server)
    counts = result.manifest["counts"]

    assert counts["inpaint_computed"] == 4 and counts["inpaint_failed"] == 0
    assert server.abandoned == 1  # the timed-out request generated nothing here...
    assert server.images_generated == 4
    # ...but a real service may have billed it: its two images are counted as paid
    assert counts["cost_usd_billed_failures"] > 0
    assert counts["images_paid"] == server.images_generated + 2
    delivered = counts["cost_usd_spent"] - counts["cost_usd_billed_failures"]
    assert delivered == pytest.approx(_server_usd(server), abs=1e-5)
