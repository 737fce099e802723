"""The ratings reader API (no web code): the record's checks, SQLite and CSV round trips,
and clear errors for files it cannot read."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import attrs
import pytest

from radinpaint.errors import InvalidInputError
from radinpaint.review.ratings import (
    CSV_COLUMNS,
    REASONS,
    Rating,
    connect,
    export_csv,
    ratings_table,
    read_ratings,
    upsert_rating,
)


def _rating(**kw) -> Rating:
    base = {"rater": "jd", "output_hash": "ab" * 32, "case_id": "c1", "inpainter": "telea-5",
            "backend": "telea", "variant": 0, "acceptable": False}  # fmt: skip
    return Rating(**(base | kw))


def test_rating_checks_its_fields() -> None:
    r = _rating(reasons=["texture", "ghost-marker", "texture"], output_hash="AB" * 32)
    assert r.reasons == ("ghost-marker", "texture")  # the page's order, no repeats
    assert r.output_hash == "ab" * 32
    assert r.created.tzinfo is not None
    with pytest.raises(InvalidInputError, match="unknown rating reason 'blurry'"):
        _rating(reasons=["blurry"])
    with pytest.raises(InvalidInputError, match="not an output content hash"):
        _rating(output_hash="xyz")
    with pytest.raises(InvalidInputError, match="bad rater id"):
        _rating(rater="")
    naive = _rating(created=datetime(2026, 1, 2, 3, 4, 5))
    assert naive.created == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_sqlite_and_csv_round_trip(tmp_path: Path) -> None:
    db = tmp_path / "review" / "ratings.sqlite"
    conn = connect(db, create=True)
    first = upsert_rating(conn, _rating(reasons=["other"], comment='says "no", twice'))
    later = attrs.evolve(first, acceptable=True, reasons=(), updated=datetime.now(UTC))
    stored = upsert_rating(conn, later)
    upsert_rating(conn, _rating(rater="zz", variant=2, acceptable=True))
    conn.close()
    assert stored.created == first.created and stored.acceptable is True
    got = read_ratings(db)
    assert [r.rater for r in got] == ["jd", "zz"]
    assert got[0] == stored
    assert read_ratings(tmp_path) == got  # a results folder stands for its database
    assert read_ratings(db, rater="zz") == got[1:]
    out = export_csv(db, tmp_path / "out.csv")
    assert out.read_text().splitlines()[0] == ",".join(CSV_COLUMNS)
    assert read_ratings(out) == got
    table = ratings_table(out)
    assert list(table.columns) == list(CSV_COLUMNS)
    assert table["acceptable"].tolist() == [True, True]
    assert str(table["created"].dt.tz) == "UTC"


def test_database_rejects_what_the_schema_forbids(tmp_path: Path) -> None:
    conn = connect(tmp_path / "r.sqlite", create=True)
    row = _rating().to_row() | {"acceptable": 2}
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute(
            f"INSERT INTO ratings ({', '.join(CSV_COLUMNS)}) "
            f"VALUES ({', '.join(':' + c for c in CSV_COLUMNS)})",
            row,
        )
    conn.close()
    assert read_ratings(tmp_path / "r.sqlite") == []


def test_unreadable_sources_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="no ratings file here"):
        read_ratings(tmp_path / "none.sqlite")
    with pytest.raises(InvalidInputError, match="no ratings database here"):
        connect(tmp_path / "none.sqlite")
    bad = tmp_path / "bad.csv"
    bad.write_text(",".join(CSV_COLUMNS) + "\n" + "jd,abc,c,i,b,0,true,,,x,y\n")
    with pytest.raises(InvalidInputError, match="bad rating in line 2"):
        read_ratings(bad)
    short = tmp_path / "short.csv"
    short.write_text("rater,output_hash\njd," + "a" * 64 + "\n")
    with pytest.raises(InvalidInputError, match="lacks column"):
        read_ratings(short)
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("PRAGMA user_version=7").connection.close()
    with pytest.raises(InvalidInputError, match="version 7"):
        read_ratings(other)
    reason_csv = tmp_path / "reason.csv"
    row = _rating().to_row() | {"reasons": "smudge"}
    reason_csv.write_text(",".join(CSV_COLUMNS) + "\n" + ",".join(map(str, row.values())) + "\n")
    with pytest.raises(InvalidInputError, match="unknown rating reason 'smudge'"):
        read_ratings(reason_csv)
    assert set(REASONS) >= {"ghost-marker", "border-artifact"}
