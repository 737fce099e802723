"""The openai inpainter when an answer is incomplete or broken, and when it cannot start.

An in-process fake client stands in for the API: it can answer a call with fewer images
than asked for, or with an image that does not decode. What came back is kept, only the
requests left without a usable image fail (retryable), and the spend ledger books the
shortfall as paid but not delivered. Errors that mean every further call would fail too (no
API key, rejected credentials) are fatal; an unexpected error in one call is not.
"""

from __future__ import annotations

import base64
import io
import types

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("openai")

from radinpaint import InpaintRequest, get_inpainter
from radinpaint.errors import BackendError, BudgetExceededError
from radinpaint.errors import is_fatal as _fatal
from radinpaint.inpainters.openai.client import map_api_error
from radinpaint.inpainters.ratelimit import Budget
from radinpaint.ledger import SpendLedger
from radinpaint.records import InpaintFailure, InpaintResult

from ._helpers import box_mask, radiograph


def _png(h: int, w: int) -> str:
    buf = io.BytesIO()
    Image.fromarray(np.full((h, w, 3), 128, np.uint8)).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


class FakeImages:
    """``client.images``: answers ``edit`` with ``n`` grey PNGs, or as scripted."""

    def __init__(self, *, short_first: int = 0, bad_first: bool = False) -> None:
        self.calls: list[int] = []
        self.short_first = short_first  # images left out of the first answer
        self.bad_first = bad_first  # the first answer's last image does not decode

    def edit(self, **kw):
        n = kw["n"]
        w, h = (int(v) for v in kw["size"].split("x"))
        first = not self.calls
        self.calls.append(n)
        give = n - self.short_first if first else n
        data = [types.SimpleNamespace(b64_json=_png(h, w)) for _ in range(give)]
        if first and self.bad_first:
            data[-1] = types.SimpleNamespace(b64_json=base64.b64encode(b"not a png").decode())
        usage = types.SimpleNamespace(
            input_tokens=100,
            output_tokens=1000,
            input_tokens_details=None,
            output_tokens_details=None,
            total_tokens=1100,
        )
        return types.SimpleNamespace(data=data, usage=usage)


def _backend(images: FakeImages, **options):
    b = get_inpainter(
        "openai",
        api_key="sk-test",
        allow_external_upload=True,
        n=3,
        size="256x256",
        max_concurrency=1,
        **options,
    )
    b._client = types.SimpleNamespace(images=images)
    return b


def _requests(cases: int = 1, k: int = 3) -> list[InpaintRequest]:
    out = []
    for c in range(cases):
        image = radiograph((64, 64), 16, seed=c)
        mask = box_mask(image.shape, (10, 20, 10, 30))
        out += [InpaintRequest(image, mask, seed=1, variant=v, case_id=f"c{c}") for v in range(k)]
    return out


def test_a_short_answer_keeps_the_images_that_came_back():
    images = FakeImages(short_first=1)
    b = _backend(images)
    answers = b.inpaint(_requests())

    assert images.calls == [3]
    assert [isinstance(a, InpaintResult) for a in answers] == [True, True, False]
    missing = answers[2]
    assert isinstance(missing, InpaintFailure)
    assert missing.retryable and not missing.fatal
    assert missing.variant == 2 and "returned 2 image(s) for n=3" in missing.error

    totals = b.ledger.totals()
    assert totals.images == 3  # the whole call is booked...
    assert totals.failed_images == 1  # ...and the image that never came as not delivered
    assert totals.usd == pytest.approx(answers[0].cost_usd * 3)
    assert totals.failed_usd == pytest.approx(totals.usd / 3)


def test_a_short_answer_resends_only_the_missing_request():
    from radinpaint.inpaint_calls import InpaintCalls
    from radinpaint.registry import capabilities_of

    images = FakeImages(short_first=1)
    b = _backend(images)
    out = InpaintCalls(b, capabilities_of("inpainter", b), None).run(_requests())
    assert images.calls == [3, 1]  # the two delivered images are not paid for again
    assert all(o.ok for o in out)


def test_an_undecodable_image_fails_only_its_request():
    images = FakeImages(bad_first=True)
    b = _backend(images)
    answers = b.inpaint(_requests(cases=3))

    assert images.calls == [3, 3, 3]  # the backend did not stop
    failures = [a for a in answers if isinstance(a, InpaintFailure)]
    assert len(failures) == 1 and len(answers) == 9
    (bad,) = failures
    assert (bad.case_id, bad.variant) == ("c0", 2)
    assert bad.retryable and not bad.fatal and "could not be decoded" in bad.error
    assert b.ledger.totals().failed_images == 1


def test_an_unexpected_error_in_one_call_is_not_fatal(monkeypatch):
    images = FakeImages()
    b = _backend(images)
    original = type(b)._run_one
    seen = []

    def flaky(self, call, *args, **kwargs):
        seen.append(call.what)
        if len(seen) == 1:
            raise RuntimeError("something unexpected")
        return original(self, call, *args, **kwargs)

    monkeypatch.setattr(type(b), "_run_one", flaky)
    answers = b.inpaint(_requests(cases=3))
    assert len(seen) == 3  # the other calls still ran
    failed = [a for a in answers if isinstance(a, InpaintFailure)]
    assert len(failed) == 3 and all(f.retryable and not f.fatal for f in failed)
    assert sum(isinstance(a, InpaintResult) for a in answers) == 6


def test_no_api_key_is_fatal(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    b = get_inpainter("openai", allow_external_upload=True, base_url="http://127.0.0.1:9/v1")
    with pytest.raises(BackendError) as info:
        b.inpaint(_requests())
    assert info.value.fatal
    assert _fatal(info.value)


def test_rejected_credentials_are_fatal_and_other_errors_are_not():
    class Rejected(Exception):
        status_code = 401
        message = "invalid key"

    err = map_api_error(Rejected(), model="gpt-image-1.5", what="x")
    assert isinstance(err, BackendError) and err.fatal and _fatal(err)
    assert not _fatal(BackendError("a refused image"))
    assert _fatal(BackendError("no access", fatal=True))
    assert _fatal(BudgetExceededError("spent"))

    class LooksFatal(Exception):
        fatal = True

    assert not _fatal(LooksFatal())  # only the library's own errors say what is fatal
    assert not _fatal(RuntimeError("boom"))


def test_budget_settle_books_the_undelivered_part_as_failed():
    budget = Budget(max_images=10, ledger=SpendLedger())
    budget.reserve(4, 0.4, what="call")
    budget.settle(4, 0.4, 0.8, what="call", delivered=1)
    totals = budget.ledger.totals()
    assert (totals.images, totals.failed_images) == (4, 3)
    assert totals.usd == pytest.approx(0.8) and totals.failed_usd == pytest.approx(0.6)
    budget.reserve(2, 0.2, what="whole")
    budget.settle(2, 0.2, None, what="whole")  # existing callers: everything delivered
    totals = budget.ledger.totals()
    assert (totals.images, totals.failed_images) == (6, 3)
    assert totals.usd == pytest.approx(1.0)
