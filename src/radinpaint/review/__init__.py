"""``radinpaint review``: a local web page where radiologists rate inpainted outputs.

:mod:`.ratings` holds the rating record, the SQLite schema and the readers (no web code);
:mod:`.store` finds a results folder's outputs, originals and masks; :mod:`.app` is the Flask
application (``pip install "radinpaint[review]"``).
"""

from __future__ import annotations

from .ratings import REASONS, Rating, export_csv, ratings_table, read_ratings

__all__ = ["REASONS", "Rating", "export_csv", "ratings_table", "read_ratings"]
