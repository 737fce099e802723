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


def _depth(bits_stored: int, path: Path) -> int:
    for depth in SUPPORTED_BIT_DEPTHS:
        if bits_stored <= depth:
            return depth
    raise ImageReadError(
        f"unsupported DICOM BitsStored {bits_stored} (over 16)",
        input=str(path),
        fix="radiographs of up to 16 bits are supported; export the image at 16 bits or less",
    )


def _within_bits_stored(raw: np.ndarray, bits: int, path: Path) -> np.ndarray:
    """The stored values as ``bits``-bit integers; values that need more bits raise.

    The bits above ``BitsStored`` carry no pixel value. Left 0 (or, for signed data, copies
    of the sign bit, the same way throughout the file) they change nothing; anything else
    means the value does not fit the declared depth (a wrong ``BitsStored``, or retired
    overlay bits), and cutting the high bits off, as decoders do, would silently turn a
    bright pixel dark.
    """
    width = raw.dtype.itemsize * 8
    if bits < 1:
        raise ImageReadError(
            f"invalid DICOM BitsStored {bits}",
            input=str(path),
            fix="set BitsStored (and HighBit) to the depth of the pixel data",
        )
    if raw.dtype.kind not in "iu" or bits >= width:
        return raw
    unsigned = raw.view(np.dtype(f"u{raw.dtype.itemsize}"))
    high = unsigned >> bits
    if raw.dtype.kind == "u":
        bad = high != 0
        lo, hi = 0, 2**bits - 1
    else:
        negative = ((unsigned >> (bits - 1)) & 1).astype(bool)
        extended = negative & (high == (1 << (width - bits)) - 1)
        bad = (high != 0) & ~extended
        if extended.any():  # the file sign-extends: a negative value with 0 above is not one
            bad |= negative & (high == 0)
        lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    count = int(np.count_nonzero(bad))
    if count:
        values = raw[bad]
        low, top = int(values.min()), int(values.max())
        found = str(low) if low == top else f"{low} to {top}"
        raise ImageReadError(
            f"{count} pixel value(s) do not fit the file's BitsStored={bits} (range {lo} to "
            f"{hi}; found {found}); radinpaint does not cut the high bits off, which would "
            "change those pixels",
            input=str(path),
            fix=f"correct BitsStored and HighBit to the depth the pixel data really has "
            f"(e.g. pydicom: ds.BitsStored = {width}; ds.HighBit = {width - 1}), or clear "
            "the high bits if they hold overlay data",
        )
    shift = width - bits
    return (raw << shift) >> shift  # sign-extends signed data; unsigned stays as it is


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
        raise ImageReadError(
            f"not a readable DICOM file ({exc})",
            input=str(path),
            fix="check that the file is a complete DICOM file (re-export or re-download it)",
        ) from exc
    if "PixelData" not in ds:
        raise ImageReadError(
            "the DICOM file has no pixel data",
            input=str(path),
            fix="use the DICOM file that holds the image (not a report or a structured document)",
        )
    try:
        # uncorrected: the unused high bits as stored, so that values they hold are seen
        ds.pixel_array_options(correct_unused_bits=False)
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
    depth = _depth(bits, path)
    raw = _within_bits_stored(raw, bits, path)
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
