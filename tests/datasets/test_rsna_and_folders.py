"""RSNA layouts, folder datasets, laziness and clear errors."""

from __future__ import annotations

import numpy as np
import pytest

import radinpaint.io as rio
from radinpaint.datasets import load_folder, load_rsna, open_dataset
from radinpaint.errors import InvalidInputError
from radinpaint.io import write_image, write_mask
from radinpaint.records import Mask, Radiograph


def _write_images(folder, ids, depth=8):
    folder.mkdir(parents=True, exist_ok=True)
    for n, case_id in enumerate(ids):
        pixels = np.full((12, 10), (n + 1) * 10 % 256, dtype=np.uint8)
        write_image(folder / f"{case_id}.png", Radiograph.from_uint(pixels, depth))


LAYOUTS = {
    "training": "id,boneage,male\n1377,180,False\n1378,12,True\n",
    "validation": "Image ID,male,Bone Age (months)\n1377,FALSE,180\n1378,TRUE,12\n",
    "test": "Case ID,Sex,Ground truth bone age (months)\n1377,F,180\n1378,M,12\n",
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_every_rsna_layout(tmp_path, layout):
    _write_images(tmp_path / "images" / "nested", ["1377", "1378"])
    csv = tmp_path / f"{layout}.csv"
    csv.write_text(LAYOUTS[layout])
    ds = load_rsna(csv, tmp_path / "images")
    assert len(ds) == 2
    assert ds.name.startswith(f"rsna-{layout}")
    first, second = ds[0], ds[1]
    assert (first.id, first.bone_age_months, first.male) == ("1377", 180.0, False)
    assert (second.id, second.bone_age_months, second.male) == ("1378", 12.0, True)
    assert int(second.image.to_uint()[0, 0]) == 20


def test_open_dataset_detects_rsna_and_attaches_masks(tmp_path):
    _write_images(tmp_path, ["a", "b"])
    write_mask(tmp_path / "masks" / "a.png", Mask(np.eye(12, 10, dtype=bool)))
    (tmp_path / "labels.csv").write_text("id,boneage,male\na,100,True\nb,50,False\n")
    ds = open_dataset(tmp_path)
    assert ds[0].artifact_mask is not None and ds[0].artifact_mask.array.sum() == 10
    assert ds[1].artifact_mask is None


def test_datasets_are_lazy(tmp_path, monkeypatch):
    _write_images(tmp_path, [str(i) for i in range(30)])
    calls = []
    original = rio.read_image
    monkeypatch.setattr(rio, "read_image", lambda p, **k: calls.append(p) or original(p, **k))
    ds = load_folder(tmp_path)
    assert len(ds) == 30 and calls == []
    sub = ds[5:8]
    assert len(sub) == 3 and calls == []
    assert sub[0].id == ds.ids[5]
    assert len(calls) == 1


def test_missing_images_error_or_skip(tmp_path):
    _write_images(tmp_path, ["1"])
    (tmp_path / "t.csv").write_text("id,boneage,male\n1,10,True\n2,20,False\n")
    with pytest.raises(InvalidInputError, match="not found") as info:
        load_rsna(tmp_path / "t.csv")
    assert "missing='skip'" in str(info.value)
    assert load_rsna(tmp_path / "t.csv", missing="skip").ids == ["1"]


def test_bad_labels_name_the_row(tmp_path):
    _write_images(tmp_path, ["1", "2"])
    (tmp_path / "t.csv").write_text("Case ID,Sex,Ground truth bone age (months)\n1,M,10\n2,X,20\n")
    with pytest.raises(InvalidInputError, match="row 3"):
        load_rsna(tmp_path / "t.csv")
    (tmp_path / "t.csv").write_text("id,boneage,male\n1,-5,True\n")
    with pytest.raises(InvalidInputError, match="impossible"):
        load_rsna(tmp_path / "t.csv", missing="skip")


def test_labels_may_be_missing(tmp_path):
    _write_images(tmp_path, ["1", "2"])
    (tmp_path / "t.csv").write_text("id,boneage,male\n1,,\n2,30,True\n")
    ds = load_rsna(tmp_path / "t.csv")
    assert ds[0].bone_age_months is None and ds[0].male is None
    from radinpaint.errors import MissingLabelError

    with pytest.raises(MissingLabelError, match="case 1"):
        ds[0].require_labels()


def test_not_an_rsna_table(tmp_path):
    (tmp_path / "t.csv").write_text("foo,bar\n1,2\n")
    with pytest.raises(InvalidInputError, match="not an RSNA"):
        load_rsna(tmp_path / "t.csv")


def test_folder_with_generic_labels_and_duplicates(tmp_path):
    _write_images(tmp_path, ["x", "y"])
    (tmp_path / "labels.csv").write_text("image_id,bone_age_months,sex\nx,12.5,female\ny,7,male\n")
    ds = open_dataset(tmp_path)
    assert [(c.id, c.bone_age_months, c.male) for c in ds] == [("x", 12.5, False), ("y", 7.0, True)]
    with pytest.raises(InvalidInputError, match="unique"):
        ds.subset(["x", "x"])


def test_two_tables_in_a_folder_is_ambiguous(tmp_path):
    _write_images(tmp_path, ["x"])
    (tmp_path / "a.csv").write_text("id\nx\n")
    (tmp_path / "b.csv").write_text("id\nx\n")
    with pytest.raises(InvalidInputError, match="which one"):
        open_dataset(tmp_path)


def test_real_samples(rsna_samples):
    ds = open_dataset(rsna_samples / "labels.csv")
    assert len(ds) == 41
    labels = ds.labels.set_index("id")
    assert labels.loc["10186", "bone_age_months"] == 10.0
    assert bool(labels.loc["10186", "male"]) is True
    case = ds.subset(["1381_small"])[0] if "1381_small" in ds.ids else ds[0]
    assert case.image.bit_depth == 8
    hands = load_folder(rsna_samples / "hands-only")
    assert len(hands) == 33 and hands[0].bone_age_months is None
