"""Round trips at every bit depth, format detection and clear errors for bad files."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from radinpaint.errors import ImageReadError, InvalidInputError
from radinpaint.io import read_image, read_mask, write_image, write_mask
from radinpaint.records import Mask, Radiograph


def _ramp(depth: int, shape=(37, 53)) -> Radiograph:
    top = (1 << depth) - 1
    rng = np.random.default_rng(depth)
    values = rng.integers(0, top + 1, size=shape)
    values.flat[0], values.flat[1] = 0, top
    dtype = np.uint8 if depth == 8 else np.uint16
    return Radiograph.from_uint(values.astype(dtype), depth)


@pytest.mark.parametrize("depth", [8, 10, 12, 14, 16])
@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_round_trip_keeps_pixels_and_depth(tmp_path, depth, ext):
    image = _ramp(depth)
    path = write_image(tmp_path / f"x{ext}", image)
    back = read_image(path)
    assert back.bit_depth == depth
    assert back.shape == image.shape
    np.testing.assert_array_equal(back.to_uint(), image.to_uint())
    assert back.source == str(path)


def test_sixteen_bit_png_is_a_sixteen_bit_file(tmp_path):
    path = write_image(tmp_path / "x.png", _ramp(16))
    with Image.open(path) as im:
        assert im.mode == "I;16"
        assert np.asarray(im).max() == 65535


def test_plain_16bit_png_from_elsewhere_reads_as_16bit(tmp_path):
    values = np.arange(0, 65536, 257, dtype=np.uint16).reshape(16, 16)
    Image.fromarray(values).save(tmp_path / "plain.png")
    image = read_image(tmp_path / "plain.png")
    assert image.bit_depth == 16
    np.testing.assert_array_equal(image.to_uint(), values)


def test_rgb_and_jpeg_become_grey(tmp_path):
    rgb = np.zeros((20, 30, 3), dtype=np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 200, 100, 50
    Image.fromarray(rgb).save(tmp_path / "c.png")
    grey = read_image(tmp_path / "c.png")
    expected = round(0.299 * 200 + 0.587 * 100 + 0.114 * 50)
    assert grey.shape == (20, 30)
    assert int(grey.to_uint()[0, 0]) == expected
    Image.fromarray(np.full((16, 16), 120, np.uint8)).save(tmp_path / "j.jpg", quality=95)
    jpeg = read_image(tmp_path / "j.jpg")
    assert jpeg.bit_depth == 8
    assert abs(int(jpeg.to_uint().mean()) - 120) <= 2


def test_format_is_sniffed_not_guessed_from_the_name(tmp_path):
    Image.fromarray(np.full((8, 8), 7, np.uint8)).save(tmp_path / "a.png")
    (tmp_path / "a.png").rename(tmp_path / "misnamed.tif")
    assert int(read_image(tmp_path / "misnamed.tif").to_uint()[0, 0]) == 7


def test_truncated_file_names_the_path(tmp_path):
    path = write_image(tmp_path / "t.png", _ramp(16, (64, 64)))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match=r"t\.png"):
        read_image(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty"), (b"hello, not an image at all" * 10, "unsupported")],
)
def test_bad_files(tmp_path, content, message):
    path = tmp_path / "bad.png"
    path.write_bytes(content)
    with pytest.raises(ImageReadError, match=message) as info:
        read_image(path)
    assert str(path) in str(info.value)


def test_corrupt_png_body(tmp_path):
    path = write_image(tmp_path / "c.png", _ramp(8, (64, 64)))
    data = bytearray(path.read_bytes())
    data[60:80] = b"\x00" * 20
    path.write_bytes(bytes(data))
    with pytest.raises(ImageReadError, match=r"c\.png"):
        read_image(path)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ImageReadError, match="not found"):
        read_image(tmp_path / "nope.png")
    with pytest.raises(ImageReadError, match="folder"):
        read_image(tmp_path)


def test_unsupported_output_extension(tmp_path):
    with pytest.raises(InvalidInputError, match="jpg"):
        write_image(tmp_path / "x.jpg", _ramp(8))


def test_write_is_atomic_and_leaves_no_temporary_files(tmp_path):
    write_image(tmp_path / "sub" / "x.png", _ramp(12))
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["x.png"]


def test_mask_round_trip(tmp_path):
    array = np.zeros((30, 40), bool)
    array[5:10, 7:20] = True
    path = write_mask(tmp_path / "m.png", Mask(array))
    with Image.open(path) as im:
        assert im.mode == "L"
        assert set(np.unique(np.asarray(im))) == {0, 255}
    np.testing.assert_array_equal(read_mask(path).array, array)


def test_rgba_mask_uses_first_channel(tmp_path):
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[2:4, 2:4, 0] = 255
    Image.fromarray(rgba).save(tmp_path / "m.png")
    assert read_mask(tmp_path / "m.png").array.sum() == 4


def test_real_sample_reads(rsna_samples):
    image = read_image(rsna_samples / "with-markers" / "10186.png")
    assert image.shape == (907, 924)
    assert image.bit_depth == 8


def _png_with_depth_text(path, values, declared: str):
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("radinpaint:bit_depth", declared)
    Image.fromarray(values).save(path, format="PNG", pnginfo=info)
    return path


def test_sixteen_bit_png_whose_depth_tag_says_8_is_not_cut_to_8_bits(tmp_path):
    values = np.arange(0, 65536, 7, dtype=np.uint16)[:4096].reshape(64, 64)
    path = _png_with_depth_text(tmp_path / "lies.png", values, "8")
    with pytest.raises(ImageReadError, match="8-bit") as info:
        read_image(path)
    error = info.value
    assert str(path) in str(error)
    assert error.fix and "radinpaint:bit_depth" in error.fix


@pytest.mark.parametrize("declared", [10, 12, 14])
def test_a_depth_tag_contradicted_by_the_samples_is_refused(tmp_path, declared):
    values = np.arange(1, 65536, 1, dtype=np.uint16)[:4096].reshape(64, 64)
    path = _png_with_depth_text(tmp_path / "x.png", values, str(declared))
    with pytest.raises(ImageReadError, match=f"{declared}-bit"):
        read_image(path)


@pytest.mark.parametrize("declared", [8, 12])
def test_a_depth_tag_the_samples_agree_with_is_kept(tmp_path, declared):
    top = (1 << declared) - 1
    levels = np.arange(top + 1, dtype=np.float64)[: 64 * 64].reshape(-1, 64)
    values = np.rint(levels / top * 65535).astype(np.uint16)
    path = _png_with_depth_text(tmp_path / "x.png", values, str(declared))
    image = read_image(path)
    assert image.bit_depth == declared
    np.testing.assert_array_equal(image.to_uint(), levels.astype(np.uint16))
