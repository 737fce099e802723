"""DICOM files made with pydicom: windowing, MONOCHROME1, depth, and no metadata leak."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

from radinpaint.errors import ImageReadError
from radinpaint.io import read_image, write_image


def make_dicom(path, pixels, *, bits=12, photometric="MONOCHROME2", **attrs):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientName = "Secret^Patient"
    ds.PatientID = "ID-12345"
    ds.Modality = "DX"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = 16
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    for key, value in attrs.items():
        setattr(ds, key, value)
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.fixture
def ramp12():
    return (np.arange(64 * 64).reshape(64, 64) % 4096).astype(np.uint16)


def test_twelve_bit_without_window_maps_full_range(tmp_path, ramp12):
    image = read_image(make_dicom(tmp_path / "a.dcm", ramp12))
    assert image.bit_depth == 12
    assert image.photometric == "MONOCHROME2"
    np.testing.assert_array_equal(image.to_uint(), ramp12)


def test_monochrome1_is_inverted(tmp_path, ramp12):
    image = read_image(make_dicom(tmp_path / "a.dcm", ramp12, photometric="MONOCHROME1"))
    assert image.photometric == "MONOCHROME1"
    np.testing.assert_array_equal(image.to_uint(), 4095 - ramp12)


def test_voi_window_is_applied(tmp_path, ramp12):
    path = make_dicom(tmp_path / "w.dcm", ramp12, WindowCenter=2048, WindowWidth=1024)
    image = read_image(path)
    flat = image.pixels.ravel()
    raw = ramp12.ravel()
    assert np.all(flat[raw < 1536] == 0.0)
    assert np.all(flat[raw > 2560] == 1.0)
    inside = (raw > 1600) & (raw < 2500)
    assert np.all(np.diff(flat[inside][np.argsort(raw[inside])]) >= 0)
    unwindowed = read_image(path, window=False)
    np.testing.assert_array_equal(unwindowed.to_uint(), ramp12)


def test_rescale_slope_and_intercept(tmp_path):
    raw = np.array([[0, 100], [200, 300]], dtype=np.uint16)
    path = make_dicom(tmp_path / "r.dcm", raw, bits=10, RescaleSlope=2, RescaleIntercept=-50)
    image = read_image(path)
    # modality range is 2*[0, 1023] - 50; values map linearly into it
    expected = (raw * 2.0 - 50 - (-50)) / (2 * 1023)
    np.testing.assert_allclose(image.pixels, expected, atol=1e-6)
    assert image.bit_depth == 10


def test_sixteen_bit_kept_and_written_back(tmp_path):
    raw = np.array([[0, 1, 65534, 65535]], dtype=np.uint16)
    image = read_image(make_dicom(tmp_path / "s.dcm", raw, bits=16))
    assert image.bit_depth == 16
    np.testing.assert_array_equal(image.to_uint(), raw)
    out = write_image(tmp_path / "s.png", image)
    np.testing.assert_array_equal(read_image(out).to_uint(), raw)


def test_no_metadata_flows_into_outputs(tmp_path, ramp12):
    image = read_image(make_dicom(tmp_path / "p.dcm", ramp12))
    out = write_image(tmp_path / "out.png", image)
    data = out.read_bytes()
    assert b"Secret" not in data and b"ID-12345" not in data
    assert "Secret" not in repr(image)


def test_dicom_without_pixels_and_garbage(tmp_path, ramp12):
    path = make_dicom(tmp_path / "n.dcm", ramp12)
    ds = pydicom.dcmread(path)
    del ds.PixelData
    ds.save_as(path)
    with pytest.raises(ImageReadError, match="no pixel data"):
        read_image(path)
    bad = tmp_path / "g.dcm"
    bad.write_bytes(b"\0" * 128 + b"DICM" + b"\xff" * 40)
    with pytest.raises(ImageReadError, match=r"g\.dcm"):
        read_image(bad)


def test_truncated_dicom_pixels(tmp_path, ramp12):
    path = make_dicom(tmp_path / "t.dcm", ramp12)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 3000])
    with pytest.raises(ImageReadError, match=r"t\.dcm"):
        read_image(path)


def test_values_above_bits_stored_are_refused_not_masked(tmp_path):
    raw = np.array([[0, 100], [4095, 5000]], dtype=np.uint16)  # 5000 needs 13 bits
    path = make_dicom(tmp_path / "hb.dcm", raw, bits=12)
    with pytest.raises(ImageReadError, match="BitsStored") as info:
        read_image(path)
    error = info.value
    assert str(path) in str(error)
    assert "5000" in str(error) and "4095" in str(error)
    assert error.fix and "BitsStored" in error.fix


def test_signed_values_outside_bits_stored_are_refused(tmp_path):
    raw = np.array([[0, 100], [-1, 3000]], dtype=np.int16)  # 3000 > 2047, sign-extended -1
    path = make_dicom(tmp_path / "s.dcm", raw.view(np.uint16), bits=12, PixelRepresentation=1)
    with pytest.raises(ImageReadError, match=r"s\.dcm"):
        read_image(path)


@pytest.mark.parametrize("padding", ["sign-extended", "zero-padded"])
def test_signed_twelve_bit_values_in_either_padding_read(tmp_path, padding):
    values = np.array([[-2048, -1], [0, 2047]], dtype=np.int16)
    stored = values.view(np.uint16)
    if padding == "zero-padded":  # the unused high bits left 0, as the standard allows
        stored = stored & 0x0FFF
    path = make_dicom(tmp_path / "p.dcm", stored, bits=12, PixelRepresentation=1)
    image = read_image(path, window=False)
    np.testing.assert_allclose(image.pixels, (values + 2048) / 4095, atol=1e-6)
