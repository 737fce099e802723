"""Views of an output across its backend's geometry: restored and as-returned frames."""

from __future__ import annotations

import numpy as np
import pytest

from radinpaint.errors import InvalidInputError
from radinpaint.evaluation import VIEWS, decompose
from radinpaint.evaluation.decomposition import geometry_image, scored_image
from radinpaint.inpainters.base import finish_result
from radinpaint.inpainters.compositing import quantize
from radinpaint.inpainters.controls import IdentityInpainter, ResampleControl
from radinpaint.inpainters.geometry import plan
from radinpaint.records import InpaintRequest, Mask, Radiograph


@pytest.fixture
def portrait():
    """A 40 x 30 portrait image with a mask block, and its request."""
    rng = np.random.default_rng(1)
    x = Radiograph.from_float(rng.uniform(0.1, 0.9, (40, 30)).astype(np.float32))
    m = np.zeros((40, 30), bool)
    m[10:18, 5:15] = True
    mask = Mask(m)
    return x, mask, InpaintRequest(x, mask, None, 0, 0, "c")


def _equal(a: Radiograph, b: Radiograph) -> bool:
    return a.shape == b.shape and bool(np.array_equal(a.pixels, b.pixels))


def test_identity_aliases_every_view_to_the_original(portrait) -> None:
    x, mask, req = portrait
    (res,) = IdentityInpainter().inpaint([req])
    d = decompose(x, res, mask)
    assert not d.images and d.aliases == dict.fromkeys(VIEWS, "original")


def test_restored_resample_is_all_geometry(portrait) -> None:
    x, mask, req = portrait
    (res,) = ResampleControl(size=16).inpaint([req])
    assert res.returned is not None and res.returned.shape == (16, 16)
    d = decompose(x, res, mask)
    assert d.frame == "restored" and d.collapse == "geometry-only"
    im = d.images
    # the control's output is its geometry, bit for bit: the edit is exactly nothing
    for view in ("total", "geometry+in-mask", "geometry+out-of-mask"):
        assert _equal(im[view], im["geometry"]), view
    for view in ("edit", "in-mask", "out-of-mask"):
        assert _equal(im[view], x), view
    assert not _equal(im["geometry"], x)


def test_as_returned_scores_the_squashed_square(portrait) -> None:
    x, mask, req = portrait
    (res,) = ResampleControl(size=16).inpaint([req])
    d = decompose(x, res, mask, frame="as-returned")
    assert d.frame == "as-returned"
    assert d.images["total"].shape == (16, 16)
    assert _equal(d.images["geometry"], d.images["total"])
    assert _equal(d.images["edit"], x)
    assert _equal(scored_image(res, "as-returned"), res.returned)
    assert _equal(scored_image(res, "restored"), res.image)


def test_restore_false_is_scored_as_returned_in_a_restored_run(portrait) -> None:
    x, mask, req = portrait
    (res,) = ResampleControl(size=16, restore=False).inpaint([req])
    assert "as-returned" in res.flags
    d = decompose(x, res, mask, frame="restored")
    assert d.frame == "as-returned" and d.images["total"].shape == (16, 16)


def test_a_backend_without_geometry_has_geometry_views_aliased(portrait) -> None:
    x, mask, req = portrait
    out = np.where(mask.array, 0.5, x.pixels).astype(np.float32)
    res = finish_result(req, out, backend="fill", options={})
    d = decompose(x, res, mask)
    assert d.collapse == "paste-back"
    assert d.aliases["geometry"] == "original"
    assert d.aliases["edit"] == "total"
    assert d.aliases["geometry+in-mask"] == "total"  # in-mask is the output itself
    assert d.aliases["geometry+out-of-mask"] == "original"
    assert geometry_image(x, res, mask) is None


