"""What a predictor was trained on, against what it reads: the phantom-on-real warning.

A predictor declares the data its weights were trained on
(:attr:`Capabilities.trained_on <radinpaint.capabilities.Capabilities.trained_on>`:
``"phantoms"`` for the shipped ``phantom-ensemble``, what ``ensemble.json`` records for a
saved ensemble, ``"unknown"`` for your own models unless you state it), and a dataset says
what its images are (``content``: ``"phantoms"`` or ``"real"``). A model trained on
radinpaint's synthetic phantoms only reads phantoms: on real radiographs its bone age and
sex are meaningless, so the command line and the report say so, with the fix.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "FIX_OWN_MODEL",
    "FIX_TRAIN",
    "PHANTOMS",
    "dataset_content",
    "evaluation_warnings",
    "print_training_warning",
    "report_warning",
    "training_data_warning",
]

PHANTOMS = "phantoms"
"""The ``trained_on`` / ``content`` value of radinpaint's synthetic phantoms."""

FIX_OWN_MODEL = (
    "--predictor torchscript:path=YOUR_MODEL.pt,allow_torchscript=true,targets=bone_age,"
    "preprocessing=study-320"
)
"""The fix the warning names first: your own model (see docs/your-own-models.md)."""

FIX_TRAIN = (
    "radinpaint train-predictor --recipe study --data YOUR_RSNA_TRAINING_FOLDER --out my-model"
)
"""The other fix: train a model on real radiographs, then ``--predictor ensemble:path=my-model``."""


def dataset_content(dataset: Any) -> str:
    """What a dataset's images are: its ``content`` (``"phantoms"``, ``"real"``); for a list
    or tuple of cases in memory, ``"phantoms"`` when every image comes from the phantom
    generator (``source`` ``"phantom:..."``); otherwise ``"unknown"``."""
    content = getattr(dataset, "content", None)
    if content:
        return str(content)
    if isinstance(dataset, (list, tuple)) and dataset:
        from ..records import Case

        sources = [
            getattr(item.image if isinstance(item, Case) else item, "source", None)
            for item in dataset
        ]
        if all(isinstance(s, str) and s.startswith("phantom:") for s in sources):
            return PHANTOMS
    return "unknown"


def training_data_warning(predictor: str, trained_on: str, content: str) -> str | None:
    """The warning for a phantom-trained predictor reading data that are not phantoms.

    Args:
        predictor: the predictor's name or spec, as the user wrote it.
        trained_on: what it declares it was trained on.
        content: what the data are (``"real"``, ``"phantoms"``, ``"unknown"``).

    Returns:
        ``None`` when there is nothing to warn about (a predictor not trained on phantoms, or
        phantom data), else one paragraph naming the exact options that fix it.
    """
    if str(trained_on) != PHANTOMS or str(content) == PHANTOMS:
        return None
    data = (
        "the data are real radiographs"
        if content == "real"
        else "these images may be real radiographs"
    )
    return (
        f"predictor {predictor!r} was trained on radinpaint's synthetic phantoms only, but "
        f"{data}: its bone-age and sex predictions on real images are meaningless, and so is "
        "every effect measured with them. Use your own model trained on real radiographs, "
        f"e.g. {FIX_OWN_MODEL} (onnx:, timm: and module: work alike; see "
        f"docs/your-own-models.md), or train one with `{FIX_TRAIN}` and pass "
        "--predictor ensemble:path=my-model."
    )


def report_warning(manifest: dict[str, Any]) -> str | None:
    """The warning for a finished run, from its manifest (the predictors' declared
    ``trained_on`` and the dataset's ``content``); ``None`` when there is none."""
    content = str(manifest.get("evaluation", {}).get("dataset_content", "unknown"))
    names = []
    for rec in manifest.get("backends", {}).get("predictors", []):
        caps = rec.get("capabilities") or {}
        if caps.get("trained_on") == PHANTOMS and content != PHANTOMS:
            names.append(str(rec.get("label") or rec.get("name")))
    if not names:
        return None
    who = ", ".join(repr(n) for n in names)
    data = "real radiographs" if content == "real" else "data not marked as phantoms"
    return (
        f"Warning: predictor {who} was trained on synthetic phantoms only and read {data} "
        "here, so its bone-age and sex predictions, and every shift below, say nothing "
        f"about real images. Rerun with a model trained on real radiographs ({FIX_OWN_MODEL}, "
        f"or one trained with `{FIX_TRAIN}`; see docs/your-own-models.md)."
    )


def evaluation_warnings(evaluation: Any) -> list[str]:
    """The warnings for an evaluation about to run: one per phantom-trained predictor when
    its dataset is not phantoms (nothing is built for phantom data).

    Each predictor is built once to read what it declares (a predictor that cannot be built
    is left to the evaluation, which reports it).
    """
    content = dataset_content(evaluation.dataset)
    if content == PHANTOMS:
        return []
    out: list[str] = []
    for spec in evaluation.predictors:
        try:
            built = spec.build_declared("predictor")
        except Exception:  # the evaluation reports it with its own error
            continue
        label = spec.label or spec.name
        text = training_data_warning(label, built.capabilities.trained_on, content)
        if text:
            out.append(text)
    return out


def print_training_warning(
    prefix: str, predictor: str, trained_on: str, dataset: Any, *, stderr: bool = False
) -> None:
    """Print :func:`training_data_warning` as ``PREFIX: warning: ...``, if there is one
    (on stdout beside a command's other notes, or on stderr)."""
    import sys

    text = training_data_warning(predictor, trained_on, dataset_content(dataset))
    if text:
        print(f"{prefix}: warning: {text}", file=sys.stderr if stderr else sys.stdout)
