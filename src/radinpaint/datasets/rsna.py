"""The RSNA Pediatric Bone Age Challenge (2017) in its three official layouts.

============  =================================================  ======================
layout        columns                                            sex coded as
============  =================================================  ======================
training      ``id, boneage, male``                              True / False
validation    ``Image ID, male, Bone Age (months)``              True / False
test          ``Case ID, Sex, Ground truth bone age (months)``   M / F
============  =================================================  ======================

Images are ``<id>.png`` anywhere below ``image_dir`` (default: the table's folder), except in
``masks/`` and ``clean/`` folders (artifact masks and artifact-free copies named like the
images, as ``radinpaint phantoms`` writes them) and hidden (``.name``) files and folders. An
id found in two image files is an error, not a silent pick. A ``file`` column, when
present, gives each image's path relative to the table instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from ..errors import InvalidInputError
from .base import IMAGE_EXTENSIONS, ImageDataset
from .tables import (
    FILE_COLUMNS,
    SIDE_FOLDERS,
    find_column,
    index_images,
    read_table,
    to_dataset_table,
)

__all__ = ["RSNA_LAYOUTS", "detect_rsna_layout", "load_rsna"]

RSNA_LAYOUTS: dict[str, dict[str, str]] = {
    "training": {"id": "id", "bone_age": "boneage", "sex": "male"},
    "validation": {"id": "Image ID", "bone_age": "Bone Age (months)", "sex": "male"},
    "test": {"id": "Case ID", "bone_age": "Ground truth bone age (months)", "sex": "Sex"},
}
"""Column names of each official RSNA layout."""


def detect_rsna_layout(columns: list[str]) -> str | None:
    """The RSNA layout whose id and bone-age columns all appear in ``columns``, or None."""
    import pandas as pd

    frame = pd.DataFrame(columns=columns)
    for layout, names in RSNA_LAYOUTS.items():
        id_col = find_column(frame, [names["id"]], loose=False)
        if id_col and find_column(frame, [names["bone_age"]], loose=False):
            return layout
    return None


def load_rsna(
    labels: str | os.PathLike[str],
    image_dir: str | os.PathLike[str] | None = None,
    *,
    layout: str | None = None,
    missing: str = "error",
) -> ImageDataset:
    """Load an RSNA Bone Age table (CSV or XLSX) and its images, lazily.

    Args:
        labels: the label table of any of the three layouts (detected from its columns).
        image_dir: where the images are (searched recursively, leaving out ``masks/`` and
            ``clean/`` folders); default the table's folder.
        layout: force ``"training"``, ``"validation"`` or ``"test"``.
        missing: ``"error"`` (default) when a listed image is absent, or ``"skip"``.

    Raises:
        InvalidInputError: unknown layout, unreadable labels, missing images, an id found
            in two image files.
    """
    return rsna_dataset(labels, image_dir, layout=layout, missing=missing)


def rsna_dataset(
    labels: str | os.PathLike[str],
    image_dir: str | os.PathLike[str] | None = None,
    *,
    layout: str | None = None,
    missing: str = "error",
    skip_dirs: Iterable[Path] = (),
) -> ImageDataset:
    """:func:`load_rsna`, also leaving out the folders ``skip_dirs`` (side folders given
    explicitly) when looking for images."""
    path = Path(labels)
    raw = read_table(path)
    layout = layout or detect_rsna_layout(list(raw.columns))
    if layout not in RSNA_LAYOUTS:
        raise InvalidInputError(
            f"not an RSNA bone-age table (columns: {', '.join(raw.columns)})",
            input=str(path),
            available=[f"{k}: {', '.join(v.values())}" for k, v in RSNA_LAYOUTS.items()],
            fix="use one of the official layouts, or radinpaint.datasets.load_folder",
        )
    names = RSNA_LAYOUTS[layout]
    root = Path(image_dir) if image_dir is not None else path.parent
    if not root.is_dir():
        raise InvalidInputError("image folder not found", input=str(root), fix="check image_dir")
    file_col = find_column(raw, FILE_COLUMNS)
    locate: Mapping[str, Path] = {}
    if not file_col:
        locate = index_images(root, IMAGE_EXTENSIONS, skip_names=SIDE_FOLDERS, skip_dirs=skip_dirs)
    table = to_dataset_table(
        raw,
        locate=locate,
        base=path.parent,
        where=str(path),
        missing=missing,
        id_col=find_column(raw, [names["id"]], loose=False),
        age_col=find_column(raw, [names["bone_age"]], loose=False),
        sex_col=find_column(raw, [names["sex"]], loose=False),
        file_col=file_col,
    )
    return ImageDataset(table, name=f"rsna-{layout}:{path.name}")
