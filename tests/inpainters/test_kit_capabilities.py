"""The conformance kit checks what a backend declares, and every offline built-in passes."""

from __future__ import annotations

import itertools

import attrs
import numpy as np
import pytest

from radinpaint import SAFE_DEFAULTS, Built, Capabilities, build_backend
from radinpaint.inpainters.base import PerImageInpainter, finish_result, unchanged_result
from radinpaint.records import Case, Predictions
from radinpaint.testing import (
    check_capabilities,
    check_inpainter,
    check_mask_provider,
    check_predictor,
    sample_images,
    sample_mask,
)

DETERMINISTIC = Capabilities(deterministic=True, max_concurrency=2, batch_size=4)


@attrs.define
class Seeded(PerImageInpainter):
    """Fills the mask with noise drawn from the request's seed (seed-dependent, honest)."""

    name = "seeded"

    def inpaint_one(self, request):
        rng = np.random.default_rng(request.variant_seed)
        return rng.random(request.image.shape).astype(np.float32)


@attrs.define
class Flat(PerImageInpainter):
    """Fills the mask with mid-grey: seed-independent."""

    name = "flat"

    def inpaint_one(self, request):
        return np.full(request.image.shape, 0.5, np.float32)


def test_a_backend_that_lies_about_determinism_is_caught():
    with pytest.raises(AssertionError, match=r"deterministic=True.*whatever the seed") as info:
        check_inpainter(Seeded(), capabilities=DETERMINISTIC)
    assert "'seeded'" in str(info.value) and "declare deterministic=False" in str(info.value)


def test_the_same_backend_declared_honestly_passes():
    ran = check_inpainter(Seeded(), capabilities=Capabilities())
    assert "deterministic-claim" not in ran
    assert {"capabilities-valid", "fingerprint-stable", "no-secret-options"} <= set(ran)


def test_a_truly_deterministic_backend_passes_the_claim():
    ran = check_inpainter(Flat(), capabilities=DETERMINISTIC)
    assert "deterministic-claim" in ran
    ran = check_inpainter(Built(Flat(), DETERMINISTIC))
    assert "deterministic-claim" in ran


def test_an_unstable_fingerprint_is_caught():
    counter = itertools.count()

    def declare(backend):
        return Capabilities(fingerprint=f"run-{next(counter)}")

    with pytest.raises(AssertionError, match="fingerprint is stable"):
        check_inpainter(Flat(), capabilities=declare)


def test_a_declaration_that_is_not_a_record_is_caught():
    with pytest.raises(AssertionError, match="Capabilities record"):
        check_inpainter(Flat(), capabilities=lambda b: {"deterministic": True})
    with pytest.raises(AssertionError, match="can be read"):
        check_inpainter(Flat(), capabilities=lambda b: b.capabilities())


def test_an_invalid_record_is_caught():
    broken = Capabilities()
    object.__setattr__(broken, "batch_size", 0)  # bypasses the record's own validation
    with pytest.raises(AssertionError, match="batch_size"):
        check_capabilities("inpainter", Flat(), broken)


@attrs.define
class RecordsDeclaredSecret(Flat):
    """Records an option its declaration says is secret (the name is not secret-looking)."""

    organization: str = "org-123"


@attrs.define
class RecordsUrlCredentials(Flat):
    """Records an endpoint with a password in its result's extra facts."""

    def inpaint(self, requests):
        out = []
        for r in requests:
            if r.mask.is_empty:
                out.append(unchanged_result(r, self.name, {}, "empty-mask"))
                continue
            px = np.full(r.image.shape, 0.5, np.float32)
            extra = {"endpoint": "https://user:hunter2@example.org/v1"}
            out.append(finish_result(r, px, backend=self.name, options={}, extra=extra))
        return out


def test_declared_secret_options_and_url_credentials_are_caught():
    declared = Capabilities(secret_options={"organization"})
    with pytest.raises(AssertionError, match=r"secrets.*options\.organization"):
        check_inpainter(RecordsDeclaredSecret(), capabilities=declared)
    assert "no-secret-options" in check_inpainter(RecordsDeclaredSecret())
    with pytest.raises(AssertionError, match=r"extra\.endpoint \(credentials in a URL\)"):
        check_inpainter(RecordsUrlCredentials())


@attrs.define
class WholeRedraw:
    """Redraws every image whole, whatever the mask (an empty one too), used as it is."""

    name = "whole-redraw"
    empty_flag: bool = False  # a broken variant: it still says "empty-mask"

    def inpaint(self, requests):
        out = []
        for r in requests:
            px = np.clip(r.image.pixels + 0.1, 0.0, 1.0).astype(np.float32)
            flags = ("empty-mask",) if self.empty_flag and r.mask.is_empty else ()
            out.append(
                finish_result(r, px, backend=self.name, options={}, compositing="raw", flags=flags)
            )
        return out


