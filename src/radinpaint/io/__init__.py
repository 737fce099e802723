"""Reading and writing radiographs and masks.

- Read: PNG (8 and 16-bit), TIFF, JPEG, DICOM (pydicom: modality LUT, VOI window or LUT,
  MONOCHROME1 inverted, 10/12/14/16-bit depth kept). The format is recognised from the
  file's first bytes, not its name.
- Write: PNG and TIFF at the radiograph's bit depth (16-bit files for more than 8 bits, the
  true depth recorded in the file so that it reads back exactly). Writes are atomic.
- Only pixels flow on: no DICOM (or other) metadata is ever copied into an output.

Every failure raises :class:`~radinpaint.errors.ImageReadError` (or
:class:`~radinpaint.errors.InvalidInputError` for writing) naming the path and the problem.
"""

from .images import (
    IMAGE_EXTENSIONS,
    READ_FORMATS,
    WRITE_FORMATS,
    read_image,
    read_mask,
    write_image,
    write_mask,
)

__all__ = [
    "IMAGE_EXTENSIONS",
    "READ_FORMATS",
    "WRITE_FORMATS",
    "read_image",
    "read_mask",
    "write_image",
    "write_mask",
]
