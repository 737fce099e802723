"""The tidy table's schema is the evaluation's; the metrics re-export it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from radinpaint.errors import InvalidInputError
from radinpaint.evaluation import SerialExecutor, get_preset
from radinpaint.evaluation.schema import (
    KEY_COLUMNS,
    RUN_COLUMNS,
    TABLE_COLUMNS,
    TABLE_SCHEMA,
    table_column,
)


def test_metrics_read_the_evaluation_schema() -> None:
    import radinpaint.evaluation as evaluation
    import radinpaint.metrics as metrics
    from radinpaint.metrics.tables import TABLE_COLUMNS as from_tables

    assert from_tables is TABLE_COLUMNS is metrics.TABLE_COLUMNS is evaluation.TABLE_COLUMNS
    assert evaluation.TABLE_SCHEMA is TABLE_SCHEMA


def test_schema_is_consistent() -> None:
    names = [c.name for c in TABLE_SCHEMA]
    assert len(set(names)) == len(names)
    assert (*TABLE_COLUMNS, *RUN_COLUMNS) == tuple(names)
    assert TABLE_COLUMNS[: len(KEY_COLUMNS)] == KEY_COLUMNS
    assert all(c.meaning and c.dtype for c in TABLE_SCHEMA)
    assert table_column("true_male").dtype == "float64"
    with pytest.raises(InvalidInputError, match="no column 'age'"):
        table_column("age")


@pytest.mark.parametrize(
    "first", ["radinpaint.metrics.tables", "radinpaint.evaluation.schema", "radinpaint.metrics"]
)
def test_no_import_cycle_whichever_module_comes_first(first: str) -> None:
    code = (
        f"import importlib; importlib.import_module({first!r}); "
        "from radinpaint.metrics.tables import TABLE_COLUMNS; "
        "from radinpaint.evaluation import Evaluation, TABLE_COLUMNS as E; "
        "assert E is TABLE_COLUMNS"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_an_evaluation_writes_the_schema(test_plugin, phantoms) -> None:
    from radinpaint.evaluation import Evaluation

    result = Evaluation(
        phantoms[:2],
        inpainters=["identity", "test-noise"],
        predictors=["test-mean"],
        variants=1,
        preset=get_preset("study").with_resamples(5),
        executor=SerialExecutor(),
        progress=False,
        pixel_detail_cases=0,
    ).run()
    assert list(result.table.columns) == [c.name for c in TABLE_SCHEMA]
    ok = result.ok_rows()
    for column in TABLE_SCHEMA:
        if column.dtype == "float64":
            assert ok[column.name].dtype.kind == "f", column.name
    # the ensemble's member spread (ddof 0; two members 1 month either side of the mean)
    assert ok["member_sd_bone_age"].to_numpy() == pytest.approx(1.0, rel=1e-9)
