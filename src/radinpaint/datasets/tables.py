"""Reading label tables (CSV or Excel) and finding their columns by name."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import pandas as pd

from ..errors import InvalidInputError, MissingDependencyError

__all__ = ["SIDE_FOLDERS", "ImageIndex", "find_column", "index_images", "read_table"]


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV or XLSX label table as strings (no type guessing)."""
    if not path.exists():
        raise InvalidInputError("label table not found", input=str(path), fix="check the path")
    if path.suffix.lower() in (".xlsx", ".xls"):
        try:
            return pd.read_excel(path, dtype=str)
        except ImportError as exc:
            raise MissingDependencyError(
                f"reading Excel label tables needs openpyxl ({exc})",
                input=str(path),
                fix="pip install openpyxl, or save the table as CSV",
            ) from exc
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InvalidInputError(
            f"unreadable label table ({exc})",
            input=str(path),
            fix="save the table as UTF-8 CSV (comma-separated, one header row) or XLSX",
        ) from exc


def _norm(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def find_column(
    table: pd.DataFrame, candidates: Iterable[str], *, loose: bool = True
) -> str | None:
    """The first column whose name matches a candidate.

    ``loose`` ignores case, spaces and punctuation (``image_id`` matches ``Image ID``);
    otherwise only case and surrounding spaces are ignored.
    """
    norm = _norm if loose else (lambda name: name.strip().lower())
    by_norm = {norm(str(c)): c for c in table.columns}
    for candidate in candidates:
        if norm(candidate) in by_norm:
            return by_norm[norm(candidate)]
    return None


ID_COLUMNS = ("id", "Image ID", "Case ID", "image_id", "case_id", "patient_id")
AGE_COLUMNS = (
    "boneage",
    "Bone Age (months)",
    "Ground truth bone age (months)",
    "bone_age_months",
    "bone_age",
)
SEX_COLUMNS = ("male", "Sex", "is_male", "gender")
FILE_COLUMNS = ("file", "path", "filename", "image")


SIDE_FOLDERS: tuple[str, ...] = ("masks", "clean")
"""Folders beside the images that hold files named like them (as ``radinpaint phantoms``
writes them): artifact masks and artifact-free copies, never cases of their own."""


class ImageIndex(Mapping[str, Path]):
    """Image files below a folder by id (file stem).

    An id found in two files (``a/x.png`` and ``b/x.png``, or ``x.png`` and ``x.tif``) is
    ambiguous: looking it up raises :class:`InvalidInputError` listing both, instead of
    picking one. Ids nobody looks up may stay ambiguous.
    """

    def __init__(self, root: Path, found: Mapping[str, Sequence[Path]]) -> None:
        self.root = root
        self._found = {stem: tuple(paths) for stem, paths in found.items()}

    def __getitem__(self, stem: str) -> Path:
        paths = self._found[stem]
        if len(paths) > 1:
            raise InvalidInputError(
                f"image id {stem!r} is ambiguous: {len(paths)} files below the folder have "
                f"that name ({', '.join(str(p) for p in paths)})",
                input=str(self.root),
                fix="keep one image per id (remove or rename the others, or move them out of "
                "the folder), or list each image's path in a 'file' column of the label table",
            )
        return paths[0]

    def __contains__(self, stem: object) -> bool:
        return stem in self._found

    def __iter__(self) -> Iterator[str]:
        return iter(self._found)

    def __len__(self) -> int:
        return len(self._found)


def _hidden(parts: Iterable[str]) -> bool:
    return any(part.startswith(".") for part in parts)


def index_images(
    root: Path,
    extensions: Iterable[str],
    *,
    skip_names: Iterable[str] = (),
    skip_dirs: Iterable[Path] = (),
) -> ImageIndex:
    """Image files below ``root`` by file stem.

    Hidden files and folders (``.name``) are left out, and so are folders below ``root``
    named one of ``skip_names`` (at any depth) or equal to one of ``skip_dirs``. A stem found
    twice is ambiguous (see :class:`ImageIndex`).
    """
    exts = {e.lower() for e in extensions}
    names = set(skip_names)
    skipped = []
    for folder in skip_dirs:
        try:
            skipped.append(Path(folder).resolve().relative_to(root.resolve()).parts)
        except ValueError:  # not below root: nothing to skip
            continue
    found: dict[str, list[Path]] = {}
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() not in exts:
            continue
        parts = path.relative_to(root).parts
        folders = parts[:-1]
        if _hidden(parts) or set(folders) & names:
            continue
        if any(s and folders[: len(s)] == s for s in skipped):
            continue
        if path.is_file():
            found.setdefault(path.stem, []).append(path)
    return ImageIndex(root, found)


def to_dataset_table(
    raw: pd.DataFrame,
    *,
    locate: Mapping[str, Path],
    base: Path,
    where: str,
    missing: str,
    id_col: str | None,
    age_col: str | None,
    sex_col: str | None,
    file_col: str | None,
) -> pd.DataFrame:
    """Normalise a label table into ``id, path, bone_age_months, male`` rows.

    Images are found through the ``file_col`` (relative to ``base``) when there is one, else
    by id in ``locate``. Rows whose image is missing raise, or are dropped when ``missing`` is
    ``"skip"``.
    """
    from ..records import parse_sex
    from .base import parse_bone_age

    if missing not in ("error", "skip"):
        raise InvalidInputError(
            f"missing must be 'error' or 'skip', got {missing!r}",
            input=where,
            available=["error", "skip"],
            fix="pass missing='error' (the default) or missing='skip'",
        )
    if id_col is None and file_col is None:
        raise InvalidInputError(
            "the label table has no id or file column",
            input=where,
            available=list(raw.columns),
            fix=f"name the id column one of: {', '.join(ID_COLUMNS)}",
        )
    rows, absent = [], []
    for n, rec in enumerate(raw.to_dict("records")):
        line = f"{where}, row {n + 2}"
        if file_col is not None and str(rec[file_col]).strip():
            path = base / str(rec[file_col]).strip()
            case_id = str(rec[id_col]).strip() if id_col else path.stem
        else:
            case_id = str(rec[id_col]).strip()
            path = locate.get(case_id)  # type: ignore[assignment]
        if not case_id:
            raise InvalidInputError(
                "empty case id", input=line, fix="give every row an id, or delete the row"
            )
        if path is None or not Path(path).exists():
            absent.append(case_id)
            continue
        rows.append(
            {
                "id": case_id,
                "path": str(path),
                "bone_age_months": parse_bone_age(rec[age_col], where=line) if age_col else None,
                "male": parse_sex(rec[sex_col], where=line) if sex_col else None,
            }
        )
    if absent and missing != "skip":
        raise InvalidInputError(
            f"{len(absent)} image(s) listed in the label table were not found "
            f"(e.g. {', '.join(absent[:5])})",
            input=where,
            fix="point image_dir at the folder holding <id>.png, or pass missing='skip'",
        )
    table = pd.DataFrame(rows, columns=["id", "path", "bone_age_months", "male"])
    table["bone_age_months"] = table["bone_age_months"].astype(float)
    return table