def test_views_split_a_squashed_edit_by_factor(portrait) -> None:
    """A raw squash backend that brightens the whole square: every view is the original
    with its factors applied, in the frame it is scored in."""
    x, mask, req = portrait
    placement = plan(x.shape, size=(24, 24), mode="squash")
    sent = quantize(placement.to_backend(x.pixels), 8)
    drawn = np.clip(sent + 0.05, 0, 1)
    res = finish_result(
        req,
        placement.from_backend(drawn),
        backend="squasher",
        options={},
        compositing="raw",
        flags=("8-bit-roundtrip",),
        placement=placement,
        returned=drawn,
    )
    for frame in ("restored", "as-returned"):
        d = decompose(x, res, mask, frame=frame)
        im = d.images
        g, o = im["geometry"].pixels, im["total"].pixels
        m = placement.mask_to_backend(mask) if frame == "as-returned" else mask.array
        np.testing.assert_array_equal(im["geometry+in-mask"].pixels, np.where(m, o, g))
        np.testing.assert_array_equal(im["geometry+out-of-mask"].pixels, np.where(m, g, o))
        # without geometry: the edit's change, restored, on the untouched original
        edit = im["edit"].pixels
        assert edit.shape == x.shape
        change = res.image.pixels - placement.from_backend(sent)
        np.testing.assert_allclose(edit, np.clip(x.pixels + change, 0, 1), atol=1e-6)
        np.testing.assert_array_equal(im["in-mask"].pixels, np.where(mask.array, edit, x.pixels))
        np.testing.assert_array_equal(
            im["out-of-mask"].pixels, np.where(mask.array, x.pixels, edit)
        )
    np.testing.assert_array_equal(
        decompose(x, res, mask, frame="as-returned").images["geometry"].pixels, sent
    )


def test_unknown_frame_is_refused(portrait) -> None:
    x, mask, req = portrait
    (res,) = IdentityInpainter().inpaint([req])
    with pytest.raises(InvalidInputError, match="geometry"):
        decompose(x, res, mask, frame="squashed")


def test_returned_outputs_survive_the_cache(tmp_path, portrait) -> None:
    from radinpaint.cache import ResultCache, inpaint_cached

    *_, req = portrait
    cache = ResultCache(tmp_path)
    (first,) = inpaint_cached(ResampleControl(size=16), [req], cache)
    assert len(list(tmp_path.glob("??/*.np?"))) == 2  # the image and the returned square
    (again,) = inpaint_cached(ResampleControl(size=16), [req], cache)
    assert again.extra["cache_key"] == first.extra["cache_key"]
    assert again.returned is not None and first.returned is not None
    np.testing.assert_array_equal(again.returned.pixels, first.returned.pixels)
    np.testing.assert_array_equal(again.image.pixels, first.image.pixels)


def test_an_evaluation_scores_each_frame_and_attributes_it_to_geometry(test_plugin) -> None:
    from radinpaint.datasets import make_phantoms
    from radinpaint.evaluation import Evaluation, SerialExecutor, get_preset

    cases = [c for c in make_phantoms(12, seed=5, size=80) if not c.artifact_mask.is_empty]
    assert all(c.image.shape[0] != c.image.shape[1] for c in cases)  # RSNA-like shapes

    def run(geometry):
        return Evaluation(
            cases[:6],
            inpainters=[
                "identity",
                "squash-back=resample:size=48",
                "study-geometry=resample:size=48,restore=false",
            ],
            predictors=["test-mean"],
            variants=1,
            preset=get_preset("recommended").with_resamples(50),
            executor=SerialExecutor(),
            progress=False,
            pixel_detail_cases=0,
            geometry=geometry,
        ).run()

    restored, returned = run(None), run("as-returned")
    frames = restored.table.groupby("inpainter")["frame"].agg(set)
    assert frames["identity"] == {"restored"} and frames["squash-back"] == {"restored"}
    assert frames["study-geometry"] == {"as-returned"}
    assert set(returned.table[returned.table["inpainter"] != "identity"]["frame"]) == {
        "as-returned"
    }
    # the restored resample and the study's squash are different measurements
    t = restored.table[restored.table["view"] == "total"].set_index(["inpainter", "case_id"])
    assert not np.array_equal(
        t.loc["squash-back", "pred_bone_age"].to_numpy(),
        t.loc["study-geometry", "pred_bone_age"].to_numpy(),
    )
    for res in (restored, returned):
        d = res.decomposition.set_index(["inpainter", "part"])
        assert (d.loc["identity", ["shift", "p_male_shift"]] == 0.0).all().all()
        for label in ("squash-back", "study-geometry"):
            assert d.loc[(label, "geometry"), "shift"] == d.loc[(label, "total"), "shift"]
            for part in ("redraw", "content", "residual"):
                assert d.loc[(label, part), "shift"] == 0.0, (label, part)
