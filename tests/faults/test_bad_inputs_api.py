"""Every bad input a user might give the Python API: a clear error, raised at once.

Each catalogue entry builds its bad input under ``tmp_path`` and calls the API with it. The
call must raise a :class:`~radinpaint.errors.RadinpaintError` (of the class given), whose
message names the input (``token``: a path, a source, an option name) and whose ``fix`` is
set. Reads of a dataset are lazy per case, so one bad file among good ones fails only its
own case: the good cases still load (the tests after the catalogue).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from PIL import Image, PngImagePlugin
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

from radinpaint import Case, InpaintRequest, Mask, Radiograph, get_inpainter
from radinpaint.datasets import load_folder, load_rsna, open_dataset
from radinpaint.errors import (
    ImageReadError,
    InvalidInputError,
    RadinpaintError,
    ShapeMismatchError,
    UnknownOptionError,
    UnknownPluginError,
)
from radinpaint.io import read_image, read_mask, write_image, write_mask

pytestmark = pytest.mark.faults


# ----------------------------------------------------------------------------- helpers
def _png(path: Path, value: int = 40, shape=(12, 10)) -> Path:
    write_image(path, Radiograph.from_uint(np.full(shape, value, np.uint8), 8))
    return path


def _dicom(path: Path, pixels: np.ndarray, *, bits: int = 12, **attrs: Any) -> Path:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "DX"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    for key, value in attrs.items():
        setattr(ds, key, value)
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def _truncated(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _file(path: Path, content: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content)
    else:
        path.write_bytes(content)
    return path


def _png16_with_depth_text(path: Path, declared: int) -> Path:
    info = PngImagePlugin.PngInfo()
    info.add_text("radinpaint:bit_depth", str(declared))
    values = (np.arange(64 * 64, dtype=np.uint32) * 13 % 65536).astype(np.uint16)
    Image.fromarray(values.reshape(64, 64)).save(path, format="PNG", pnginfo=info)
    return path


def _float_tiff(path: Path, value: float) -> Path:
    Image.fromarray(np.full((4, 4), value, np.float32)).save(path)
    return path


def _corrupt_png(path: Path) -> Path:
    data = bytearray(_png(path, shape=(64, 64)).read_bytes())
    data[60:80] = b"\0" * 20
    path.write_bytes(bytes(data))
    return path


def _no_pixel_dicom(path: Path) -> Path:
    _dicom(path, np.zeros((4, 4), np.uint16))
    ds = pydicom.dcmread(path)
    del ds.PixelData
    ds.save_as(path)
    return path


def _radiograph(shape=(4, 5), source: str = "scan-7") -> Radiograph:
    return Radiograph(np.zeros(shape, np.float32), 8, source)


def _folder(tmp: Path, table: str | None = None, ids=("x1", "y2")) -> Path:
    folder = tmp / "data"
    for n, case_id in enumerate(ids):
        _png(folder / f"{case_id}.png", 20 + n)
    if table is not None:
        (folder / "labels.csv").write_text(table)
    return folder


def _request(**fields: Any) -> InpaintRequest:
    return InpaintRequest(_radiograph(), Mask.empty((4, 5)), case_id="case-3", **fields)


def _openai(**options: Any) -> Callable[[Path], object]:
    return lambda _: get_inpainter("openai", **options)


def _nothing(tmp: Path) -> Path:
    return tmp


# ----------------------------------------------------------------------------- catalogue
# (id, error class, token the message must name, setup: tmp_path -> arg, call: arg -> ...);
CATALOGUE: list[Any] = [
    # -- image files (docs/data.md: missing, empty, truncated, corrupt, wrong format)
    ("read-missing-file", ImageReadError, "no.png",
     lambda t: t / "no.png", read_image),
    ("read-empty-file", ImageReadError, "e.png",
     lambda t: _file(t / "e.png", b""), read_image),
    ("read-a-folder", ImageReadError, "sub",
     lambda t: _file(t / "sub" / "x.txt", "").parent, read_image),
    ("read-text-named-png", ImageReadError, "w.png",
     lambda t: _file(t / "w.png", "not an image " * 20), read_image),
    ("read-unknown-format", ImageReadError, "w.bin",
     lambda t: _file(t / "w.bin", b"\x01\x02" * 200), read_image),
    ("read-truncated-png", ImageReadError, "tr.png",
     lambda t: _truncated(_png(t / "tr.png", shape=(64, 64))), read_image),
    ("read-truncated-tiff", ImageReadError, "tr.tif",
     lambda t: _truncated(write_image(t / "tr.tif", Radiograph.from_uint(
         np.arange(64 * 64, dtype=np.uint16).reshape(64, 64), 16))), read_image),
    ("read-corrupt-png-body", ImageReadError, "c.png",
     lambda t: _corrupt_png(t / "c.png"), read_image),
    ("read-float-tiff", ImageReadError, "f.tif",
     lambda t: _float_tiff(t / "f.tif", 0.5), read_image),
    ("read-16bit-png-tagged-8bit", ImageReadError, "d8.png",
     lambda t: _png16_with_depth_text(t / "d8.png", 8), read_image),
    ("read-16bit-png-tagged-12bit-off-grid", ImageReadError, "d12.png",
     lambda t: _png16_with_depth_text(t / "d12.png", 12), read_image),
    # -- DICOM
    ("dicom-garbage-after-header", ImageReadError, "g.dcm",
     lambda t: _file(t / "g.dcm", b"\0" * 128 + b"DICM" + b"\xff" * 40), read_image),
    ("dicom-without-pixel-data", ImageReadError, "n.dcm",
     lambda t: _no_pixel_dicom(t / "n.dcm"), read_image),
    ("dicom-truncated-pixels", ImageReadError, "t.dcm",
     lambda t: _truncated(_dicom(t / "t.dcm", np.zeros((64, 64), np.uint16))), read_image),
    ("dicom-values-above-bits-stored", ImageReadError, "hb.dcm",
     lambda t: _dicom(t / "hb.dcm", np.array([[0, 5000]], np.uint16)), read_image),
    ("dicom-signed-values-above-bits-stored", ImageReadError, "hs.dcm",
     lambda t: _dicom(t / "hs.dcm", np.array([[-1, 3000]], np.int16).view(np.uint16),
                      PixelRepresentation=1), read_image),
    ("dicom-colour", ImageReadError, "rgb.dcm",
     lambda t: _dicom(t / "rgb.dcm", np.zeros((4, 4), np.uint16),
                      PhotometricInterpretation="PALETTE COLOR"), read_image),
    ("dicom-multi-frame", ImageReadError, "mf.dcm",
     lambda t: _dicom(t / "mf.dcm", np.zeros((8, 4), np.uint16), Rows=4, NumberOfFrames=2),
     read_image),
    # -- writing
    ("write-image-as-jpeg", InvalidInputError, "x.jpg",
     lambda t: t / "x.jpg", lambda p: write_image(p, _radiograph())),
    ("write-mask-as-tiff", InvalidInputError, "m.tif",
     lambda t: t / "m.tif", lambda p: write_mask(p, Mask.empty((2, 2)))),
    # -- masks
    ("read-mask-missing", ImageReadError, "m.png", lambda t: t / "m.png", read_mask),
    ("read-mask-float-tiff-nan", InvalidInputError, "fm.tif",
     lambda t: _float_tiff(t / "fm.tif", np.nan), read_mask),
    ("mask-from-nan", InvalidInputError, "seg-1",
     lambda t: np.full((3, 3), np.nan), lambda a: Mask.from_array(a, source="seg-1")),
    ("mask-from-inf", InvalidInputError, "seg-1",
     lambda t: np.array([[0, np.inf]]), lambda a: Mask.from_array(a, source="seg-1")),
    ("mask-from-negative-values", InvalidInputError, "seg-1",
     lambda t: np.array([[0.0, -1.0]]), lambda a: Mask.from_array(a, source="seg-1")),
    ("mask-nan-threshold", InvalidInputError, "seg-1",
     lambda t: np.zeros((2, 2)), lambda a: Mask.from_array(a, source="seg-1", threshold=np.nan)),
    ("mask-from-strings", InvalidInputError, "seg-1",
     lambda t: np.array([["a", "b"]]), lambda a: Mask.from_array(a, source="seg-1")),
    ("mask-3d", InvalidInputError, "seg-1",
     lambda t: np.zeros((2, 2, 2), bool), lambda a: Mask(a, "seg-1")),
    ("mask-not-boolean", InvalidInputError, "Mask(array)",
     lambda t: np.zeros((2, 2), np.uint8), Mask),
    ("mask-negative-dilation", InvalidInputError, "empty",
     lambda t: Mask.empty((2, 2)), lambda m: m.dilate(-1)),
    # -- radiographs (docs/data.md: NaN pixels, values outside [0, 1], bit depth, shape)
    ("radiograph-nan-pixels", InvalidInputError, "scan-7",
     lambda t: np.full((2, 2), np.nan, np.float32), lambda a: Radiograph(a, 8, "scan-7")),
    ("radiograph-pixels-above-1", InvalidInputError, "scan-7",
     lambda t: np.full((2, 2), 2.0, np.float32), lambda a: Radiograph(a, 8, "scan-7")),
    ("radiograph-colour-array", InvalidInputError, "scan-7",
     lambda t: np.zeros((2, 2, 3), np.float32), lambda a: Radiograph(a, 8, "scan-7")),
    ("radiograph-values-exceed-bit-depth", InvalidInputError, "scan-7",
     lambda t: np.array([[5000]], np.uint16),
     lambda a: Radiograph.from_uint(a, 12, source="scan-7")),
    ("radiograph-unsupported-bit-depth", InvalidInputError, "scan-7",
     lambda t: np.zeros((2, 2), np.float32), lambda a: Radiograph(a, 9, "scan-7")),
    ("radiograph-unknown-photometric", InvalidInputError, "scan-7",
     lambda t: np.zeros((2, 2), np.float32), lambda a: Radiograph(a, 8, "scan-7", "RGB")),
    ("case-mask-of-another-shape", ShapeMismatchError, "case-3",
     lambda t: Mask.empty((3, 3)),
     lambda m: Case(id="case-3", image=_radiograph(), artifact_mask=m)),
    # -- inpaint requests
    ("request-mask-of-another-shape", ShapeMismatchError, "case-3",
     lambda t: Mask.empty((3, 3)), lambda m: InpaintRequest(_radiograph(), m, case_id="case-3")),
    ("request-seed-string", InvalidInputError, "seed", _nothing, lambda _: _request(seed="abc")),
    ("request-seed-negative", InvalidInputError, "seed", _nothing, lambda _: _request(seed=-1)),
    ("request-seed-bool", InvalidInputError, "seed", _nothing, lambda _: _request(seed=True)),
    ("request-seed-float", InvalidInputError, "seed", _nothing, lambda _: _request(seed=1.5)),
    ("request-variant-negative", InvalidInputError, "variant",
     _nothing, lambda _: _request(variant=-1)),
    ("request-variant-string", InvalidInputError, "variant",
     _nothing, lambda _: _request(variant="0")),
    # -- backends and their options (docs/plugins.md; openai numeric options)
    ("unknown-inpainter", UnknownPluginError, "no-such-backend",
     _nothing, lambda _: get_inpainter("no-such-backend")),
    ("unknown-inpainter-option", UnknownOptionError, "bogus_option",
     _nothing, lambda _: get_inpainter("telea", bogus_option=1)),
    ("openai-timeout-string", InvalidInputError, "timeout", _nothing, _openai(timeout="x")),
    ("openai-timeout-zero", InvalidInputError, "timeout", _nothing, _openai(timeout=0)),
    ("openai-timeout-nan", InvalidInputError, "timeout", _nothing, _openai(timeout=np.nan)),
    ("openai-n-zero", InvalidInputError, "n", _nothing, _openai(n=0)),
    ("openai-n-fraction", InvalidInputError, "n", _nothing, _openai(n=2.5)),
    ("openai-n-string", InvalidInputError, "n", _nothing, _openai(n="x")),
    ("openai-max-retries-negative", InvalidInputError, "max_retries",
     _nothing, _openai(max_retries=-1)),
    ("openai-max-retries-fraction", InvalidInputError, "max_retries",
     _nothing, _openai(max_retries=1.5)),
    ("openai-max-concurrency-zero", InvalidInputError, "max_concurrency",
     _nothing, _openai(max_concurrency=0)),
    ("openai-max-concurrency-string", InvalidInputError, "max_concurrency",
     _nothing, _openai(max_concurrency="x")),
    ("openai-max-images-negative", InvalidInputError, "max_images",
     _nothing, _openai(max_images=-1)),
    ("openai-max-usd-negative", InvalidInputError, "max_usd", _nothing, _openai(max_usd=-1)),
    ("openai-max-usd-string", InvalidInputError, "max_usd", _nothing, _openai(max_usd="x")),
    ("openai-images-per-minute-zero", InvalidInputError, "images_per_minute",
     _nothing, _openai(images_per_minute=0)),
    ("openai-feather-negative", InvalidInputError, "feather", _nothing, _openai(feather=-1)),
    ("openai-prices-not-a-mapping", InvalidInputError, "prices", _nothing, _openai(prices="x")),
    ("openai-prices-missing-key", InvalidInputError, "prices",
     _nothing, _openai(prices={"text_input": 1})),
    ("openai-prices-not-numbers", InvalidInputError, "text_input",
     _nothing, _openai(prices={"text_input": "cheap", "image_input": 1, "image_output": 2})),
    # -- datasets (docs/data.md: missing images, labels that cannot be parsed)
    ("open-dataset-no-such-path", InvalidInputError, "nowhere",
     lambda t: t / "nowhere", open_dataset),
    ("load-folder-no-such-folder", InvalidInputError, "nowhere",
     lambda t: t / "nowhere", load_folder),
    ("load-folder-without-images", InvalidInputError, "empty",
     lambda t: _file(t / "empty" / "notes.txt", "no images").parent, load_folder),
    ("load-rsna-no-such-table", InvalidInputError, "train.csv",
     lambda t: t / "train.csv", load_rsna),
    ("load-rsna-not-an-rsna-table", InvalidInputError, "t.csv",
     lambda t: _file(t / "t.csv", "foo,bar\n1,2\n"), load_rsna),
    ("label-bone-age-not-a-number", InvalidInputError, "row 2",
     lambda t: _folder(t, "id,boneage,male\nx1,old,True\ny2,5,True\n"), open_dataset),
    ("label-bone-age-negative", InvalidInputError, "row 3",
     lambda t: _folder(t, "id,boneage,male\nx1,4,True\ny2,-5,True\n"), open_dataset),
    ("label-sex-unparseable", InvalidInputError, "row 2",
     lambda t: _folder(t, "id,boneage,male\nx1,4,maybe\ny2,5,True\n"), open_dataset),
    ("labels-list-missing-images", InvalidInputError, "labels.csv",
     lambda t: _folder(t, "id,boneage,male\nx1,4,True\nz9,5,True\n"), open_dataset),
    ("labels-without-id-column", InvalidInputError, "labels.csv",
     lambda t: _folder(t, "name,boneage\nx1,4\n"), open_dataset),
    ("labels-empty-case-id", InvalidInputError, "row 2",
     lambda t: _folder(t, "image_id,bone_age_months\n,4\n"), open_dataset),
    ("labels-repeat-an-id", InvalidInputError, "folder:data",
     lambda t: _folder(t, "image_id,bone_age_months\nx1,4\nx1,5\n"), open_dataset),
    ("labels-unreadable-table", InvalidInputError, "labels.csv",
     lambda t: _file(_folder(t) / "labels.csv", b"\xff\xfe\x00\x81" * 50).parent, open_dataset),
    ("folder-with-two-tables", InvalidInputError, "data",
     lambda t: _file(_file(_folder(t) / "a.csv", "id\nx1\n").parent / "b.csv", "id\nx1\n").parent,
     open_dataset),
    ("folder-id-found-twice", InvalidInputError, "x1.png",
     lambda t: _png(_folder(t) / "more" / "x1.png").parent.parent, load_folder),
    ("folder-masks-dir-missing", InvalidInputError, "nomasks",
     _folder, lambda d: load_folder(d, masks_dir=d / "nomasks")),
    ("load-rsna-bad-missing-option", InvalidInputError, "labels.csv",
     lambda t: _folder(t, "id,boneage,male\nx1,4,True\n") / "labels.csv",
     lambda p: load_rsna(p, missing="ignore")),
    ("dataset-subset-unknown-id", InvalidInputError, "folder:data",
     _folder, lambda d: load_folder(d).subset(["nope"])),
    ("dataset-mask-of-another-shape", ShapeMismatchError, "x1",
     lambda t: write_mask(_folder(t) / "masks" / "x1.png", Mask.empty((3, 3))).parent.parent,
     lambda d: load_folder(d)[0]),
    ("dataset-corrupt-image", ImageReadError, "x1.png",
     lambda t: _file(_folder(t) / "x1.png", b"\x89PNG\r\n\x1a\n" + b"0" * 9).parent,
     lambda d: load_folder(d)[0]),
]  # fmt: skip


def _values(entry: Any) -> tuple[Any, ...]:
    """An entry's fields, whether a plain tuple or a ``pytest.param``."""
    return tuple(entry.values) if hasattr(entry, "marks") else tuple(entry)


