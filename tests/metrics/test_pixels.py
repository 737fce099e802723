"""Intensity histograms, distances and leakage checked against direct computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from scipy.ndimage import gaussian_filter1d
from skimage.metrics import structural_similarity

from radinpaint import Mask, Radiograph
from radinpaint.errors import ShapeMismatchError
from radinpaint.metrics import intensity_distances, intensity_histograms, leakage, pixel_sd
from radinpaint.metrics.study import study_histograms


def _image(seed=0, shape=(48, 64)):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, shape).astype(np.uint8)


def test_256_bins_put_each_8bit_level_in_its_own_bin() -> None:
    u8 = _image()
    h = intensity_histograms([Radiograph.from_uint(u8, 8)], sigma=None)
    assert np.array_equal(h.counts[0], np.bincount(u8.ravel(), minlength=256))
    assert h.pooled_smoothed is None


def test_pooled_histogram_is_pixel_weighted_and_smoothed_like_the_study() -> None:
    a, b = _image(1), _image(2, (20, 30))
    region = np.zeros(a.shape, bool)
    region[:10] = True
    h = study_histograms([a / 255.0, b / 255.0], [region, None])
    counts = np.bincount(a[region], minlength=256) + np.bincount(b.ravel(), minlength=256)
    pooled = counts / counts.sum()
    assert np.allclose(h.pooled, pooled)
    assert np.allclose(h.pooled_smoothed, gaussian_filter1d(pooled, 1.5))
    assert h.sigma == 1.5 and h.n_pixels.tolist() == [region.sum(), b.size]
    assert h.pixel_sd[0] == pytest.approx((a[region] / 255.0).std())
    assert np.allclose(h.per_image.sum(axis=1), 1.0)


def _ecdf_ks(x, y):
    grid = np.concatenate([x, y])
    fx = np.searchsorted(np.sort(x), grid, side="right") / x.size
    fy = np.searchsorted(np.sort(y), grid, side="right") / y.size
    return np.max(np.abs(fx - fy))


@pytest.mark.parametrize("depth", [8, 12, 16])
def test_distances_match_scipy_and_ecdf_on_the_grey_levels(depth) -> None:
    x = _image(3) / 255.0
    y = np.clip(x * 0.8 + 0.1, 0, 1)
    m = np.zeros(x.shape, bool)
    m[5:15, 5:25] = True
    hand = np.zeros(x.shape, bool)
    hand[20:, 30:] = True
    d = intensity_distances(x, y, Mask(m), anatomy=hand, bit_depth=depth)
    assert set(d) == {"image", "in-mask", "out-of-mask", "anatomy"}
    top = 2**depth - 1
    qx, qy = np.rint(x * top) / top, np.rint(y * top) / top
    for region, sel in (("in-mask", m), ("out-of-mask", ~m), ("anatomy", hand)):
        a, b = qx[sel], qy[sel]
        assert d[region].ks == pytest.approx(stats.ks_2samp(a, b).statistic, abs=1e-12)
        assert d[region].ks == pytest.approx(_ecdf_ks(a, b), abs=1e-12)
        assert d[region].wasserstein == pytest.approx(stats.wasserstein_distance(a, b), abs=1e-12)
        # equal sample sizes: W1 is the mean gap between sorted samples
        assert d[region].wasserstein == pytest.approx(np.mean(np.abs(np.sort(a) - np.sort(b))))
        assert d[region].mean_shift == pytest.approx(b.mean() - a.mean())
        assert d[region].n_pixels == sel.sum()
    assert pixel_sd(x, hand) == pytest.approx(x[hand].std())


def test_distances_default_to_the_radiograph_bit_depth() -> None:
    u = _image(4).astype(np.uint16) * 16
    x = Radiograph.from_uint(u, 12)
    y = x.with_pixels(np.clip(x.pixels + 1 / 4095, 0, 1))  # one 12-bit level brighter
    d = intensity_distances(x, y)["image"]
    assert d.wasserstein == pytest.approx(np.mean(np.rint(y.pixels * 4095.0) - u) / 4095)


def test_leakage_counts_changes_at_the_bit_depth() -> None:
    rng = np.random.default_rng(5)
    x = rng.random((40, 50)).astype(np.float32)
    m = np.zeros(x.shape, bool)
    m[:10, :10] = True
    y = x.copy()
    y[m] = 0.0  # inside the mask: never counted
    y[30, 40] += 0.2 / 255  # below half an 8-bit level...
    y[35, 45] = min(1.0, y[35, 45] + 3 / 255)  # ...and a real change
    eight = leakage(x, np.clip(y, 0, 1), m, bit_depth=8)
    qx, qy = np.rint(x * 255), np.rint(np.clip(y, 0, 1) * 255)
    changed = (qx != qy) & ~m
    assert eight.n_changed == changed.sum() and eight.n_outside == (~m).sum()
    assert eight.changed_fraction == pytest.approx(changed.sum() / (~m).sum())
    mse = np.mean(((qx - qy)[~m] / 255) ** 2)
    assert eight.psnr == pytest.approx(10 * np.log10(1 / mse))
    sixteen = leakage(Radiograph(x, bit_depth=16), np.clip(y, 0, 1), m)
    assert sixteen.bit_depth == 16 and sixteen.n_changed > eight.n_changed


def test_ssim_without_mask_is_skimage_mean_ssim() -> None:
    x = _image(6) / 255.0
    y = np.clip(x + np.random.default_rng(0).normal(0, 0.05, x.shape), 0, 1)
    got = leakage(x, y, None, bit_depth=16)
    q = 65535.0
    ref = structural_similarity(np.rint(x * q) / q, np.rint(y * q) / q, data_range=1.0)
    assert got.ssim == pytest.approx(ref, rel=1e-12)


def test_ssim_ignores_windows_touching_the_mask() -> None:
    x = _image(7) / 255.0
    m = np.zeros(x.shape, bool)
    m[:, :20] = True
    y = x.copy()
    y[:, :20] = 0.5  # damage only inside the mask
    got = leakage(x, y, m, bit_depth=8)
    assert got.n_changed == 0
    # no window reaching into the mask is scored (skimage's running-sum filters leave ~1e-16)
    assert got.ssim == pytest.approx(1.0, abs=1e-12)
    _, smap = structural_similarity(x, y, data_range=1.0, full=True)
    assert smap[:, 20:23].mean() < 0.999  # those windows would have lowered it
    y[:, 20] = 0.5  # one damaged column just outside the mask
    hit = leakage(x, y, m, bit_depth=8)
    assert hit.n_changed == x.shape[0] - np.sum(np.rint(x[:, 20] * 255) == np.rint(0.5 * 255))
    assert hit.ssim < 1.0


def test_full_mask_and_shape_mismatch() -> None:
    x = _image() / 255.0
    full = leakage(x, x, np.ones(x.shape, bool))
    assert math.isnan(full.changed_fraction) and "covers" in full.note
    with pytest.raises(ShapeMismatchError):
        leakage(x, x[:10], None)
    with pytest.raises(ShapeMismatchError):
        intensity_distances(x, x, np.zeros((3, 3), bool))


def test_real_radiograph_paste_back_versus_redraw(rsna_samples) -> None:
    """On a real RSNA radiograph: classical inpainting leaks nothing, a global redraw does."""
    import cv2
    from PIL import Image

    u8 = np.asarray(Image.open(rsna_samples / "with-markers" / "1381_small.png").convert("L"))
    x = Radiograph.from_uint(u8, 8)
    mask = np.zeros(u8.shape, bool)
    mask[40:90, 30:110] = True
    inpainted = cv2.inpaint(u8, mask.astype(np.uint8), 3, cv2.INPAINT_TELEA)
    out = Radiograph.from_uint(inpainted, 8)
    leak = leakage(x, out, mask)
    assert leak.n_changed == 0 and leak.psnr == math.inf
    assert leak.ssim == pytest.approx(1.0, abs=1e-12)
    d = intensity_distances(x, out, mask)
    assert d["out-of-mask"].ks == 0.0 and d["in-mask"].ks > 0.0
    redraw = x.with_pixels(x.pixels**1.3)
    leak2 = leakage(x, redraw, mask)
    assert leak2.changed_fraction > 0.3 and leak2.ssim < 1.0 and math.isfinite(leak2.psnr)
    h = study_histograms([x, out, redraw])
    assert h.pooled.sum() == pytest.approx(1.0) and h.pixel_sd[2] != h.pixel_sd[0]


def test_region_sds_are_the_pixel_sds_at_the_grey_levels() -> None:
    x = _image(8) / 255.0
    y = np.clip(1.1 * x, 0, 1)
    d = intensity_distances(x, y, bit_depth=8)["image"]
    qy = np.rint(y * 255) / 255
    assert d.sd_original == pytest.approx(x.std(), rel=1e-12)
    assert d.sd_output == pytest.approx(qy.std(), rel=1e-12)
    assert d.mean_shift == pytest.approx(qy.mean() - x.mean(), abs=1e-14)
