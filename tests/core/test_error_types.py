"""Every error radinpaint raises on purpose is a RadinpaintError that names input and fix."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest

from radinpaint.errors import (
    CheckpointError,
    InvalidInputError,
    RadinpaintError,
)
from radinpaint.records import Radiograph

SRC = Path(__file__).resolve().parents[2] / "src" / "radinpaint"

BUILTIN_ERRORS = frozenset({"ValueError", "TypeError", "RuntimeError", "KeyError", "Exception"})
"""Exceptions that must not be raised directly: raise the RadinpaintError subclass instead."""


def _raised_name(node: ast.Raise) -> str | None:
    exc = node.exc
    if isinstance(exc, ast.Call):
        exc = exc.func
    if isinstance(exc, ast.Name):
        return exc.id
    if isinstance(exc, ast.Attribute):  # builtins.ValueError
        return exc.attr
    return None


def _builtin_raises(path: Path) -> list[str]:
    """``file:line: raise Name`` for each built-in error ``path`` raises directly."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    raises = sorted(
        (node for node in ast.walk(tree) if isinstance(node, ast.Raise)),
        key=lambda node: node.lineno,
    )
    found = []
    for node in raises:
        if node.exc is not None:  # a bare ``raise`` re-raises what was caught
            name = _raised_name(node)
            if name in BUILTIN_ERRORS:
                found.append(f"{path.name}:{node.lineno}: raise {name}")
    return found


def test_the_scan_finds_builtin_raises(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "def f(x):\n"
        "    try:\n"
        "        g()\n"
        "    except OSError:\n"
        "        raise\n"
        "    if x:\n"
        "        raise ValueError('bad')\n"
        "    if x is None:\n"
        "        raise InvalidInputError('bad', fix='f') from None\n"
        "    raise KeyError\n"
    )
    assert _builtin_raises(sample) == [
        "sample.py:7: raise ValueError",
        "sample.py:10: raise KeyError",
    ]


def test_no_builtin_exception_is_raised_in_src():
    found = [
        f"{path.relative_to(SRC).parent}/{hit}"
        for path in sorted(SRC.rglob("*.py"))
        for hit in _builtin_raises(path)
    ]
    assert not found, "raise a radinpaint.errors class instead:\n" + "\n".join(found)


def _is_helpful(exc: RadinpaintError) -> None:
    assert isinstance(exc, RadinpaintError)
    assert exc.fix, f"no fix in {exc}"


def test_segment_hand_rejects_a_bare_array():
    from radinpaint.masks.anatomy import segment_hand

    with pytest.raises(RadinpaintError, match="segment_hand") as info:
        segment_hand(np.zeros((64, 64), np.float32))  # type: ignore[arg-type]
    _is_helpful(info.value)
    assert "ndarray" in str(info.value)


def test_region_mask_needs_a_box_or_a_polygon():
    from radinpaint.masks.scoring import region_mask

    with pytest.raises(InvalidInputError, match="box or a polygon") as info:
        region_mask((4, 4))
    _is_helpful(info.value)
    assert isinstance(info.value, ValueError)


def test_gan_model_options_raise_invalid_input():
    pytest.importorskip("torch")
    from radinpaint.inpainters.gan.model import (
        DEFAULT_DISCRIMINATOR_CONFIG,
        DEFAULT_GENERATOR_CONFIG,
        GatedUNet,
        build_discriminator,
        build_generator,
    )

    with pytest.raises(InvalidInputError, match="unknown coarse fill") as info:
        GatedUNet(coarse="blur")
    _is_helpful(info.value)
    assert info.value.available == ("push-pull", "telea")
    with pytest.raises(InvalidInputError, match="depth"):
        GatedUNet(depth=0)
    with pytest.raises(InvalidInputError, match="generator arch") as info:
        build_generator({**DEFAULT_GENERATOR_CONFIG, "arch": "resnet"})
    _is_helpful(info.value)
    with pytest.raises(InvalidInputError, match="in_channels=3"):
        build_generator({**DEFAULT_GENERATOR_CONFIG, "in_channels": 1})
    with pytest.raises(InvalidInputError, match="discriminator arch") as info:
        build_discriminator({**DEFAULT_DISCRIMINATOR_CONFIG, "arch": "vgg"})
    _is_helpful(info.value)


def test_gan_holes_reject_unknown_kinds():
    from radinpaint.inpainters.gan.holes import ALL_HOLE_KINDS, random_holes

    rng = np.random.default_rng(0)
    with pytest.raises(InvalidInputError, match="unknown hole kinds") as info:
        random_holes((32, 32), rng, kinds=("plate", "blob"))
    _is_helpful(info.value)
    assert info.value.available == tuple(ALL_HOLE_KINDS)
    with pytest.raises(InvalidInputError):
        random_holes((32, 32), rng, kinds=())


def test_as_case_rejects_other_objects():
    from radinpaint.protocols import as_case

    with pytest.raises(RadinpaintError, match="Case or Radiograph") as info:
        as_case("image.png", 3)  # type: ignore[arg-type]
    _is_helpful(info.value)
    image = Radiograph(np.zeros((2, 2), np.float32), source="a.png")
    assert as_case(image).id == "a.png"


def test_ensemble_manifest_of_another_format_is_a_checkpoint_error(tmp_path):
    from radinpaint.predictors.checkpoint import ENSEMBLE_FORMAT, load_ensemble

    (tmp_path / "ensemble.json").write_text(json.dumps({"format": "other/1", "members": []}))
    with pytest.raises(CheckpointError, match=r"'other/1'") as info:
        load_ensemble(tmp_path)
    _is_helpful(info.value)
    assert ENSEMBLE_FORMAT in str(info.value)


def test_check_inpainter_needs_two_images():
    from radinpaint.testing import check_inpainter, sample_images

    class Noop:
        name = "noop"

        def inpaint(self, requests):
            return []

    with pytest.raises(InvalidInputError, match="two images") as info:
        check_inpainter(Noop(), images=sample_images()[:1])
    _is_helpful(info.value)