def _param(entry: Any) -> Any:
    values = _values(entry)
    return pytest.param(*values, id=values[0], marks=getattr(entry, "marks", ()))


@pytest.mark.parametrize(
    ("name", "error", "token", "setup", "call"), [_param(e) for e in CATALOGUE]
)
def test_bad_input_gets_a_clear_error(tmp_path, name, error, token, setup, call):
    argument = setup(tmp_path)  # outside pytest.raises: a broken setup is no pass
    with pytest.raises(RadinpaintError) as info:
        call(argument)
    exc = info.value
    assert isinstance(exc, error), f"{name}: {type(exc).__name__} is not a {error.__name__}"
    assert token in str(exc), f"{name}: the message does not name {token!r}: {exc}"
    assert exc.fix, f"{name}: no fix in {exc}"
    assert "\n" not in str(exc)


def test_catalogue_ids_are_unique():
    names = [_values(e)[0] for e in CATALOGUE]
    assert len(names) == len(set(names))


# ----------------------------------------------------------------------------- batches
def test_one_corrupt_file_in_a_folder_leaves_the_good_cases_readable(tmp_path):
    folder = tmp_path / "data"
    for n, case_id in enumerate(["a1", "b2", "c3", "d4"]):
        _png(folder / f"{case_id}.png", 10 * (n + 1))
    bad = folder / "b2.png"
    _truncated(_png(bad, shape=(64, 64)))
    dataset = load_folder(folder)
    assert dataset.ids == ["a1", "b2", "c3", "d4"]  # listing reads no pixels: all are listed
    good, failed = {}, {}
    for i, case_id in enumerate(dataset.ids):
        try:
            good[case_id] = int(dataset[i].image.to_uint()[0, 0])
        except RadinpaintError as exc:
            failed[case_id] = exc
    assert good == {"a1": 10, "c3": 30, "d4": 40}
    assert list(failed) == ["b2"]
    assert isinstance(failed["b2"], ImageReadError)
    assert str(bad) in str(failed["b2"]) and failed["b2"].fix


