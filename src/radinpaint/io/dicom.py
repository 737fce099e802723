"""DICOM through pydicom: modality LUT, VOI window or LUT, MONOCHROME1, bit depth kept.

Only the pixels leave this module; no DICOM attribute is copied into the Radiograph beyond
the photometric interpretation and bit depth.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ImageReadError
from ..records import SUPPORTED_BIT_DEPTHS, Radiograph

__all__ = ["read_dicom"]


def _depth(bits_stored: int) -> int:
    for depth in SUPPORTED_BIT_DEPTHS:
        if bits_stored <= depth:
            return depth
    raise ImageReadError(f"unsupported DICOM BitsStored {bits_stored} (over 16)")


def _modality_range(ds: object) -> tuple[float, float]:
    """The output range of the modality transform (as PS3.3 C.11.1 defines it)."""
    bits = int(ds.BitsStored)  # type: ignore[attr-defined]
    if ds.get("ModalityLUTSequence"):  # type: ignore[attr-defined]
        lo, hi = 0.0, float(2 ** int(ds.ModalityLUTSequence[0].LUTDescriptor[2]) - 1)  # type: ignore[attr-defined]
        return lo, hi
    if int(ds.get("PixelRepresentation", 0)) == 0:  # type: ignore[attr-defined]
        lo, hi = 0.0, float(2**bits - 1)
    else:
        lo, hi = float(-(2 ** (bits - 1))), float(2 ** (bits - 1) - 1)
    slope = ds.get("RescaleSlope")  # type: ignore[attr-defined]
    intercept = ds.get("RescaleIntercept")  # type: ignore[attr-defined]
    if slope is not None and intercept is not None:
        a, b = lo * float(slope) + float(intercept), hi * float(slope) + float(intercept)
        lo, hi = min(a, b), max(a, b)
    return lo, hi


def read_dicom(path: Path, *, window: bool = True) -> Radiograph:
    """Read a single-frame grey DICOM image as a Radiograph (see module docs)."""
    import pydicom
    from pydicom.errors import InvalidDicomError
    from pydicom.pixels import apply_modality_lut, apply_voi, apply_windowing

    try:
        ds = pydicom.dcmread(path)
    except (InvalidDicomError, OSError, EOFError, ValueError) as exc:
        raise ImageReadError(f"not a readable DICOM file ({exc})", input=str(path)) from exc
    if "PixelData" not in ds:
        raise ImageReadError("the DICOM file has no pixel data", input=str(path))
    try:
        raw = ds.pixel_array
    except Exception as exc:  # pydicom raises many types for codecs and truncation
        raise ImageReadError(
            f"cannot decode the DICOM pixel data ({type(exc).__name__}: {exc})",
            input=str(path),
            fix="install a decoder for its transfer syntax (pip install pylibjpeg "
            "pylibjpeg-libjpeg pylibjpeg-openjpeg) or check that the file is complete",
        ) from exc
    if int(ds.get("NumberOfFrames", 1) or 1) > 1:
        raise ImageReadError(
            f"multi-frame DICOM ({ds.NumberOfFrames} frames) is not supported",
            input=str(path),
            fix="export the frame you need as its own file",
        )
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
    if photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise ImageReadError(
            f"unsupported photometric interpretation {photometric}",
            input=str(path),
            available=["MONOCHROME1", "MONOCHROME2"],
            fix="radiographs are grey; convert colour images first",
        )
    bits = int(ds.get("BitsStored", raw.dtype.itemsize * 8))
    depth = _depth(bits)
    values = apply_modality_lut(raw, ds)
    lo, hi = _modality_range(ds)
    if window and ds.get("VOILUTSequence"):
        values = apply_voi(values, ds)
        lo, hi = 0.0, float(2 ** int(ds.VOILUTSequence[0].LUTDescriptor[2]) - 1)
    elif window and "WindowCenter" in ds and "WindowWidth" in ds:
        values = apply_windowing(values, ds)
    span = hi - lo if hi > lo else 1.0
    pixels = np.clip((np.asarray(values, dtype=np.float64) - lo) / span, 0.0, 1.0)
    if photometric == "MONOCHROME1":
        pixels = 1.0 - pixels
    return Radiograph(pixels.astype(np.float32), depth, str(path), photometric)
