"""Radiologists' ratings of inpainted outputs: the record, the SQLite schema, readers, export.

A rating says whether one rater finds one output acceptable, and if not, why. It is keyed by
the rater and the output's content hash (:meth:`radinpaint.records.Radiograph.content_hash`
of the output image), so the same pixels rated twice by one rater are one rating (the last
answer wins; ``created`` keeps the first time, ``updated`` the last).

The ratings database (``ratings.sqlite``, by default in ``RESULTS_DIR/review/``) holds one
table, ``ratings`` (see :data:`SCHEMA_SQL`), in WAL mode, written one transaction per rating
with an upsert on ``UNIQUE(rater, output_hash)``. This module reads it (or a CSV written by
:func:`export_csv`) without Flask or any web code, so any program can use it::

    from radinpaint.review.ratings import read_ratings

    for r in read_ratings("runs/bench/review/ratings.sqlite"):
        print(r.rater, r.output_hash[:12], r.case_id, r.backend, r.acceptable, r.reasons)
"""

from __future__ import annotations

import csv
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from ..errors import InvalidInputError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CSV_COLUMNS",
    "REASONS",
    "REASON_LABELS",
    "SCHEMA_SQL",
    "SCHEMA_VERSION",
    "Rating",
    "connect",
    "export_csv",
    "now_utc",
    "ratings_table",
    "read_ratings",
    "upsert_rating",
]

SCHEMA_VERSION = 1
"""Version of the ``ratings`` table (stored as SQLite's ``user_version``)."""

REASONS: tuple[str, ...] = (
    "ghost-marker",
    "texture",
    "anatomy-changed",
    "border-artifact",
    "other",
)
"""Why an output is not acceptable, in the order of the page's keys 1-5."""

REASON_LABELS: dict[str, str] = {
    "ghost-marker": "ghost of the marker left",
    "texture": "texture looks wrong",
    "anatomy-changed": "anatomy changed",
    "border-artifact": "artifact at the mask border",
    "other": "other (see comment)",
}
"""What each reason means, as the page shows it."""

