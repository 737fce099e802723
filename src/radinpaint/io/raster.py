"""PNG, TIFF and JPEG through Pillow, keeping bit depth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin, UnidentifiedImageError

from ..errors import ImageReadError
from ..records import SUPPORTED_BIT_DEPTHS, Radiograph

__all__ = ["read_raster", "read_raw_array", "write_raster"]

DEPTH_KEY = "radinpaint:bit_depth"
"""PNG text key (and TIFF description prefix) recording a radiograph's true bit depth."""

_LUMA = np.array([0.299, 0.587, 0.114])


def _open(path: Path) -> Image.Image:
    try:
        im = Image.open(path)
        im.load()
    except (UnidentifiedImageError, SyntaxError) as exc:
        raise ImageReadError(
            f"corrupt or unsupported image ({exc})",
            input=str(path),
            fix="re-export or re-download the file, or convert it to PNG, TIFF or DICOM",
        ) from exc
    except OSError as exc:
        raise ImageReadError(
            f"unreadable image, truncated or corrupt ({exc})",
            input=str(path),
            fix="re-export or re-download the file",
        ) from exc
    except Image.DecompressionBombError as exc:
        raise ImageReadError(
            f"image too large ({exc})",
            input=str(path),
            fix="downscale the image, or raise PIL.Image.MAX_IMAGE_PIXELS if you trust it",
        ) from exc
    return im


def _declared_depth(im: Image.Image) -> int | None:
    text = im.info.get(DEPTH_KEY)
    if text is None:
        description = str(im.info.get("description", "") or "")
        tag = getattr(im, "tag_v2", None)
        if tag is not None:
            description = str(tag.get(270, description))
        if description.startswith(DEPTH_KEY + "="):
            text = description.split("=", 1)[1].split()[0]
    try:
        depth = int(text) if text is not None else None
    except ValueError:
        return None
    return depth if depth in SUPPORTED_BIT_DEPTHS else None


def read_raw_array(path: Path) -> np.ndarray:
    """The file's pixels as an array, as stored (grey, RGB or RGBA)."""
    return np.asarray(_open(path))


def _to_grey(arr: np.ndarray, path: Path) -> np.ndarray:
    if arr.ndim == 2:
        return arr
    if arr.ndim == 3 and arr.shape[2] in (2, 3, 4):
        if arr.shape[2] == 2:  # grey + alpha
            return arr[..., 0]
        rgb = arr[..., :3]
        if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2]):
            return rgb[..., 0]
        return np.rint(rgb.astype(np.float64) @ _LUMA).astype(arr.dtype)
    raise ImageReadError(
        f"unsupported pixel layout {arr.shape}",
        input=str(path),
        fix="save the image as grey, RGB or RGBA",
    )


def read_raster(path: Path) -> Radiograph:
    """Read PNG, TIFF or JPEG as a grey :class:`Radiograph` at its stored depth."""
    im = _open(path)
    declared = _declared_depth(im)
    if im.mode in ("P", "PA", "1"):
        im = im.convert("L")
    if im.mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        im = im.convert("RGB")
    if im.mode == "F":
        raise ImageReadError(
            "floating-point images are not supported",
            input=str(path),
            fix="save the image as 8 or 16-bit integers",
        )
    arr = _to_grey(np.asarray(im), path)
    if arr.dtype == np.uint8:
        stored = 8
    elif arr.dtype in (np.uint16, np.int32, np.uint32, np.int16):
        if arr.size and (int(arr.min()) < 0 or int(arr.max()) > 65535):
            raise ImageReadError(
                f"pixel values [{int(arr.min())}, {int(arr.max())}] exceed 16 bits",
                input=str(path),
                fix="save the image as unsigned 8 or 16-bit integers",
            )
        arr = arr.astype(np.uint16)
        stored = 16
    else:
        raise ImageReadError(
            f"unsupported pixel type {arr.dtype}",
            input=str(path),
            fix="save the image as unsigned 8 or 16-bit integers",
        )
    image = Radiograph.from_uint(arr, stored, source=str(path))
    if declared is not None and declared < stored:
        _check_declared_depth(arr, declared, stored, path)
        image = Radiograph(image.pixels, declared, str(path)).quantized()
    return image


def _check_declared_depth(arr: np.ndarray, declared: int, stored: int, path: Path) -> None:
    """Raise unless every ``stored``-bit sample is a ``declared``-bit level scaled up.

    A file radinpaint wrote at 10, 12 or 14 bits holds 16-bit samples ``rint(v / top *
    65535)``; reading it back rounds them to the ``declared`` levels, exactly. Samples off
    that grid (more than one unit away, which allows left-bit replication too) hold more
    than ``declared`` bits, and rounding them would silently throw those bits away.
    """
    full = float((1 << stored) - 1)
    top = float((1 << declared) - 1)
    values = arr.astype(np.float64)
    levels = np.rint(values / full * top)
    off = np.abs(values - levels * (full / top)) > 1.0
    count = int(np.count_nonzero(off))
    if count:
        raise ImageReadError(
            f"the file declares {declared}-bit pixels ({DEPTH_KEY}={declared}) but "
            f"{count} of its {stored}-bit samples are not {declared}-bit values; reading "
            f"it at {declared} bits would throw their low bits away",
            input=str(path),
            fix=f"if the pixels are right, save the file again without the {DEPTH_KEY} "
            "text (PNG) or image description (TIFF) so that it reads at its stored depth; "
            "otherwise re-export it from its source",
        )


def write_raster(path: Path, image: Radiograph, fmt: str) -> None:
    """Write ``image`` as ``fmt`` ("png" or "tiff") at its bit depth."""
    if image.bit_depth == 8:
        array = image.to_uint()
    else:  # full-range 16-bit; the true depth goes into the file
        array = np.rint(image.pixels.astype(np.float64) * 65535).astype(np.uint16)
    im = Image.fromarray(array)
    if fmt == "png":
        info = PngImagePlugin.PngInfo()
        if image.bit_depth != 8:
            info.add_text(DEPTH_KEY, str(image.bit_depth))
            info.add(b"sBIT", bytes([image.bit_depth]))
        im.save(path, format="PNG", pnginfo=info)
    else:
        kwargs = {}
        if image.bit_depth != 8:
            kwargs["description"] = f"{DEPTH_KEY}={image.bit_depth}"
        im.save(path, format="TIFF", compression="tiff_deflate", **kwargs)
