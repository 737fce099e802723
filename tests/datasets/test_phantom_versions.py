"""Phantom generator versions: version 1 frozen, version 2 with RSNA-like (portrait) shapes."""

from __future__ import annotations

import csv
import hashlib
import json
from typing import Any

import numpy as np
import pytest

import radinpaint.datasets.phantom as phantom_pkg
from radinpaint.datasets.phantom import (
    PHANTOM_VERSION,
    PhantomDataset,
    make_phantom,
    make_phantoms,
)
from radinpaint.datasets.phantom.aspect import (
    JITTER,
    RSNA_ASPECT_RATIOS,
    draw_aspect_ratio,
    image_width,
    normalize_version,
)
from radinpaint.errors import InvalidInputError
from radinpaint.records import Case
from radinpaint.seeds import derive_seed
from radinpaint.seeds import rng as make_rng

LOW = min(RSNA_ASPECT_RATIOS) - JITTER
HIGH = max(RSNA_ASPECT_RATIOS) + JITTER


def _raw_digest(case: Case) -> str:
    h = hashlib.sha256()
    for a in (
        case.image.pixels,
        case.clean_image.pixels,
        case.artifact_mask.array,
        case.anatomy_mask.array,
    ):
        h.update(a.tobytes())
    return h.hexdigest()


def _ratio_of(seed: int) -> float:
    return draw_aspect_ratio(make_rng(seed, "phantom", "shape"))


def _seeds_where(test: Any, count: int) -> list[int]:
    """The first ``count`` seeds whose drawn ratio passes ``test`` (cheap: no image)."""
    found = [s for s in range(2000) if test(_ratio_of(s))]
    assert len(found) >= count
    return found[:count]


# --- version 1 is frozen --------------------------------------------------------------------

# sha256 of the raw pixels of image, clean image, artifact mask and anatomy mask, computed with
# the generator as it stood before versions existed (square phantoms only).
V1_PINS = [
    (0, 128, {}, "90876a06324531ffc9255950a4eb89b2792c05bb5d26bf2787d910a0917fb254"),
    (7, 96, {}, "cc35cc992a231ff2455918de558ef117293ae698c5ebb62fb9c1a8986e60cb12"),
    (
        12345,
        160,
        {"bit_depth": 8},
        "fed04ab4d4451c9698b247ace156b216c8a12a8b29338b90fc61c69d4acba1e3",
    ),
    (
        3,
        128,
        {"artifacts": False},
        "8de7043fd31603f2ae3ae9a9ed9c0658142c645ffef49a2726e6fc02f79b9cf0",
    ),
    (42, 200, {}, "b4de3de6751d5ebf8755d05eeb4bb8678d628f4e07707f6b32066a0ea0a8ef6d"),
    (1, 512, {}, "93191ae5a63c79997b9f6f8bf0f0bf0a34070f7c185cee9544e6c49ee6ea1e14"),
]


@pytest.mark.parametrize(("seed", "size", "kwargs", "digest"), V1_PINS)
@pytest.mark.parametrize("version", ["1", 1])
def test_version_1_pixels_unchanged(seed, size, kwargs, digest, version) -> None:  # type: ignore[no-untyped-def]
    case = make_phantom(seed, size=size, version=version, **kwargs)
    assert case.image.shape == (size, size)
    assert _raw_digest(case) == digest


def test_version_1_metadata_unchanged_but_for_the_new_keys() -> None:
    meta = dict(make_phantom(0, size=128, version="1").metadata)
    assert meta.pop("version") == "1"
    assert meta.pop("aspect_ratio") == 1.0
    assert meta["generator"] == "radinpaint.phantom/1"
    text = json.dumps(meta, sort_keys=True, default=str)
    # digest of the same dump, computed before versions existed
    assert hashlib.sha256(text.encode()).hexdigest()[:16] == "3ca4578db1073400"


# --- version handling ------------------------------------------------------------------------


def test_default_version_is_2() -> None:
    assert PHANTOM_VERSION == "2"
    case = make_phantom(5, size=64)
    assert case.metadata["version"] == "2"
    assert case.metadata["generator"] == "radinpaint.phantom/2"