CSV_COLUMNS: tuple[str, ...] = (
    "rater",
    "output_hash",
    "case_id",
    "inpainter",
    "backend",
    "variant",
    "acceptable",
    "reasons",
    "comment",
    "created",
    "updated",
)
"""The columns of an exported CSV (and of :func:`ratings_table`), in order. ``reasons`` is
``;``-separated; ``acceptable`` is ``true`` or ``false``; times are ISO 8601 in UTC."""

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS ratings (
    id INTEGER PRIMARY KEY,
    rater TEXT NOT NULL CHECK (length(rater) BETWEEN 1 AND 64),
    output_hash TEXT NOT NULL CHECK (length(output_hash) = 64),
    case_id TEXT NOT NULL,
    inpainter TEXT NOT NULL,
    backend TEXT NOT NULL,
    variant INTEGER NOT NULL CHECK (variant >= 0),
    acceptable INTEGER NOT NULL CHECK (acceptable IN (0, 1)),
    reasons TEXT NOT NULL DEFAULT '',
    comment TEXT NOT NULL DEFAULT '',
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    UNIQUE (rater, output_hash)
);
CREATE INDEX IF NOT EXISTS ratings_output ON ratings (output_hash);
"""
"""The ratings table: one row per (rater, output_hash). ``reasons`` is ``;``-separated
(each one of :data:`REASONS`), ``acceptable`` 0 or 1, ``created``/``updated`` ISO 8601 UTC."""


def now_utc() -> datetime:
    """The current time in UTC, to the microsecond."""
    return datetime.now(UTC)


def _reasons(value: Iterable[str] | str) -> tuple[str, ...]:
    items = [r for r in value.split(";")] if isinstance(value, str) else list(value)
    out: list[str] = []
    for r in (str(x).strip() for x in items):
        if not r:
            continue
        if r not in REASONS:
            raise InvalidInputError(
                f"unknown rating reason {r!r}", available=REASONS, fix="use one of the reasons"
            )
        if r not in out:
            out.append(r)
    return tuple(sorted(out, key=REASONS.index))


def _time(value: datetime | str) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidInputError(
                f"not an ISO 8601 time: {value!r}", fix="write times as 2026-01-31T12:00:00+00:00"
            ) from None
    if not isinstance(value, datetime):
        raise InvalidInputError(f"not a time: {value!r}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _hash(value: str) -> str:
    text = str(value).lower()
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise InvalidInputError(
            f"not an output content hash (64 hex digits): {value!r}",
            fix="use Radiograph.content_hash() of the output",
        )
    return text


def _rater(value: str) -> str:
    text = str(value).strip()
    if not 1 <= len(text) <= 64 or not text.isprintable():
        raise InvalidInputError(
            f"bad rater id {value!r}", fix="use 1 to 64 printable characters, e.g. initials"
        )
    return text


def _bool(value: bool | int | str) -> bool:
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("true", "1", "yes"):
            return True
        if low in ("false", "0", "no"):
            return False
        raise InvalidInputError(f"not a yes/no value: {value!r}", fix="use true or false")
    return bool(value)


@attrs.frozen(kw_only=True)
class Rating:
    """One rater's verdict on one output.

    Attributes:
        rater: who rated (1-64 printable characters; the page's ``--rater``).
        output_hash: the output image's content hash
            (:meth:`radinpaint.records.Radiograph.content_hash`, 64 hex digits).
        case_id: the case the output was made from.
        inpainter: the inpainter's label in the run (unique within it).
        backend: the inpainter's registered backend name.
        variant: the variant number (0-based).
        acceptable: True when the rater accepts the output as a clean radiograph.
        reasons: why it is not acceptable, each one of :data:`REASONS` (in that order, no
            repeats); may be given for an acceptable output too (a minor flaw).
        comment: free text (may be empty).
        created: when this rater first rated this output (UTC).
        updated: when the rating last changed (UTC).
    """

    rater: str = attrs.field(converter=_rater)
    output_hash: str = attrs.field(converter=_hash)
    case_id: str = attrs.field(converter=str)
    inpainter: str = attrs.field(converter=str)
    backend: str = attrs.field(converter=str)
    variant: int = attrs.field(converter=int)
    acceptable: bool = attrs.field(converter=_bool)
    reasons: tuple[str, ...] = attrs.field(default=(), converter=_reasons)
    comment: str = attrs.field(default="", converter=str)
    created: datetime = attrs.field(factory=now_utc, converter=_time)
    updated: datetime = attrs.field(factory=now_utc, converter=_time)

    def to_row(self) -> dict[str, Any]:
        """The rating as a CSV/SQL row (:data:`CSV_COLUMNS`; text and numbers only)."""
        return {
            "rater": self.rater,
            "output_hash": self.output_hash,
            "case_id": self.case_id,
            "inpainter": self.inpainter,
            "backend": self.backend,
            "variant": self.variant,
            "acceptable": "true" if self.acceptable else "false",
            "reasons": ";".join(self.reasons),
            "comment": self.comment,
            "created": self.created.isoformat(),
            "updated": self.updated.isoformat(),
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Rating:
        """A rating from a row with the :data:`CSV_COLUMNS` (as :meth:`to_row` writes it).

        Raises:
            InvalidInputError: a column is missing or a value is not acceptable.
        """
        missing = [c for c in CSV_COLUMNS if c not in row]
        if missing:
            raise InvalidInputError(
                f"rating row lacks column(s) {', '.join(missing)}", available=CSV_COLUMNS
            )
        return cls(**{c: row[c] if row[c] is not None else "" for c in CSV_COLUMNS})


def connect(db: str | Path, *, create: bool = False) -> sqlite3.Connection:
    """Open the ratings database (WAL mode, 10 s busy timeout).

    Args:
        db: the ``.sqlite`` file.
        create: make it (and the table) when absent; else a missing file is an error.

    Raises:
        InvalidInputError: ``db`` does not exist (and ``create`` is false), or it is not a
            ratings database of a version this code reads.
    """
    path = Path(db).expanduser()
    if not create and not path.is_file():
        raise InvalidInputError(
            "no ratings database here", input=path, fix="rate some outputs first, or check the path"
        )
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = sqlite3.connect(path, timeout=10.0, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version == 0 and create:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in SCHEMA_SQL.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            version = SCHEMA_VERSION
    except sqlite3.DatabaseError as exc:
        raise InvalidInputError(
            f"not a readable SQLite database ({exc})",
            input=path,
            fix="give the ratings.sqlite file",
        ) from exc
    if version != SCHEMA_VERSION:
        conn.close()
        raise InvalidInputError(
            f"ratings database version {version}, this code reads version {SCHEMA_VERSION}",
            input=path,
            fix="use the radinpaint version that wrote it, or export it to CSV there",
        )
    return conn


def upsert_rating(conn: sqlite3.Connection, rating: Rating) -> Rating:
    """Store ``rating`` in one transaction: a new row, or an update of this rater's earlier
    rating of the same output (whose ``created`` is kept). Returns the rating as stored."""
    row = rating.to_row()
    row["acceptable"] = 1 if rating.acceptable else 0
    cols = ", ".join(CSV_COLUMNS)
    marks = ", ".join(f":{c}" for c in CSV_COLUMNS)
    sets = ", ".join(f"{c} = excluded.{c}" for c in CSV_COLUMNS if c not in ("rater", "created"))
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            f"INSERT INTO ratings ({cols}) VALUES ({marks}) "
            f"ON CONFLICT (rater, output_hash) DO UPDATE SET {sets}",
            row,
        )
        stored = conn.execute(
            f"SELECT {cols} FROM ratings WHERE rater = ? AND output_hash = ?",
            (rating.rater, rating.output_hash),
        ).fetchone()
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return _from_sql(stored)


def _from_sql(values: Sequence[Any]) -> Rating:
    return Rating.from_row(dict(zip(CSV_COLUMNS, values, strict=True)))


def read_ratings(source: str | Path, *, rater: str | None = None) -> list[Rating]:
    """Every rating in a ratings database or in a CSV from :func:`export_csv`.

    Args:
        source: a ``ratings.sqlite`` file (SQLite's header is checked, not the suffix) or a
            ``.csv``; a results folder stands for its ``review/ratings.sqlite``.
        rater: only this rater's ratings.

    Returns:
        Ratings ordered by rater, then time of first rating.

    Raises:
        InvalidInputError: ``source`` is missing, unreadable, or holds a bad row.
    """
    path = Path(source).expanduser()
    if path.is_dir():
        path = path / "review" / "ratings.sqlite"
    if not path.is_file():
        raise InvalidInputError(
            "no ratings file here", input=path, fix="give a ratings.sqlite or an exported CSV"
        )
    with path.open("rb") as fh:
        is_sqlite = fh.read(16) == b"SQLite format 3\x00"
    if is_sqlite:
        conn = connect(path)
        try:
            rows = conn.execute(
                f"SELECT {', '.join(CSV_COLUMNS)} FROM ratings ORDER BY rater, created, id"
            ).fetchall()
        finally:
            conn.close()
        out = [_from_sql(r) for r in rows]
    else:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            try:
                out = [Rating.from_row(row) for row in reader]
            except InvalidInputError as exc:
                raise InvalidInputError(
                    f"bad rating in line {reader.line_num}: {exc.what}",
                    input=path,
                    fix="give a CSV written by radinpaint review --export",
                ) from exc
    if rater is not None:
        out = [r for r in out if r.rater == rater]
    return out


def export_csv(source: str | Path, out: str | Path) -> Path:
    """Write every rating of ``source`` (see :func:`read_ratings`) to the CSV ``out``, with
    :data:`CSV_COLUMNS`; returns its path."""
    ratings = read_ratings(source)
    path = Path(out).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(CSV_COLUMNS))
        writer.writeheader()
        for r in ratings:
            writer.writerow(r.to_row())
    tmp.replace(path)
    return path


def ratings_table(source: str | Path) -> pd.DataFrame:
    """The ratings of ``source`` as a pandas table with :data:`CSV_COLUMNS` (``acceptable``
    bool, ``reasons`` a tuple, times as UTC timestamps)."""
    import pandas as pd

    rows = [attrs.asdict(r, recurse=False) for r in read_ratings(source)]
    table = pd.DataFrame(rows, columns=list(CSV_COLUMNS))
    for col in ("created", "updated"):
        table[col] = pd.to_datetime(table[col], utc=True)
    return table.astype({"acceptable": bool, "variant": "int64"})
