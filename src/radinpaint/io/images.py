"""Format dispatch for :mod:`radinpaint.io`, plus masks."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import ImageReadError, InvalidInputError
from ..records import Mask, Radiograph

__all__ = [
    "IMAGE_EXTENSIONS",
    "READ_FORMATS",
    "WRITE_FORMATS",
    "read_image",
    "read_mask",
    "write_image",
    "write_mask",
]

READ_FORMATS: tuple[str, ...] = ("png", "tiff", "jpeg", "dicom")
"""Formats :func:`read_image` understands."""

WRITE_FORMATS: dict[str, str] = {".png": "png", ".tif": "tiff", ".tiff": "tiff"}
"""File extensions :func:`write_image` writes, and their format."""

_EXTENSIONS = {
    ".png": "png",
    ".tif": "tiff",
    ".tiff": "tiff",
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".dcm": "dicom",
    ".dicom": "dicom",
}

IMAGE_EXTENSIONS: tuple[str, ...] = tuple(_EXTENSIONS)
"""File extensions treated as images when scanning folders."""


def sniff_format(path: Path) -> str | None:
    """The format a file's first bytes announce, or ``None`` when unrecognised."""
    with open(path, "rb") as fh:
        head = fh.read(132)
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[128:132] == b"DICM":
        return "dicom"
    return None


def _existing(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    if not p.exists():
        raise ImageReadError("file not found", input=str(p), fix="check the path")
    if p.is_dir():
        raise ImageReadError(
            "expected an image file, got a folder",
            input=str(p),
            fix="pass one image file, or load a folder with radinpaint.datasets.load_folder",
        )
    if p.stat().st_size == 0:
        raise ImageReadError(
            "the file is empty", input=str(p), fix="re-export or re-download the file"
        )
    return p


def read_image(path: str | os.PathLike[str], *, window: bool = True) -> Radiograph:
    """Read a radiograph from PNG, TIFF, JPEG or DICOM.

    Colour images are converted to grey (ITU-R 601 luma); an alpha channel is dropped.

    Args:
        path: the file.
        window: for DICOM, apply the file's VOI window or VOI LUT (as a viewer would);
            ``False`` maps the full modality range to ``[0, 1]`` instead.

    Raises:
        ImageReadError: missing, empty, corrupt, truncated or unsupported file.
    """
    p = _existing(path)
    fmt = sniff_format(p) or _EXTENSIONS.get(p.suffix.lower())
    if fmt == "dicom" or (fmt is None and p.suffix.lower() in ("", ".ima")):
        from .dicom import read_dicom

        return read_dicom(p, window=window)
    if fmt is None:
        raise ImageReadError(
            "unsupported or unrecognised image format",
            input=str(p),
            available=READ_FORMATS,
            fix="convert the file to PNG, TIFF or DICOM",
        )
    from .raster import read_raster

    return read_raster(p)


def _atomic_target(path: Path) -> tuple[int, str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    from ..cache import _create_temp  # the umask's permissions, not mkstemp's 0600

    return _create_temp(path.parent, path.name, path.suffix or ".tmp")


def write_image(path: str | os.PathLike[str], image: Radiograph) -> Path:
    """Write ``image`` at its bit depth as PNG or TIFF (chosen by the extension).

    8-bit images become 8-bit files; deeper ones 16-bit files whose true depth is recorded
    (PNG ``sBIT`` chunk and a text chunk; TIFF description), so :func:`read_image` gives back
    exactly the same pixels and depth. The write is atomic (temporary file, then rename).
    """
    p = Path(path)
    fmt = WRITE_FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise InvalidInputError(
            f"cannot write images with extension {p.suffix!r}",
            input=str(p),
            available=list(WRITE_FORMATS),
            fix="use .png or .tif",
        )
    from .raster import write_raster

    fd, tmp = _atomic_target(p)
    os.close(fd)
    try:
        write_raster(Path(tmp), image, fmt)
        os.replace(tmp, p)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return p


def read_mask(path: str | os.PathLike[str]) -> Mask:
    """Read a mask image: any non-zero pixel is True (grey or the first colour channel)."""
    p = _existing(path)
    from .raster import read_raw_array

    return Mask.from_array(read_raw_array(p), source=str(p))


def write_mask(path: str | os.PathLike[str], mask: Mask) -> Path:
    """Write a mask as an 8-bit PNG (0 and 255), atomically."""
    p = Path(path)
    if p.suffix.lower() != ".png":
        raise InvalidInputError("masks are written as PNG", input=str(p), fix="use a .png name")
    image = Radiograph.from_uint(mask.array.astype(np.uint8) * 255, 8)
    return write_image(p, image)