def test_labelled_dataset_with_one_bad_image_keeps_labels_and_good_cases(tmp_path):
    folder = tmp_path / "data"
    for n, case_id in enumerate(["p1", "z2", "z3"]):
        _png(folder / f"{case_id}.png", 10 * (n + 1))
    (folder / "z2.png").write_bytes(b"not a png at all " * 10)
    write_mask(folder / "masks" / "z3.png", Mask(np.eye(12, 10, dtype=bool)))
    (folder / "labels.csv").write_text("id,boneage,male\np1,100,True\nz2,50,False\nz3,70,True\n")
    dataset = open_dataset(folder)
    assert dataset.labels["bone_age_months"].tolist() == [100.0, 50.0, 70.0]
    with pytest.raises(ImageReadError, match=r"z2\.png"):
        dataset[1]
    first, third = dataset[0], dataset[2]
    assert (first.id, first.bone_age_months, int(first.image.to_uint()[0, 0])) == ("p1", 100.0, 10)
    assert third.artifact_mask is not None and third.artifact_mask.array.sum() == 10
    assert third.image.source == str(folder / "z3.png")


def test_a_bad_file_in_a_side_folder_fails_only_its_case(tmp_path):
    folder = tmp_path / "data"
    for case_id in ("a1", "b2"):
        _png(folder / f"{case_id}.png")
        write_mask(folder / "masks" / f"{case_id}.png", Mask(np.eye(12, 10, dtype=bool)))
    (folder / "masks" / "a1.png").write_bytes(b"")
    dataset = load_folder(folder)
    with pytest.raises(ImageReadError, match=r"a1\.png") as info:
        dataset[0]
    assert "masks" in str(info.value) and info.value.fix
    assert dataset[1].artifact_mask is not None