def test_int_and_str_versions_are_the_same() -> None:
    for v in ("1", "2"):
        a, b = make_phantom(8, size=64, version=v), make_phantom(8, size=64, version=int(v))
        assert a.metadata == b.metadata
        assert np.array_equal(a.image.pixels, b.image.pixels)
    assert normalize_version(np.int64(2)) == "2"
    assert PhantomDataset(2, size=64, version=1).version == "1"
    assert "version='1'" in repr(PhantomDataset(2, size=64, version=1))


@pytest.mark.parametrize("bad", ["3", 3, 0, "v2", "", None, True, 2.0])
def test_unknown_version_is_a_clear_error(bad: object) -> None:
    with pytest.raises(InvalidInputError) as info:
        make_phantom(1, size=64, version=bad)  # type: ignore[arg-type]
    text = str(info.value)
    assert "version" in text and repr(bad) in text
    assert "Available: 1, 2" in text
    assert "Fix:" in text and "version='1'" in text
    with pytest.raises(InvalidInputError):
        make_phantoms(2, size=64, version=bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        PhantomDataset(2, size=64, version=bad)  # type: ignore[arg-type]


# --- the version-2 aspect ratio ----------------------------------------------------------


def test_measured_ratios_are_the_rsna_statistics() -> None:
    r = np.array(RSNA_ASPECT_RATIOS)
    assert r.size == 41
    assert round(float(r.mean()), 2) == 1.27 and float(np.median(r)) == 1.30
    assert r.min() == 0.878 and r.max() == 1.381
    assert round(float((r > 1).mean()), 2) == 0.95


def test_measured_ratios_match_the_samples(rsna_samples) -> None:  # type: ignore[no-untyped-def]
    with (rsna_samples / "labels.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    measured = sorted(round(int(r["height"]) / int(r["width"]), 4) for r in rows)
    assert tuple(measured) == RSNA_ASPECT_RATIOS


def test_version_2_shapes_are_rsna_like_and_deterministic() -> None:
    cases = make_phantoms(60, seed=3, size=96, artifacts=False)
    ratios = []
    for case in cases:
        height, width = case.image.shape
        ratio = case.metadata["aspect_ratio"]
        ratios.append(ratio)
        assert height == 96 and width == image_width(96, ratio)
        assert LOW <= ratio <= HIGH
        assert case.clean_image.shape == case.artifact_mask.shape == case.anatomy_mask.shape
        assert case.metadata["size"] == 96
    assert np.mean(np.array(ratios) > 1.0) >= 0.8  # mostly portrait
    # the jitter keeps the ties at 1.30 apart: many ratios, several widths
    assert len(set(ratios)) >= 0.9 * len(ratios)
    assert len({c.image.shape[1] for c in cases}) >= 6
    again = make_phantom(cases[7].metadata["seed"], size=96, artifacts=False)
    assert again.metadata == cases[7].metadata
    assert np.array_equal(again.image.pixels, cases[7].image.pixels)


def test_ratio_does_not_depend_on_size_and_width_is_clamped() -> None:
    for seed in (1, 2, 3):
        ratios = {
            make_phantom(seed, size=s, artifacts=False).metadata["aspect_ratio"] for s in (64, 96)
        }
        assert ratios == {round(_ratio_of(seed), 4)}
    assert image_width(64, 1.4) == 64  # round(45.7), clamped to 64
    assert image_width(512, 1.3) == 394
    assert image_width(512, 0.88) == 582


def test_draws_cover_the_measured_distribution() -> None:
    ratios = np.array([draw_aspect_ratio(np.random.default_rng(i)) for i in range(3000)])
    assert ratios.min() >= LOW and ratios.max() <= HIGH
    assert abs(np.median(ratios) - 1.30) < 0.01
    assert abs(ratios.mean() - np.mean(RSNA_ASPECT_RATIOS)) < 0.01
    assert 0.92 < np.mean(ratios > 1.0) < 0.98
    assert np.mean(ratios < 0.9) > 0.005  # the landscape extreme is drawn too


def test_version_2_keeps_the_other_streams() -> None:
    """Version 2 reframes the same subject, pose, exposure and artifact choices."""
    for seed in (4, 9):
        one, two = make_phantom(seed, size=96, version=1), make_phantom(seed, size=96)
        assert (one.bone_age_months, one.male) == (two.bone_age_months, two.male)
        assert one.metadata["subject"] == two.metadata["subject"]
        for key in ("rotation_deg", "exposure", "gamma", "noise_sigma", "collimation"):
            assert one.metadata["acquisition"][key] == two.metadata["acquisition"][key]


# --- version 2 keeps every guarantee at every shape ---------------------------------------


def _check_invariants(case: Case) -> None:
    height, width = case.image.shape
    img = case.image.to_uint()
    clean = case.clean_image.to_uint()
    mask = case.artifact_mask.array
    anatomy = case.anatomy_mask.array
    assert clean.shape == mask.shape == anatomy.shape == (height, width)
    assert np.array_equal(img[~mask], clean[~mask]), case.id
    if mask.any():
        assert (img[mask] != clean[mask]).mean() > 0.97, case.id
    # the hand is in the picture, whole: fingertips below the top edge, most of it well inside
    assert anatomy.mean() > 0.08, case.id
    assert not anatomy[0].any(), case.id
    _, xs = np.nonzero(anatomy[: height // 2])
    centre = (xs.min() + xs.max() + 1) / 2 / width
    assert 0.3 < centre < 0.7, (case.id, centre)
    # every artifact lies inside the image and inside the exposed field
    coll = case.metadata["acquisition"]["collimation"]
    fx0, fy0, fx1, fy1 = phantom_pkg._field_box(coll, height, width)
    assert 0 <= fx0 < fx1 <= width and 0 <= fy0 < fy1 <= height
    for comp in case.metadata["artifacts"]:
        x0, y0, x1, y1 = comp["box"]
        assert fx0 <= x0 < x1 <= fx1 and fy0 <= y0 < y1 <= fy1, (case.id, comp)
        assert mask[y0:y1, x0:x1].any()
    boxes = np.zeros_like(mask)
    for x0, y0, x1, y1 in (c["box"] for c in case.metadata["artifacts"]):
        boxes[y0:y1, x0:x1] = True
    assert not (mask & ~boxes).any(), case.id
    assert len(case.artifact_mask.components) == len(case.metadata["artifacts"])


@pytest.mark.parametrize(
    ("kind", "test"),
    [
        ("landscape", lambda r: r < 0.9),
        ("near-square", lambda r: 0.97 < r < 1.06),
        ("typical", lambda r: 1.28 < r < 1.32),
        ("tallest", lambda r: r > 1.37),
    ],
)
def test_version_2_invariants_at_every_ratio(kind: str, test: Any) -> None:
    for seed in _seeds_where(test, 6):
        case = make_phantom(seed, size=160)
        assert test(case.metadata["aspect_ratio"]), kind
        _check_invariants(case)
        bare = make_phantom(seed, size=160, artifacts=False)
        assert bare.artifact_mask.is_empty
        assert np.array_equal(bare.clean_image.pixels, case.clean_image.pixels)


@pytest.mark.parametrize("ratio", [LOW, 1.0, HIGH])
def test_version_2_invariants_at_the_extremes(monkeypatch, ratio: float) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(phantom_pkg, "draw_aspect_ratio", lambda rng: ratio)
    for seed in range(8):
        case = make_phantom(seed, size=128, bit_depth=8)
        assert case.image.shape == (128, image_width(128, ratio))
        assert case.metadata["aspect_ratio"] == round(ratio, 4)
        _check_invariants(case)


def test_version_2_forearm_leaves_the_image() -> None:
    """No hand floats in a tall frame: the forearm runs out at the bottom edge."""
    for case in make_phantoms(40, seed=21, size=96, artifacts=False):
        if case.metadata["acquisition"]["collimation"] is None:
            assert case.anatomy_mask.array[-1].any(), case.id


def test_dataset_items_match_make_phantoms() -> None:
    ds = PhantomDataset(4, seed=6, size=64)
    made = make_phantoms(4, seed=6, size=64)
    assert ds.version == "2"
    for a, b in zip(ds, made, strict=True):
        assert a.image.shape == b.image.shape
        assert np.array_equal(a.image.pixels, b.image.pixels)
    ds1 = PhantomDataset(2, seed=6, size=64, version="1")
    assert ds1[1].image.shape == (64, 64)
    assert np.array_equal(
        ds1[1].image.pixels, make_phantom(derive_seed(6, 1), size=64, version=1).image.pixels
    )


# --- CLI --------------------------------------------------------------------------------------


def _run_cli(tmp_path, *extra: str) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    from radinpaint.cli import main

    out = tmp_path / "ph"
    args = ["phantoms", "--n", "4", "--seed", "2", "--size", "96", "--bit-depth", "8"]
    assert main([*args, *extra, "--out", str(out)]) == 0
    with (out / "labels.csv").open() as fh:
        return list(csv.DictReader(fh))


def test_cli_writes_portrait_images_by_default(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from radinpaint.io import read_image, read_mask

    rows = _run_cli(tmp_path)
    assert "generator version 2" in capsys.readouterr().out
    portrait = 0
    for i, r in enumerate(rows):
        img = read_image(tmp_path / "ph" / f"{r['id']}.png")
        mask = read_mask(tmp_path / "ph" / "masks" / f"{r['id']}.png")
        case = make_phantom(derive_seed(2, i), size=96, bit_depth=8)
        assert img.shape == mask.shape == case.image.shape
        assert img.shape[0] == 96
        portrait += img.shape[0] > img.shape[1]
        assert np.array_equal(img.to_uint(), case.image.to_uint())
    assert portrait >= 3


def test_cli_version_1_writes_squares(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from radinpaint.io import read_image

    rows = _run_cli(tmp_path, "--phantom-version", "1")
    for i, r in enumerate(rows):
        img = read_image(tmp_path / "ph" / f"{r['id']}.png")
        assert img.shape == (96, 96)
        case = make_phantom(derive_seed(2, i), size=96, bit_depth=8, version=1)
        assert np.array_equal(img.to_uint(), case.image.to_uint())


def test_cli_rejects_unknown_version(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from radinpaint.cli import main

    assert main(["phantoms", "--n", "1", "--phantom-version", "3", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "version" in err and "'3'" in err


# --- version 2 is frozen too: a change to what a seed draws is a new version ------------------

# sha256 as for V1_PINS, with the drawn shapes: ratios 1.2997, 1.3747, 0.8737, 1.3782, 0.9969.
V2_PINS: list[tuple[int, int, dict[str, Any], tuple[int, int], str]] = [
    (0, 256, {}, (256, 197), "13e25b96d271426673c4eecad1f1bb2a1e636746b86ae3d5b282da63f1a2520a"),
    (
        5,
        128,
        {"bit_depth": 8},
        (128, 93),
        "c581ca1801db73a4e22a0ad81de3474dcdd4718591e047c64f8b3c914b7af5e0",
    ),
    (59, 160, {}, (160, 183), "7897ba3a3940d802131bdfc1054813d9ea8bf2d442f2ea4dae62599061389f7d"),
    (16, 200, {}, (200, 145), "1c3e627c3102130f764854aa6c8844eaf5f1d2ff337c7c72888c1a8b8c7976f7"),
    (
        7,
        96,
        {"artifacts": False},
        (96, 96),
        "eefaad94c3d3ca4052506c8f12029d10fba9e6cb272f0f62b9f590da3f82b2c4",
    ),
]


@pytest.mark.parametrize(("seed", "size", "kwargs", "shape", "digest"), V2_PINS)
def test_version_2_pixels_frozen(seed, size, kwargs, shape, digest) -> None:  # type: ignore[no-untyped-def]
    case = make_phantom(seed, size=size, version="2", **kwargs)
    assert case.image.shape == shape
    assert _raw_digest(case) == digest
