"""``radinpaint inpaint``: outputs, sidecars, cache reuse, failures reported."""

from __future__ import annotations

import json

import numpy as np
import pytest

from radinpaint import hookimpl
from radinpaint.cli import main
from radinpaint.cli.inpaint import parse_options
from radinpaint.errors import InvalidInputError
from radinpaint.inpainters.classical import TeleaInpainter
from radinpaint.io import read_image, write_image, write_mask
from radinpaint.plugins import get_plugin_manager

from ._helpers import box_mask, radiograph

CALLS: list[int] = []


class CountingTelea(TeleaInpainter):
    """Telea that counts how many requests reach it."""

    name = "counting-telea"

    def inpaint(self, requests):
        CALLS.append(len(requests))
        for r in requests:
            if r.case_id == "broken":
                raise RuntimeError("this backend cannot handle the image called broken")
        return super().inpaint(requests)


class _Plugin:
    @hookimpl
    def radinpaint_register_inpainters(self, register):
        register("counting-telea", CountingTelea, summary="test backend")


@pytest.fixture
def counting():
    CALLS.clear()
    get_plugin_manager().register(_Plugin(), name="test-counting")
    return CALLS


@pytest.fixture
def files(tmp_path):
    src = tmp_path / "in"
    masks = tmp_path / "masks"
    for i, (bits, shape) in enumerate([(16, (40, 50)), (8, (30, 30))]):
        img = radiograph(shape, bits, seed=i)
        write_image(src / f"img{i}.png", img)
        write_mask(masks / f"img{i}.png", box_mask(shape, (5, 15, 5, 20)))
    return src, masks


def test_parse_options_reads_json_values():
    opts = parse_options(["radius=5", "name=gpt-image-1", "flag=true", "sizes=[1,2]", "x="])
    assert opts == {"radius": 5, "name": "gpt-image-1", "flag": True, "sizes": [1, 2], "x": ""}
    with pytest.raises(InvalidInputError, match="KEY=VALUE"):
        parse_options(["radius"])


def test_inpaint_writes_outputs_at_bit_depth_with_sidecars(tmp_path, files, capsys):
    src, masks = files
    out = tmp_path / "out"
    argv = [
        str(src / "img0.png"),
        str(src / "img1.png"),
        "--backend",
        "telea",
        "--masks",
        str(masks),
        "--variants",
        "2",
        "--seed",
        "7",
        "--option",
        "radius=5",
        "--out",
        str(out),
    ]
    assert main(["inpaint", *argv]) == 0
    for i, bits in enumerate((16, 8)):
        original = read_image(src / f"img{i}.png")
        mask = box_mask(original.shape, (5, 15, 5, 20))
        for k in range(2):
            res = read_image(out / f"img{i}_telea_v{k}.png")
            assert res.bit_depth == bits and res.shape == original.shape
            assert np.array_equal(res.to_uint()[~mask.array], original.to_uint()[~mask.array])
            side = json.loads((out / f"img{i}_telea_v{k}.json").read_text())
            assert side["result"]["options"]["radius"] == 5.0
            assert side["result"]["variant"] == k and side["result"]["backend"] == "telea"
            assert side["input"].endswith(f"img{i}.png") and len(side["cache_key"]) == 64
            assert side["mask"]["fraction"] > 0
    assert "4 output(s) written" in capsys.readouterr().out


def test_repeating_the_command_computes_nothing_new(tmp_path, files, counting):
    src, masks = files
    argv = [
        "inpaint",
        str(src),
        "--backend",
        "counting-telea",
        "--masks",
        str(masks),
        "--variants",
        "3",
        "--out",
        str(tmp_path / "out"),
    ]
    assert main(argv) == 0
    assert counting == [6]  # one batched call for 2 images x 3 variants
    first = (tmp_path / "out" / "img0_counting-telea_v2.png").read_bytes()
    assert main(argv) == 0
    assert counting == [6]  # all from the cache
    assert (tmp_path / "out" / "img0_counting-telea_v2.png").read_bytes() == first
    assert main([*argv[:-2], "--variants", "4", "--out", str(tmp_path / "out")]) == 0
    assert counting == [6, 2]  # only the new variant of each image
    assert main([*argv, "--no-cache"]) == 0
    assert counting == [6, 2, 6]


