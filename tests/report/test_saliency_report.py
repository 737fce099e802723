"""The saliency report: the grid figure renders, the shift table reads, files are written."""

from __future__ import annotations

import io

import attrs
import numpy as np
import pytest

pytest.importorskip("captum")
pytest.importorskip("torch")

from radinpaint.records import Radiograph
from radinpaint.report.saliency import (
    saliency_grid,
    saliency_panels,
    shift_table,
    write_saliency_report,
)


@pytest.fixture(scope="module")
def study():
    """Three phantoms, the shipped ensemble, an identity and a blurred output."""
    import cv2

    from radinpaint import get_metric
    from radinpaint.datasets.phantom import make_phantom
    from radinpaint.predictors import load_phantom_ensemble
    from radinpaint.saliency import saliency_shift_table

    cases = [make_phantom(s, size=128) for s in range(3)]
    ens = load_phantom_ensemble(device="cpu")
    outputs = {
        "identity": [c.image for c in cases],
        "blur": [Radiograph(cv2.GaussianBlur(c.image.pixels, (0, 0), 3.0), 16) for c in cases],
    }
    per_case = saliency_shift_table(ens, cases, outputs, targets=["bone_age"])
    metric = get_metric("saliency-shift", n_resamples=50).compute(per_case)
    panels = saliency_panels(ens, cases[:2], {k: v[:2] for k, v in outputs.items()})
    return cases, outputs, per_case, metric, panels


def test_the_grid_renders_every_panel(study) -> None:
    from PIL import Image

    _cases, _, _, _, panels = study
    assert len(panels) == 2 * 2  # cases x backends
    assert {p.inpainter for p in panels} == {"identity", "blur"}
    for p in panels:
        assert p.map_original.shape == p.original.shape
    ident = [p for p in panels if p.inpainter == "identity"]
    assert all(p.shift["emd"] == 0.0 for p in ident)
    png = saliency_grid(panels)
    assert png is not None and png[:8] == b"\x89PNG\r\n\x1a\n"
    image = Image.open(io.BytesIO(png))
    w, h = image.size
    assert w > 400 and h > 4 * 100  # five columns, four rows
    # the figure is not blank: the maps and images give it many distinct colours
    assert len(np.unique(np.asarray(image.convert("RGB")).reshape(-1, 3), axis=0)) > 500
    assert saliency_grid([]) is None


def test_the_shift_table_has_cis_and_identity_reads_zero(study) -> None:
    _, _, _, metric, _ = study
    table = shift_table(metric)
    frame = table.frame
    assert list(frame["inpainter"]) == ["identity", "blur"]
    assert frame.loc[0, "EMD [95% CI]"] == "0.000 [0.000, 0.000]"
    blur = frame.loc[1, "EMD [95% CI]"]
    assert blur.count("[") == 1 and not blur.startswith("0.000 ")
    assert "Δ share hand" in frame.columns and "Δ share growth plates" in frame.columns
    assert "identity control gives exactly 0" in table.text


def test_the_report_files_are_written(study, tmp_path) -> None:
    _, _, per_case, metric, panels = study
    paths = write_saliency_report(
        tmp_path, metric, panels=panels, per_case=per_case, facts={"cases": 3}
    )
    assert set(paths) == {"saliency.md", "saliency.html", "saliency_grid.png",
                          "saliency_shift.csv", "saliency_shift_cases.csv"}  # fmt: skip
    md = paths["saliency.md"].read_text()
    assert "rank shift [95% CI]" in md and "figures/saliency_grid.png" in md
    page = paths["saliency.html"].read_text()
    assert "data:image/png;base64," in page and "src='http" not in page


def test_the_main_report_lays_the_metric_out(study, tmp_path) -> None:
    """An evaluation result that carries the saliency-shift metric shows its table."""
    from radinpaint.datasets import make_phantoms
    from radinpaint.evaluation import Evaluation, SerialExecutor, get_preset
    from radinpaint.report import write_report
    from radinpaint.report.tables import metric_sections

    _, _, _, metric, _ = study
    cases = [c for c in make_phantoms(6, seed=5, size=96) if not c.artifact_mask.is_empty]
    result = Evaluation(
        cases[:3], inpainters=["identity", "telea"], predictors=["phantom-ensemble"],
        preset=get_preset("recommended").with_resamples(20), executor=SerialExecutor(),
        progress=False,
    ).run()  # fmt: skip
    result = attrs.evolve(result, metrics={**result.metrics, "saliency-shift": metric})
    sections = dict(metric_sections(result))
    frame = sections["saliency-shift"][0].frame
    assert "EMD [95% CI]" in frame.columns and len(frame) == 2
    paths = write_report(result, tmp_path, formats=("md",))
    assert "rank shift [95% CI]" in paths["report.md"].read_text()
