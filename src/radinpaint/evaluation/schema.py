"""The tidy table an evaluation builds: its columns, their types and what they mean.

One row per case x inpainter x variant x predictor x view. The first columns
(:data:`TABLE_COLUMNS`) are what the metric plugins read; the run columns after them
describe how the row was made. The evaluation defines this table; the metrics
(:mod:`radinpaint.metrics.tables`) and the report read it.

This module imports nothing on import, so any part of radinpaint can depend on it. Import
it by its module path, ``radinpaint.evaluation.schema``; from a module the evaluation
package imports (the metrics), lazily: the package's ``__init__`` imports the runner.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = [
    "KEY_COLUMNS",
    "RUN_COLUMNS",
    "TABLE_COLUMNS",
    "TABLE_SCHEMA",
    "TableColumn",
    "table_column",
]


class TableColumn(NamedTuple):
    """One column of the tidy table.

    Attributes:
        name: the column name.
        dtype: its type as a pandas dtype name (``"object"`` for text; a float column holds
            NaN where the value is missing).
        meaning: what it holds.
    """

    name: str
    dtype: str
    meaning: str


TABLE_SCHEMA: tuple[TableColumn, ...] = (
    TableColumn("case_id", "object", "the case's id (text)"),
    TableColumn("inpainter", "object", "the inpainter's label (unique within a run)"),
    TableColumn("variant", "int64", "variant number, 0 .. variants - 1"),
    TableColumn("predictor", "object", "the predictor's label (unique within a run)"),
    TableColumn(
        "view",
        "object",
        "which image was scored: 'total' (the output), 'in-mask' (original outside the "
        "mask, output inside) or 'out-of-mask' (output outside the mask, original inside)",
    ),
    TableColumn("true_bone_age", "float64", "the case's bone age in months (NaN: unknown)"),
    TableColumn("true_male", "float64", "the case's sex, 1.0 male, 0.0 female (NaN: unknown)"),
    TableColumn("pred_bone_age", "float64", "bone age (months) predicted on this view"),
    TableColumn("pred_p_male", "float64", "probability of male predicted on this view"),
    TableColumn(
        "orig_pred_bone_age", "float64", "bone age the same predictor reads on the original"
    ),
    TableColumn(
        "orig_pred_p_male",
        "float64",
        "probability of male the same predictor reads on the original",
    ),
    TableColumn("backend", "object", "the inpainter's registered name"),
    TableColumn(
        "seed", "int64", "seed the inpainter was given (float64 with NaN where one did not run)"
    ),
    TableColumn("compositing", "object", "'paste-back' or 'raw' (None: not run)"),
    TableColumn(
        "collapse",
        "object",
        "how the views coincide: 'unchanged', 'paste-back', 'outside-only', "
        "'geometry-only' or 'none'",
    ),
    TableColumn(
        "frame",
        "object",
        "where the views were scored: 'restored' (the original's shape) or 'as-returned' "
        "(the backend's own frame, e.g. a squashed 1024x1024 square)",
    ),
    TableColumn("cached", "bool", "the output was read from the result cache"),
    TableColumn("replicated", "bool", "variant 0's output reused (a seed-independent backend)"),
    TableColumn("seconds", "float64", "wall seconds the inpainter spent on this output"),
    TableColumn("cost_usd", "float64", "what this output cost (API backends)"),
    TableColumn("inpaint_flags", "object", "the inpainter's flags, comma-separated"),
    TableColumn(
        "member_sd_bone_age",
        "float64",
        "SD (ddof 0) of bone age across an ensemble's members on this view; missing members "
        "skipped, NaN with fewer than 2",
    ),
    TableColumn("member_sd_p_male", "float64", "the same for the probability of male"),
    TableColumn("error", "object", "why the row has no prediction (None: it has one)"),
)
"""Every column, in the order the evaluation writes them."""

KEY_COLUMNS: tuple[str, ...] = ("case_id", "inpainter", "variant", "predictor", "view")
"""The columns that identify a row."""

TABLE_COLUMNS: tuple[str, ...] = tuple(c.name for c in TABLE_SCHEMA[:11])
"""The columns the metric plugins read: the key, the labels and the predictions."""

RUN_COLUMNS: tuple[str, ...] = tuple(c.name for c in TABLE_SCHEMA[11:])
"""The columns after :data:`TABLE_COLUMNS`: how each row was made, and its error."""


def table_column(name: str) -> TableColumn:
    """The column called ``name``.

    Raises:
        InvalidInputError: the table has no such column (the message lists them).
    """
    for column in TABLE_SCHEMA:
        if column.name == name:
            return column
    from ..errors import InvalidInputError

    raise InvalidInputError(
        f"the tidy table has no column {name!r}", available=[c.name for c in TABLE_SCHEMA]
    )