def test_custom_cache_dir_and_mask_beside_image(tmp_path, counting):
    img = radiograph((30, 40), 16)
    write_image(tmp_path / "scan.png", img)
    write_mask(tmp_path / "scan_mask.png", box_mask(img.shape, (2, 9, 3, 12)))
    argv = [
        "inpaint",
        str(tmp_path / "scan.png"),
        "--backend",
        "counting-telea",
        "--cache",
        str(tmp_path / "c"),
        "--out",
        str(tmp_path / "o1"),
    ]
    assert main(argv) == 0
    assert main([*argv[:-1], str(tmp_path / "o2")]) == 0
    assert counting == [1]  # the shared cache answered the second run
    assert (tmp_path / "o2" / "scan_counting-telea_v0.png").exists()


def test_a_failed_image_is_reported_and_the_others_still_run(tmp_path, files, counting, capsys):
    src, masks = files
    (src / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    broken = radiograph((30, 30), 16, seed=9)
    write_image(src / "broken.png", broken)
    write_mask(masks / "broken.png", box_mask(broken.shape, (1, 5, 1, 5)))
    write_image(src / "nomask.png", broken)
    out = tmp_path / "out"
    code = main(
        [
            "inpaint",
            str(src),
            "--backend",
            "counting-telea",
            "--masks",
            str(masks),
            "--out",
            str(out),
        ]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert "corrupt.png" in err and "broken.png" in err and "nomask.png" in err
    assert (out / "img0_counting-telea_v0.png").exists()
    assert (out / "img1_counting-telea_v0.png").exists()
    assert not (out / "broken_counting-telea_v0.png").exists()


def test_full_mask_with_classical_backend_fails_that_image_only(tmp_path, capsys):
    img = radiograph((20, 20), 16)
    write_image(tmp_path / "a.png", img)
    write_mask(tmp_path / "a_mask.png", box_mask(img.shape, (0, 20, 0, 20)))
    write_image(tmp_path / "b.png", img)
    write_mask(tmp_path / "b_mask.png", box_mask(img.shape, (2, 6, 2, 6)))
    code = main(
        [
            "inpaint",
            str(tmp_path / "a.png"),
            str(tmp_path / "b.png"),
            "--backend",
            "biharmonic",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert code == 1
    assert "whole image" in capsys.readouterr().err
    assert (tmp_path / "out" / "b_biharmonic_v0.png").exists()


def test_unknown_backend_and_bad_option_exit_2(tmp_path, files, capsys):
    src, _ = files
    assert main(["inpaint", str(src), "--backend", "nope", "--out", str(tmp_path)]) == 2
    assert "telea" in capsys.readouterr().err  # lists what exists
    code = main(
        ["inpaint", str(src), "--backend", "telea", "--option", "bogus=1", "--out", str(tmp_path)]
    )
    assert code == 2
    assert "bogus" in capsys.readouterr().err


def test_mask_provider_with_options(tmp_path, capsys):
    img = radiograph((20, 24), 12)
    write_image(tmp_path / "nomask.png", img)
    code = main(
        [
            "inpaint",
            str(tmp_path / "nomask.png"),
            "--backend",
            "telea",
            "--mask-provider",
            "ground-truth",
            "--mask-option",
            "missing=empty",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert code == 0
    side = json.loads((tmp_path / "out" / "nomask_telea_v0.json").read_text())
    assert side["result"]["flags"] == ["empty-mask"] and side["result"]["bit_depth"] == 12
    assert "empty-mask" in capsys.readouterr().out
