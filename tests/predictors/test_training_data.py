"""Honest defaults: what a predictor was trained on, what a dataset is, and the warning."""

from __future__ import annotations

from pathlib import Path

from radinpaint.cli import main
from radinpaint.datasets import PhantomDataset, open_dataset
from radinpaint.predictors.provenance import (
    FIX_OWN_MODEL,
    FIX_TRAIN,
    report_warning,
    training_data_warning,
)
from radinpaint.registry import build_backend

from .conftest import random_images


def test_the_shipped_ensemble_declares_phantoms() -> None:
    built = build_backend("predictor", "phantom-ensemble", device="cpu")
    assert built.capabilities.trained_on == "phantoms"
    assert built.capabilities.to_dict()["trained_on"] == "phantoms"


def test_datasets_say_what_they_are(rsna_samples: Path) -> None:
    from radinpaint.datasets import make_phantoms
    from radinpaint.predictors.provenance import dataset_content

    assert PhantomDataset(2, size=96).content == "phantoms"
    assert dataset_content(make_phantoms(2, size=96)) == "phantoms"  # a list of phantom cases
    assert dataset_content(random_images(2)) == "unknown"
    real = open_dataset(rsna_samples)
    assert real.content == "real"
    assert real[:3].content == "real"  # slices keep it


def test_saved_ensembles_keep_trained_on(tmp_path: Path) -> None:
    from torch import nn

    from radinpaint.predictors import (
        EnsemblePredictor,
        Member,
        MemberSpec,
        load_ensemble,
        save_ensemble,
    )

    spec = MemberSpec(name="m", architecture="compact-cnn", targets=("bone_age",),
                      preprocessing="phantom-128", arch_options={"widths": [4]})  # fmt: skip
    ens = EnsemblePredictor(name="e", members=[Member.build(spec)], metadata={"trained_on": "real"})
    assert isinstance(ens.members[0].module, nn.Module)
    save_ensemble(ens, tmp_path / "e")
    assert load_ensemble(tmp_path / "e").capabilities().trained_on == "real"
    ens.metadata.clear()
    save_ensemble(ens, tmp_path / "f")
    assert load_ensemble(tmp_path / "f").capabilities().trained_on == "unknown"


def test_warning_only_for_phantom_models_on_other_data() -> None:
    assert training_data_warning("p", "phantoms", "phantoms") is None
    assert training_data_warning("p", "unknown", "real") is None
    assert training_data_warning("p", "real", "real") is None
    text = training_data_warning("phantom-ensemble", "phantoms", "real")
    assert text is not None
    assert "'phantom-ensemble' was trained on radinpaint's synthetic phantoms only" in text
    assert FIX_OWN_MODEL in text and FIX_TRAIN in text
    assert "may be real" in (training_data_warning("p", "phantoms", "unknown") or "")


def test_report_opens_with_the_warning() -> None:
    manifest = {
        "evaluation": {"dataset_content": "real"},
        "backends": {"predictors": [
            {"label": "phantom-ensemble", "capabilities": {"trained_on": "phantoms"}},
            {"label": "mine", "capabilities": {"trained_on": "real"}},
        ]},
    }  # fmt: skip
    text = report_warning(manifest)
    assert text is not None and text.startswith("Warning: predictor 'phantom-ensemble' was")
    assert "'mine'" not in text
    manifest["evaluation"]["dataset_content"] = "phantoms"
    assert report_warning(manifest) is None


def test_predict_warns_with_the_default_predictor(tmp_path: Path, capsys) -> None:
    from radinpaint.io import write_image

    image = tmp_path / "hand.png"
    write_image(image, random_images(1)[0])
    assert main(["predict", str(image)]) == 0
    err = capsys.readouterr().err
    assert "radinpaint predict: warning: predictor 'phantom-ensemble' was trained on" in err
    assert FIX_OWN_MODEL in err
    spec = "module:factory=torch.nn:Identity,targets=bone_age,preprocessing=study-320,size=8"
    assert main(["predict", str(image), "--predictor", spec]) == 2  # Identity returns images
    err = capsys.readouterr().err
    assert "expected (16, 1)" in err  # the shape error names it (a CPU pass is 16 images)
    assert "warning" not in err  # unknown training data: no warning


def test_bench_on_real_data_warns_and_the_report_says_so(
    rsna_samples: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "bench"
    args = ["bench", "--data", str(rsna_samples), "--n", "3", "--variants", "1",
            "--backends", "identity", "--mask-provider", "markers", "--n-resamples", "20",
            "--no-progress", "--format", "md,json", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    out_text = capsys.readouterr().out
    assert "bench: warning: predictor 'phantom-ensemble' was trained on" in out_text
    assert "the data are real radiographs" in out_text
    report = (out / "report.md").read_text()
    first = report.split("\n\n")[1]
    assert first.startswith("Warning: predictor 'phantom-ensemble' was trained on synthetic")


def test_bench_on_phantoms_does_not_warn(tmp_path: Path, capsys) -> None:
    args = ["bench", "--n", "2", "--size", "96", "--variants", "1", "--backends", "identity",
            "--n-resamples", "20", "--no-progress", "--format", "md",
            "--out", str(tmp_path / "b")]  # fmt: skip
    assert main(args) == 0
    assert "warning" not in capsys.readouterr().out
    assert "Warning" not in (tmp_path / "b" / "report.md").read_text().split("\n\n")[1]


def test_run_warns_for_each_phantom_model(rsna_samples: Path, tmp_path: Path, capsys) -> None:
    args = ["run", "--data", str(rsna_samples), "--limit", "2", "--inpainters", "identity",
            "--mask-provider", "markers",
            "--predictors", "phantom-ensemble", "--n-resamples", "20", "--no-progress",
            "--format", "md", "--out", str(tmp_path / "r")]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.count("run: warning: predictor 'phantom-ensemble'") == 1
