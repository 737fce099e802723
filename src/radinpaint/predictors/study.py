"""The reference study's models, loaded from its own file layout.

The study (arXiv 2511.23066) read bone age with sex-specific ensembles of timm ``resnet50``
networks (one output, x 200 = months, mean over folds), files
``{male|female}_resnet50_fold*_best_score.pth``, and sex with five timm ``resnet50``
networks (sigmoid of one output, mean probability). All take the study's preprocessing
(:data:`~radinpaint.predictors.preprocessing.STUDY_320`).

The weights load into radinpaint's own :class:`~radinpaint.predictors.architectures.ResNet50`,
whose keys equal timm's, so timm is not needed.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError, ModelUnavailableError
from .architectures import ResNet50
from .checkpoint import build_empty, inside_folder, load_state_dict_checked, read_pth_state_dict
from .ensemble import EnsemblePredictor
from .members import Member, MemberSpec
from .preprocessing import STUDY_320, Preprocessing

__all__ = [
    "STUDY_AGE_SCALE",
    "STUDY_FEMALE_PATTERN",
    "STUDY_MALE_PATTERN",
    "STUDY_SEX_PATTERN",
    "load_study_ensemble",
    "study_member",
]

STUDY_MALE_PATTERN = "male_resnet50_fold*_best_score.pth"
"""Glob of the male bone-age members."""
STUDY_FEMALE_PATTERN = "female_resnet50_fold*_best_score.pth"
"""Glob of the female bone-age members."""
STUDY_SEX_PATTERN = "resnet50_gender_*.pth"
"""Glob of the sex members: the study's ``validate_gender.py`` loads
``resnet50_gender_{k}.pth`` for k = 0..4."""
STUDY_AGE_SCALE = 200.0
"""The study's networks output bone age / 200 months."""


def _check_pattern(pattern: str, option: str) -> None:
    """A glob must stay inside the weights folder: relative, without ``..``."""
    parts = Path(pattern).parts
    if Path(pattern).is_absolute() or ".." in parts:
        raise InvalidInputError(
            f"{option} {pattern!r} would match files outside the weights folder",
            input=pattern,
            fix=f"give {option} as a glob relative to weights_dir, without '..' "
            "(e.g. 'male_resnet50_fold*_best_score.pth')",
        )


def _glob_inside(directory: Path, pattern: str) -> list[Path]:
    """The files matching ``pattern`` in ``directory``, each checked to lie inside it."""
    paths = sorted(directory.glob(pattern), key=_fold_key)
    for p in paths:
        inside_folder(directory, str(p.relative_to(directory)), referrer=directory, what="weights")
    return paths


def _fold_key(path: Path) -> tuple[int, str]:
    found = re.search(r"fold[_-]?(\d+)", path.name) or re.search(r"_(\d+)\.pth$", path.name)
    return (int(found.group(1)) if found else 1 << 30, path.name)


def study_member(
    path: str | Path,
    *,
    target: str,
    sex_subset: str | None = None,
    name: str | None = None,
    preprocessing: Preprocessing = STUDY_320,
    age_scale: float = STUDY_AGE_SCALE,
) -> Member:
    """One study ``.pth`` file as a member (timm ``resnet50`` keys, one output)."""
    path = Path(path)
    spec = MemberSpec(
        name=name or path.stem,
        architecture="resnet50",
        targets=(target,),
        preprocessing=preprocessing,
        sex_subset=sex_subset,
        age_scale=age_scale if target == "bone_age" else 1.0,
    )
    module = build_empty(lambda: ResNet50(num_outputs=1, in_chans=preprocessing.channels))
    state = {
        k: (v.float() if v.is_floating_point() else v).contiguous()
        for k, v in read_pth_state_dict(path).items()
    }
    load_state_dict_checked(module, state, source=str(path), assign=True)
    module.eval()
    return Member(spec, module, str(path))


def load_study_ensemble(
    directory: str | Path,
    *,
    male_pattern: str = STUDY_MALE_PATTERN,
    female_pattern: str = STUDY_FEMALE_PATTERN,
    sex_pattern: str | None = STUDY_SEX_PATTERN,
    name: str = "study-resnet50",
    preprocessing: Preprocessing = STUDY_320,
    **options: Any,
) -> EnsemblePredictor:
    """Load the study's weights folder into one ensemble, in one call.

    Args:
        directory: the folder holding the ``.pth`` files.
        male_pattern: glob of the male bone-age folds.
        female_pattern: glob of the female bone-age folds.
        sex_pattern: glob of the sex members (``None`` to skip sex).
        name: the predictor name.
        preprocessing: the members' preprocessing (the study's by default).
        **options: :class:`EnsemblePredictor` settings (``device``, ``batch_size``...).

    Bone age is predicted with the male folds for male cases and the female folds for
    female cases, so ``predict`` needs ``male=`` (or ``sex_from_prediction=True``).
    The ensemble keeps the ``.pth`` files it was read from (``source_files``); its
    ``capabilities()`` fingerprints their bytes.

    The ``.pth`` files are read with ``torch.load(weights_only=True)``, so a file that would
    run code when unpickled is refused. Only files inside ``directory`` are read: the
    patterns must be relative globs without ``..``, and a matching file that resolves
    outside the folder through a symbolic link is refused before it is read.

    Raises:
        ModelUnavailableError: the folder is missing or no file matches any pattern.
        CheckpointError: a file is not a ResNet-50 state dict with one output, or cannot be
            read with ``weights_only=True``.
        PathOutsideFolderError: a matching file resolves outside the folder.
        InvalidInputError: a pattern is absolute or uses ``..``.
    """
    directory = Path(directory)
    for option, pattern in (
        ("male_pattern", male_pattern),
        ("female_pattern", female_pattern),
        ("sex_pattern", sex_pattern),
    ):
        if pattern:
            _check_pattern(pattern, option)
    if not directory.is_dir():
        raise ModelUnavailableError(
            "the study weights folder does not exist",
            input=directory,
            fix="pass weights_dir=<folder with *_resnet50_fold*_best_score.pth files>",
        )
    members: list[Member] = []
    for subset, pattern in (("male", male_pattern), ("female", female_pattern)):
        paths = _glob_inside(directory, pattern)
        if subset == "male":  # "male_*" must not pick up "female_*" under a looser glob
            paths = [p for p in paths if not p.name.startswith("female")]
        members += [
            study_member(p, target="bone_age", sex_subset=subset, preprocessing=preprocessing)
            for p in paths
        ]
    if sex_pattern:
        used = {m.source for m in members}
        sex_paths = [p for p in _glob_inside(directory, sex_pattern) if str(p) not in used]
        members += [study_member(p, target="male", preprocessing=preprocessing) for p in sex_paths]
        if not sex_paths and members:  # never drop the sex model silently
            warnings.warn(
                f"no sex model in {directory} matches {sex_pattern!r}: the ensemble predicts "
                "bone age only (pass sex_pattern=<glob of your sex folds>, or None to say so)",
                RuntimeWarning,
                stacklevel=2,
            )
    if not members:
        raise ModelUnavailableError(
            "no study weights found",
            input=directory,
            available=sorted(p.name for p in directory.iterdir())[:20],
            fix=f"expected files matching {male_pattern!r}, {female_pattern!r} or "
            f"{sex_pattern!r}; pass other patterns as options",
        )
    options["source_files"] = [m.source for m in members if m.source]
    return EnsemblePredictor(name=name, members=members, **options)
