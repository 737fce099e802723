"""Lazy datasets of radiographs: a table of paths and labels; pixels are read on access."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, overload

import numpy as np
import pandas as pd

from ..errors import InvalidInputError
from ..io.images import IMAGE_EXTENSIONS
from ..records import Case

__all__ = ["IMAGE_EXTENSIONS", "ImageDataset", "parse_bone_age"]


COLUMNS = ("id", "path", "bone_age_months", "male", "mask_path", "clean_path")


def parse_bone_age(value: Any, *, where: str) -> float:
    """Parse a bone age in months; empty means unknown (NaN)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return float("nan")
    try:
        months = float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"bone age {value!r} is not a number", input=where, fix="give bone age in months"
        ) from exc
    if months < 0 or np.isinf(months):
        raise InvalidInputError(
            f"bone age {months} months is impossible",
            input=where,
            fix="give bone age in months (0 or more), or leave it empty when unknown",
        )
    return months


class ImageDataset(Sequence[Case]):
    """A lazy, indexable collection of cases.

    Holds only a table (``id, path, bone_age_months, male`` and optionally ``mask_path`` and
    ``clean_path``); ``dataset[i]`` reads the image (and its masks) from disk. A
    14,000-image dataset therefore costs a few megabytes, not gigabytes.

    Args:
        table: one row per case with the columns above.
        name: a label for reports.
        content: what the images are: ``"real"`` (radiographs, the default for images read
            from files) or ``"phantoms"`` (radinpaint's synthetic hands written to disk).
            A phantom-trained predictor run on ``"real"`` data is warned about.
    """

    content: str
    """``"real"`` or ``"phantoms"`` (see Args)."""

    def __init__(
        self, table: pd.DataFrame, name: str = "dataset", *, content: str = "real"
    ) -> None:
        self.content = str(content)
        missing = [c for c in ("id", "path") if c not in table.columns]
        if missing:
            raise InvalidInputError(
                f"dataset table lacks column(s) {', '.join(missing)}",
                input=name,
                fix="give a table with an 'id' and a 'path' column",
            )
        table = table.copy()
        for column in COLUMNS:
            if column not in table.columns:
                table[column] = None if column != "bone_age_months" else np.nan
        table["id"] = table["id"].astype(str)
        duplicated = table["id"][table["id"].duplicated()].unique().tolist()
        if duplicated:
            raise InvalidInputError(
                f"case ids must be unique; repeated: {', '.join(duplicated[:5])}",
                input=name,
                fix="list each case once in the label table (or subset)",
            )
        self._table = table[list(COLUMNS)].reset_index(drop=True)
        self.name = name

    def __len__(self) -> int:
        return len(self._table)

    @overload
    def __getitem__(self, index: int) -> Case: ...
    @overload
    def __getitem__(self, index: slice) -> ImageDataset: ...
    def __getitem__(self, index: int | slice) -> Case | ImageDataset:
        if isinstance(index, slice):
            return ImageDataset(self._table.iloc[index], self.name, content=self.content)
        if not -len(self) <= index < len(self):
            raise IndexError(f"case index {index} out of range for {len(self)} cases")
        return self._load(self._table.iloc[index])

    def __iter__(self) -> Iterator[Case]:
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        return f"ImageDataset(name={self.name!r}, cases={len(self)})"

    @property
    def ids(self) -> list[str]:
        """Case ids, in order."""
        return self._table["id"].tolist()

    @property
    def labels(self) -> pd.DataFrame:
        """``id, path, bone_age_months, male`` for every case (no pixels)."""
        return self._table[["id", "path", "bone_age_months", "male"]].copy()

    def subset(self, ids: Sequence[str]) -> ImageDataset:
        """The cases with these ids, in the order given."""
        index = {case_id: i for i, case_id in enumerate(self._table["id"])}
        unknown = [i for i in ids if i not in index]
        if unknown:
            raise InvalidInputError(
                f"unknown case id(s) {', '.join(unknown[:5])}",
                input=self.name,
                fix="pick ids from dataset.ids",
            )
        return ImageDataset(
            self._table.iloc[[index[i] for i in ids]], self.name, content=self.content
        )

    def _load(self, row: pd.Series) -> Case:
        from ..io import read_image, read_mask

        image = read_image(row["path"])
        mask = read_mask(row["mask_path"]) if _present(row["mask_path"]) else None
        clean = read_image(row["clean_path"]) if _present(row["clean_path"]) else None
        age = row["bone_age_months"]
        return Case(
            id=row["id"],
            image=image,
            bone_age_months=None if pd.isna(age) else float(age),
            male=None if row["male"] is None or pd.isna(row["male"]) else bool(row["male"]),
            artifact_mask=mask,
            clean_image=clean,
            metadata={"dataset": self.name, "path": str(row["path"])},
        )


def _present(value: Any) -> bool:
    return isinstance(value, (str, Path)) and bool(str(value))
