"""A folder of radiographs, with an optional label table and mask folders."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from ..errors import InvalidInputError
from .base import IMAGE_EXTENSIONS, ImageDataset
from .rsna import detect_rsna_layout, rsna_dataset
from .tables import (
    AGE_COLUMNS,
    FILE_COLUMNS,
    ID_COLUMNS,
    SEX_COLUMNS,
    SIDE_FOLDERS,
    find_column,
    index_images,
    read_table,
    to_dataset_table,
)

__all__ = ["attach_side_folders", "load_folder", "open_dataset"]


def _attach(table: pd.DataFrame, folder: Path | None, column: str) -> pd.DataFrame:
    if folder is None:
        return table
    index = index_images(folder, (".png", ".tif", ".tiff"))
    table[column] = [str(index[i]) if i in index else None for i in table["id"]]
    return table


def _side_dirs(*given: str | os.PathLike[str] | None) -> list[Path]:
    """The side folders given explicitly (left out when looking for images)."""
    return [Path(g) for g in given if g is not None]


def load_folder(
    directory: str | os.PathLike[str],
    labels: str | os.PathLike[str] | None = None,
    *,
    masks_dir: str | os.PathLike[str] | None = None,
    clean_dir: str | os.PathLike[str] | None = None,
    missing: str = "error",
) -> ImageDataset:
    """Every image in ``directory`` (recursively, except ``masks/`` and ``clean/``), lazily.

    Hidden (``.name``) files and folders, and ``masks_dir``/``clean_dir`` when they lie below
    ``directory``, are left out too. An id (file stem) found in two image files is an
    error naming both, not a silent pick.

    Args:
        directory: the image folder.
        labels: an optional CSV/XLSX with an id (or file) column and, optionally, bone age
            (``boneage``, ``bone_age_months``, ...) and sex (``male``, ``Sex``) columns.
            Without it, every image is a case without labels.
        masks_dir: artifact masks named like the images (default: ``directory/masks`` if it
            exists): loaded as each case's ``artifact_mask``.
        clean_dir: artifact-free versions named like the images (default
            ``directory/clean`` if it exists), as written by ``radinpaint phantoms``.
        missing: ``"error"`` or ``"skip"`` for labelled images that are absent.
    """
    root = Path(directory)
    if not root.is_dir():
        raise InvalidInputError("image folder not found", input=str(root), fix="check the path")
    images = index_images(
        root,
        IMAGE_EXTENSIONS,
        skip_names=SIDE_FOLDERS,
        skip_dirs=_side_dirs(masks_dir, clean_dir),
    )
    if labels is None:
        if not images:
            raise InvalidInputError(
                "no images found", input=str(root), fix=f"expected {', '.join(IMAGE_EXTENSIONS)}"
            )
        table = pd.DataFrame({"id": list(images), "path": [str(p) for p in images.values()]})
    else:
        label_path = Path(labels)
        raw = read_table(label_path)
        table = to_dataset_table(
            raw,
            locate=images,
            base=label_path.parent,
            where=str(label_path),
            missing=missing,
            id_col=find_column(raw, ID_COLUMNS),
            age_col=find_column(raw, AGE_COLUMNS),
            sex_col=find_column(raw, SEX_COLUMNS),
            file_col=find_column(raw, FILE_COLUMNS),
        )
    dataset = ImageDataset(table, name=f"folder:{root.name}")
    return attach_side_folders(dataset, root, masks_dir=masks_dir, clean_dir=clean_dir)


def attach_side_folders(
    dataset: ImageDataset,
    root: str | os.PathLike[str],
    *,
    masks_dir: str | os.PathLike[str] | None = None,
    clean_dir: str | os.PathLike[str] | None = None,
) -> ImageDataset:
    """Attach artifact masks and artifact-free images named like the cases.

    ``masks_dir`` and ``clean_dir`` default to ``root/masks`` and ``root/clean`` when those
    folders exist; a folder given explicitly must exist.
    """
    table = dataset._table.copy()
    for name, given, column in (
        ("masks", masks_dir, "mask_path"),
        ("clean", clean_dir, "clean_path"),
    ):
        folder = Path(given) if given is not None else Path(root) / name
        if given is not None and not folder.is_dir():
            raise InvalidInputError(
                f"{name} folder not found",
                input=str(folder),
                fix=f"check the {name}_dir path, or leave it out",
            )
        table = _attach(table, folder if folder.is_dir() else None, column)
    return ImageDataset(table, name=dataset.name)


def open_dataset(path: str | os.PathLike[str], **options: object) -> ImageDataset:
    """Open whatever ``path`` is: an RSNA table, a folder with a label table, or a folder.

    A table with RSNA columns loads with :func:`load_rsna`; a folder holding exactly one
    CSV/XLSX table loads with it (RSNA or generic columns); any other folder loads every
    image without labels.
    """
    p = Path(path)
    if p.is_file():
        raw = read_table(p)
        if detect_rsna_layout(list(raw.columns)):
            side = {k: options.pop(k) for k in ("masks_dir", "clean_dir") if k in options}
            skip = _side_dirs(*side.values())  # type: ignore[arg-type]
            dataset = rsna_dataset(p, skip_dirs=skip, **options)  # type: ignore[arg-type]
            return attach_side_folders(dataset, p.parent, **side)  # type: ignore[arg-type]
        return load_folder(p.parent, p, **options)  # type: ignore[arg-type]
    if p.is_dir():
        tables = sorted([*p.glob("*.csv"), *p.glob("*.xlsx")])
        if len(tables) == 1:
            return open_dataset(tables[0], **options)
        if len(tables) > 1:
            raise InvalidInputError(
                f"the folder holds {len(tables)} label tables; which one?",
                input=str(p),
                available=[t.name for t in tables],
                fix="pass the table's path instead of the folder",
            )
        return load_folder(p, **options)  # type: ignore[arg-type]
    raise InvalidInputError(
        "no such file or folder",
        input=str(p),
        fix="pass a label table (CSV/XLSX) or a folder of images",
    )
