"""Folders with ``masks/`` and ``clean/`` beside the images: each case reads its own image.

The side folders hold files named exactly like the images, so a loader that looked for
``<id>.png`` anywhere below the folder could take ``clean/<id>.png`` (or ``masks/<id>.png``)
for the case's image. Ids here sort after ``clean`` and ``masks`` on purpose.
"""

from __future__ import annotations

import numpy as np
import pytest

from radinpaint.cli import main
from radinpaint.datasets import load_folder, load_rsna, open_dataset
from radinpaint.errors import InvalidInputError
from radinpaint.io import read_image, read_mask, write_image, write_mask
from radinpaint.records import Mask, Radiograph


def _write(path, value: int, shape=(12, 10)) -> None:
    write_image(path, Radiograph.from_uint(np.full(shape, value, np.uint8), 8))


@pytest.fixture(scope="module")
def phantom_folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("phantoms") / "P"
    argv = ["phantoms", "--n", "3", "--size", "64", "--seed", "0", "--out", str(out)]
    assert main(argv) == 0
    return out


def _check_phantom_cases(dataset, out) -> None:
    assert len(dataset) == 3
    assert sorted(dataset.ids) == sorted(p.stem for p in out.glob("*.png"))
    assert all(i > "masks" for i in dataset.ids)  # the ids sort after the side folders
    for case in dataset:
        expected = out / f"{case.id}.png"
        assert case.image.source == str(expected)
        np.testing.assert_array_equal(case.image.to_uint(), read_image(expected).to_uint())
        assert case.artifact_mask is not None and case.clean_image is not None
        assert case.artifact_mask.source == str(out / "masks" / f"{case.id}.png")
        assert case.clean_image.source == str(out / "clean" / f"{case.id}.png")
        mask = read_mask(out / "masks" / f"{case.id}.png").array
        assert mask.any()
        np.testing.assert_array_equal(case.artifact_mask.array, mask)
        # the artifact image differs from the clean copy inside the mask
        assert not np.array_equal(case.image.to_uint(), case.clean_image.to_uint())


def test_open_dataset_reads_the_artifact_images_of_a_phantoms_folder(phantom_folder):
    dataset = open_dataset(phantom_folder)
    _check_phantom_cases(dataset, phantom_folder)
    assert all(case.bone_age_months is not None for case in dataset)


def test_open_dataset_on_the_table_of_a_phantoms_folder(phantom_folder):
    _check_phantom_cases(open_dataset(phantom_folder / "labels.csv"), phantom_folder)


def test_load_folder_finds_the_images_of_a_phantoms_folder(phantom_folder):
    _check_phantom_cases(load_folder(phantom_folder), phantom_folder)
    labelled = load_folder(phantom_folder, phantom_folder / "labels.csv")
    _check_phantom_cases(labelled, phantom_folder)


def test_load_rsna_skips_the_side_folders(phantom_folder):
    dataset = load_rsna(phantom_folder / "labels.csv")
    for case in dataset:
        assert case.image.source == str(phantom_folder / f"{case.id}.png")


def test_open_dataset_without_clean_folder_does_not_read_the_masks(tmp_path):
    for n, case_id in enumerate(["p1", "z2"]):
        _write(tmp_path / f"{case_id}.png", 100 + n)
        write_mask(tmp_path / "masks" / f"{case_id}.png", Mask(np.eye(12, 10, dtype=bool)))
    (tmp_path / "labels.csv").write_text("id,boneage,male\np1,100,True\nz2,50,False\n")
    dataset = open_dataset(tmp_path)
    assert [c.image.source for c in dataset] == [str(tmp_path / "p1.png"), str(tmp_path / "z2.png")]
    assert [int(c.image.to_uint()[0, 0]) for c in dataset] == [100, 101]
    assert all(c.artifact_mask is not None and c.artifact_mask.array.sum() == 10 for c in dataset)


def test_explicit_side_folders_below_the_root_are_not_cases(tmp_path):
    _write(tmp_path / "x1.png", 7)
    write_mask(tmp_path / "seg" / "x1.png", Mask(np.eye(12, 10, dtype=bool)))
    _write(tmp_path / "orig" / "x1.png", 9)
    dataset = load_folder(tmp_path, masks_dir=tmp_path / "seg", clean_dir=tmp_path / "orig")
    assert dataset.ids == ["x1"]
    case = dataset[0]
    assert case.image.source == str(tmp_path / "x1.png")
    assert case.artifact_mask is not None and case.artifact_mask.array.sum() == 10
    assert case.clean_image is not None and int(case.clean_image.to_uint()[0, 0]) == 9
    (tmp_path / "labels.csv").write_text("id,boneage,male\nx1,100,True\n")
    via_table = open_dataset(tmp_path, masks_dir=tmp_path / "seg", clean_dir=tmp_path / "orig")
    assert via_table[0].image.source == str(tmp_path / "x1.png")


@pytest.mark.parametrize("labelled", [False, True])
def test_an_id_found_twice_is_an_error_not_a_silent_pick(tmp_path, labelled):
    _write(tmp_path / "a" / "x1.png", 1)
    _write(tmp_path / "b" / "x1.png", 2)
    _write(tmp_path / "y2.png", 3)
    if labelled:
        (tmp_path / "labels.csv").write_text("id,boneage,male\nx1,100,True\ny2,50,False\n")
    with pytest.raises(InvalidInputError, match="x1") as info:
        open_dataset(tmp_path)
    error = info.value
    assert str(tmp_path / "a" / "x1.png") in str(error)
    assert str(tmp_path / "b" / "x1.png") in str(error)
    assert error.fix


def test_same_stem_with_two_extensions_is_ambiguous(tmp_path):
    _write(tmp_path / "x1.png", 1)
    _write(tmp_path / "x1.tif", 2)
    with pytest.raises(InvalidInputError, match="x1"):
        load_folder(tmp_path)


def test_a_duplicate_the_table_does_not_use_is_harmless(tmp_path):
    _write(tmp_path / "x1.png", 1)
    _write(tmp_path / "a" / "spare.png", 2)
    _write(tmp_path / "b" / "spare.png", 3)
    (tmp_path / "labels.csv").write_text("id,boneage,male\nx1,100,True\n")
    assert open_dataset(tmp_path).ids == ["x1"]


def test_an_ambiguous_mask_is_an_error(tmp_path):
    _write(tmp_path / "x1.png", 1)
    write_mask(tmp_path / "masks" / "x1.png", Mask(np.eye(12, 10, dtype=bool)))
    _write(tmp_path / "masks" / "x1.tif", 255)
    with pytest.raises(InvalidInputError, match="x1"):
        load_folder(tmp_path)


def test_hidden_files_are_not_images(tmp_path):
    _write(tmp_path / "x1.png", 1)
    (tmp_path / "._x1.png").write_bytes(b"\0\5\26\7 resource fork")  # macOS AppleDouble
    _write(tmp_path / ".cache" / "x1.png", 2)
    dataset = load_folder(tmp_path)
    assert dataset.ids == ["x1"]
    assert dataset[0].image.source == str(tmp_path / "x1.png")