WHOLE = Capabilities(deterministic=True, edits_whole_image=True)


def test_a_backend_that_edits_an_empty_mask_must_declare_it():
    with pytest.raises(AssertionError, match="empty mask returns the input unchanged"):
        check_inpainter(WholeRedraw(), capabilities=Capabilities(deterministic=True))
    with pytest.raises(AssertionError, match="empty mask returns the input unchanged"):
        check_inpainter(WholeRedraw())  # declares nothing: the safe defaults


def test_a_declared_whole_image_editor_passes_without_the_empty_mask_rule():
    ran = check_inpainter(WholeRedraw(), capabilities=WHOLE)
    assert "empty-mask-edited" in ran and "empty-mask" not in ran
    assert "deterministic-claim" in ran
    assert "empty-mask" in check_inpainter(Flat(), capabilities=DETERMINISTIC)


def test_a_whole_image_editor_never_flags_its_edit_empty_mask():
    with pytest.raises(AssertionError, match=r"edits_whole_image=True.*'empty-mask'") as info:
        check_inpainter(WholeRedraw(empty_flag=True), capabilities=WHOLE)
    assert "'whole-redraw'" in str(info.value)
    # a backend that declares it but returns an empty mask's input unchanged is caught too
    with pytest.raises(AssertionError, match="edits_whole_image"):
        check_inpainter(Flat(), capabilities=WHOLE)


def test_edits_whole_image_is_declared_and_recorded():
    assert not SAFE_DEFAULTS.edits_whole_image
    assert SAFE_DEFAULTS.to_dict()["edits_whole_image"] is False
    assert WHOLE.to_dict()["edits_whole_image"] is True
    assert attrs.evolve(WHOLE, edits_whole_image=False) != WHOLE


OFFLINE_INPAINTERS = {
    "identity": {},
    "resample": {"size": 32},
    "telea": {},
    "navier-stokes": {},
    "biharmonic": {},
    "gan": {"device": "cpu"},
}


@pytest.mark.parametrize("name", sorted(OFFLINE_INPAINTERS))
def test_every_offline_builtin_inpainter_passes_the_kit_with_its_declaration(name):
    built = build_backend("inpainter", name, **OFFLINE_INPAINTERS[name])
    ran = check_inpainter(built)
    assert {"capabilities-valid", "fingerprint-stable", "no-secret-options"} <= set(ran)
    assert ("deterministic-claim" in ran) == built.capabilities.deterministic
    assert built.capabilities.deterministic  # every one of them claims it: checked above
    assert "empty-mask" in ran and not built.capabilities.edits_whole_image


@attrs.define
class AgePredictor:
    """Reads bone age from the mean grey level; ``use_sex`` shifts it by sex."""

    name: str = "age"
    use_sex: bool = False

    def predict(self, images, male=None):
        ages = np.array([float(i.pixels.mean()) * 200 for i in images])
        if self.use_sex:
            if male is None:
                from radinpaint.errors import InvalidInputError

                raise InvalidInputError("age needs the sex of each case")
            ages = ages + 5.0 * np.asarray(male, dtype=float)
        return Predictions(self.name, bone_age_months=ages)


def test_predictor_sex_declarations_are_checked():
    assert "sex-declared" in check_predictor(AgePredictor())
    needs = Capabilities(deterministic=True, needs_sex=True)
    assert "sex-declared" in check_predictor(AgePredictor(use_sex=True), capabilities=needs)
    with pytest.raises(AssertionError, match="does not declare needs_sex"):
        check_predictor(AgePredictor(use_sex=True))
    with pytest.raises(AssertionError, match="declares needs_sex"):
        check_predictor(AgePredictor(), capabilities=needs)


def test_the_shipped_predictor_passes_the_kit_with_its_declaration():
    built = build_backend("predictor", "phantom-ensemble", device="cpu")
    assert "sex-declared" in check_predictor(built)


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("ground-truth", {"dilate": 1}),
        ("markers", {}),
        ("hand", {}),
        ("learned", {}),
        ("union", {"providers": ["ground-truth", "hand"]}),
    ],
)
def test_builtin_mask_providers_pass_the_kit_with_their_declaration(name, options):
    items = [
        Case(str(i), img, artifact_mask=sample_mask(img.shape))
        for i, img in enumerate(sample_images())
    ]
    ran = check_mask_provider(build_backend("mask_provider", name, **options), items=items)
    assert {"capabilities-valid", "fingerprint-stable", "order"} <= set(ran)
