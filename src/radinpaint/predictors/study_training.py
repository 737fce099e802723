"""Train the reference study's ensemble on your own labelled radiographs.

The study (arXiv 2511.23066) read bone age with sex-specific k-fold ensembles of ResNet-50
(one output; output x 200 = months; the mean over the folds of the case's sex) and sex with
five ResNet-50 (sigmoid, mean probability), all on the study's preprocessing
(:data:`~radinpaint.predictors.preprocessing.STUDY_320`). :func:`train_study_ensemble`
trains exactly that set on any RSNA layout (or any labelled folder) the datasets module
reads:

- ``male_resnet50_fold{k}``: trained on the male cases of all folds but ``k``;
- ``female_resnet50_fold{k}``: likewise on the female cases;
- ``sex_resnet50_fold{k}``: trained on every case with a known sex.

Bone-age members learn ``months / 200`` with an L1 loss, sex members the logit with binary
cross-entropy; each is early-stopped on its held-out fold. Training runs on
:mod:`radinpaint.predictors.engine` (DataLoader decode workers, AMP, resumable), and the
result is a saved ensemble (``get_predictor("ensemble", path=OUT)``) whose ``ensemble.json``
records what it was trained on (``trained_on``: ``"phantoms"``, or the data's name and
image count, declared as the predictor's ``Capabilities.trained_on``; details under
``training_data``) and with which recipe, plus a k-fold report (``kfold_report.csv``:
per-fold and out-of-fold MAE and AUC).

Example::

    from radinpaint.predictors.study_training import StudyRecipe, train_study_ensemble
    ens = train_study_ensemble("/data/rsna/boneage-training-dataset", "runs/study")
    # a small CPU run: a tiny ResNet, 2 folds, 2 epochs at 96 pixels
    small = StudyRecipe(folds=2, sex_folds=2, epochs=2, architecture="resnet",
                        arch_options={"depths": [1, 1, 1, 1], "base_width": 8})
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from ..errors import InvalidInputError, MissingLabelError
from ..records import Case
from ..seeds import derive_seed
from .engine import EngineOptions, FitSettings, TrainingPaused, fit_member, make_loaders
from .engine import resolve_device as _resolve_device
from .ensemble import EnsemblePredictor
from .members import Member, MemberSpec
from .preprocessing import STUDY_320, Preprocessing, get_preprocessing
from .provenance import PHANTOMS, dataset_content
from .study import STUDY_AGE_SCALE
from .training import _folds

__all__ = [
    "KFOLD_REPORT",
    "StudyRecipe",
    "TrainingPaused",
    "format_kfold_table",
    "train_study_ensemble",
]

KFOLD_REPORT = "kfold_report.csv"
"""The k-fold report's file name in the output folder."""

_CHECKPOINTS = "checkpoints"
_REPORT_COLUMNS = (
    "member", "target", "subset", "fold", "n_train", "n_val", "best_epoch", "epochs_run",
    "val_loss", "val_mae_months", "val_auc", "seconds",
)  # fmt: skip


@attrs.frozen
class StudyRecipe:
    """What the study's ensemble is and how it is trained (saved with the ensemble).

    The defaults are the study's models; ``architecture``, ``folds``, ``sex_folds``,
    ``epochs`` and ``preprocessing`` scale a run down (a tiny ResNet at 96 pixels trains
    on a CPU in minutes).

    Attributes:
        architecture: member network (``"resnet50"``: the study's; ``"resnet"`` with
            ``arch_options`` ``depths``/``base_width`` for a small one; ``"compact-cnn"``).
        arch_options: architecture options.
        preprocessing: preset name or :class:`Preprocessing` (the study's ``study-320``).
        folds: bone-age folds per sex (the members per sex).
        sex_folds: sex members (k of their k-fold split; 0 = no sex members).
        targets: ``"bone_age"`` and/or ``"male"``.
        age_scale: bone age in months = output x ``age_scale`` (the study: 200).
        epochs: the most epochs per member.
        patience: early stopping: epochs without a lower validation loss (0 = never stop).
        min_epochs: never stop before this many epochs (default: half of ``epochs``; the
            validation loss is noisy while the one-cycle learning rate is high).
        batch_size: images per optimiser step.
        lr: peak learning rate (AdamW, one-cycle schedule).
        weight_decay: AdamW weight decay.
        augment: random flip, rotation, brightness/contrast/gamma per image.
        rotate_deg: largest random rotation in degrees.
        flip: random horizontal flips.
        init_weights: a state dict (``.pth``/``.safetensors``, e.g. ImageNet timm
            ``resnet50`` weights you have) every member starts from; ``fc`` starts new.
        seed: the base seed (splits, initialisation, batch order, augmentation).
    """

    architecture: str = "resnet50"
    arch_options: dict[str, Any] = attrs.field(factory=dict)
    preprocessing: Preprocessing = attrs.field(default=STUDY_320, converter=get_preprocessing)
    folds: int = 5
    sex_folds: int = 5
    targets: tuple[str, ...] = attrs.field(default=("bone_age", "male"), converter=tuple)
    age_scale: float = STUDY_AGE_SCALE
    epochs: int = 30
    patience: int = 5
    min_epochs: int | None = None
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    augment: bool = True
    rotate_deg: float = 10.0
    flip: bool = True
    init_weights: str | None = None
    seed: int = 0

    def __attrs_post_init__(self) -> None:
        bad = [t for t in self.targets if t not in ("bone_age", "male")]
        if bad or not self.targets:
            raise InvalidInputError(
                f"unknown training target(s) {bad or '(none)'}",
                input="targets",
                available=["bone_age", "male"],
            )
        if self.folds < 2 and "bone_age" in self.targets:
            raise InvalidInputError(
                f"the study's bone-age ensembles are k-fold: folds must be >= 2, got {self.folds}",
                input="folds",
                fix="pass folds=2 or more (the study used 5)",
            )
        if "male" in self.targets and self.sex_folds < 2:
            raise InvalidInputError(
                f"sex members are k-fold: sex_folds must be >= 2, got {self.sex_folds}",
                input="sex_folds",
                fix="pass sex_folds=2 or more (the study used 5), or targets=('bone_age',)",
            )
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise InvalidInputError(f"{name} must be >= 1", input=name)
        if self.lr <= 0 or self.age_scale <= 0 or self.patience < 0:
            raise InvalidInputError(
                "lr and age_scale must be > 0 and patience >= 0", input="recipe"
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        d = attrs.asdict(self, recurse=False)
        d["preprocessing"] = self.preprocessing.to_dict()
        d["targets"] = list(self.targets)
        d["arch_options"] = {
            k: list(v) if isinstance(v, tuple) else v for k, v in self.arch_options.items()
        }
        return d

    def settings(self) -> FitSettings:
        """The per-member training settings."""
        min_epochs = self.epochs // 2 if self.min_epochs is None else self.min_epochs
        return FitSettings(
            epochs=self.epochs,
            patience=self.patience,
            min_epochs=min_epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            weight_decay=self.weight_decay,
            augment=self.augment,
            rotate_deg=self.rotate_deg,
            flip=self.flip,
        )

    @property
    def arch_tag(self) -> str:
        """The architecture as it appears in member names (``resnet50``)."""
        return re.sub(r"[^A-Za-z0-9]+", "-", self.architecture).strip("-") or "net"


@attrs.frozen
class _Job:
    spec: MemberSpec
    target: str
    subset: str | None
    fold: int
    train_idx: np.ndarray
    val_idx: np.ndarray
    seed: int


def _open(data: str | os.PathLike[str] | Sequence[Case]) -> tuple[Sequence[Case], str]:
    if isinstance(data, (str, os.PathLike)):
        from ..datasets import open_dataset

        path = Path(data)
        if path.is_dir() and not [*path.glob("*.csv"), *path.glob("*.xlsx")]:
            raise InvalidInputError(
                "no label table (CSV/XLSX) in the training folder",
                input=path,
                fix="point at the RSNA training folder (train.csv and <id>.png) or its CSV",
            )
        folder = path if path.is_dir() else path.parent
        label = folder.resolve().name + ("" if path.is_dir() else f"/{path.name}")
        return open_dataset(path), label
    from ..datasets import ImageDataset

    return data, data.name if isinstance(data, ImageDataset) else repr(data)[:200]


def _labels(cases: Sequence[Case]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Ids, bone ages (NaN = unknown) and sex (1/0, -1 = unknown), without decoding when
    the dataset keeps a label table."""
    from ..datasets import ImageDataset

    if isinstance(cases, ImageDataset):
        table = cases.labels
        ages = table["bone_age_months"].astype(float).to_numpy()
        male = np.array([-1 if v is None or v != v else int(bool(v)) for v in table["male"]])
        return [str(i) for i in table["id"]], ages, male.astype(np.int8)
    ids, ages_l, male_l = [], [], []
    for case in cases:
        ids.append(case.id)
        ages_l.append(np.nan if case.bone_age_months is None else case.bone_age_months)
        male_l.append(-1 if case.male is None else int(case.male))
    return ids, np.asarray(ages_l, dtype=float), np.asarray(male_l, dtype=np.int8)


class _Limited(Sequence[Case]):
    """The first ``n`` cases of a dataset, still lazy."""

    def __init__(self, cases: Sequence[Case], n: int) -> None:
        self.cases, self.n = cases, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self.n))]
        if not -self.n <= i < self.n:
            raise IndexError(i)
        return self.cases[i % self.n]


def _plan(recipe: StudyRecipe, ages: np.ndarray, male: np.ndarray) -> list[_Job]:
    jobs: list[_Job] = []
    groups: list[tuple[str, str | None, np.ndarray, int]] = []
    if "bone_age" in recipe.targets:
        known = ~np.isnan(ages)
        groups.append(("bone_age", "male", np.flatnonzero(known & (male == 1)), recipe.folds))
        groups.append(("bone_age", "female", np.flatnonzero(known & (male == 0)), recipe.folds))
    if "male" in recipe.targets:
        groups.append(("male", None, np.flatnonzero(male >= 0), recipe.sex_folds))
    for target, subset, usable, k in groups:
        prefix = subset if target == "bone_age" else "sex"
        if len(usable) < max(4, k):
            raise MissingLabelError(
                f"only {len(usable)} cases have the labels the {prefix} members need "
                f"({'bone age and sex' if target == 'bone_age' else 'sex'})",
                input=f"{prefix} members",
                fix="give more labelled cases, or fewer folds",
            )
        tag = f"{prefix}_{recipe.arch_tag}"
        for fold, (tr, va) in enumerate(
            _folds(len(usable), k, derive_seed(recipe.seed, "split", tag), 0.0)
        ):
            spec = MemberSpec(
                name=f"{tag}_fold{fold}",
                architecture=recipe.architecture,
                targets=(target,),
                preprocessing=recipe.preprocessing,
                arch_options=recipe.arch_options,
                sex_subset=subset,
                age_scale=recipe.age_scale if target == "bone_age" else 1.0,
            )
            seed = derive_seed(recipe.seed, tag, fold)
            jobs.append(_Job(spec, target, subset, fold, usable[tr], usable[va], seed))
    return jobs


def _fingerprint(recipe: StudyRecipe, ids: list[str], ages: np.ndarray, male: np.ndarray) -> str:
    h = hashlib.sha256(json.dumps(recipe.to_dict(), sort_keys=True).encode())
    h.update("\n".join(ids).encode())
    h.update(np.nan_to_num(ages, nan=-1.0).astype(np.float64).tobytes())
    h.update(male.astype(np.int8).tobytes())
    return h.hexdigest()


def _training_data(
    label: str, content: str, ids: list[str], ages: np.ndarray, male: np.ndarray
) -> dict[str, Any]:
    """What the ensemble was trained on: the ``trained_on`` declaration and its details."""
    return {
        "trained_on": PHANTOMS
        if content == PHANTOMS
        else f"{label} ({len(ids)} {'' if content == 'unknown' else content + ' '}images)",
        "data": label,
        "content": content,
        "n_images": len(ids),
        "n_bone_age": int((~np.isnan(ages)).sum()),
        "n_male": int((male == 1).sum()),
        "n_female": int((male == 0).sum()),
        "ids_sha256": hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest(),
    }


def _read_init(path: str | None) -> dict[str, Any] | None:
    if not path:
        return None
    from .checkpoint import read_pth_state_dict

    if str(path).endswith(".safetensors"):
        from safetensors.torch import load_file

        return dict(load_file(str(path)))
    return read_pth_state_dict(path)


def _auc(labels: np.ndarray, scores: np.ndarray) -> float:
    from ..metrics.classification import auc

    return auc(labels.astype(bool), scores) if len(set(labels.tolist())) == 2 else math.nan


def _report_rows(
    jobs: list[_Job], facts: dict[str, dict[str, Any]], ages: np.ndarray, male: np.ndarray
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    oof: dict[tuple[str, str | None], tuple[list[int], list[float], float]] = {}
    for job in jobs:
        f = facts[job.spec.name]
        idx = np.asarray(f["val_index"], dtype=int)
        pred = np.asarray(f["val_prediction"], dtype=float)
        row: dict[str, Any] = {
            "member": job.spec.name,
            "target": job.target,
            "subset": job.subset or "all",
            "fold": job.fold,
            "n_train": f["train_size"],
            "n_val": f["val_size"],
            "best_epoch": f["best_epoch"],
            "epochs_run": f["epochs_run"],
            "val_loss": f["best_val_loss"],
            "val_mae_months": math.nan,
            "val_auc": math.nan,
            "seconds": f["seconds"],
        }
        if job.target == "bone_age":
            row["val_mae_months"] = float(np.mean(np.abs(pred - ages[idx])))
        else:
            row["val_auc"] = _auc(male[idx], pred)
        rows.append(row)
        key = (job.target, job.subset)
        got = oof.setdefault(key, ([], [], 0.0))
        got[0].extend(idx.tolist())
        got[1].extend(pred.tolist())
        oof[key] = (got[0], got[1], got[2] + float(f["seconds"]))
    for (target, subset), (idx_l, pred_l, secs) in oof.items():
        idx, pred = np.asarray(idx_l, dtype=int), np.asarray(pred_l)
        rows.append(
            {
                "member": f"{subset or 'sex'} out-of-fold",
                "target": target,
                "subset": subset or "all",
                "fold": "oof",
                "n_train": "",
                "n_val": len(idx),
                "best_epoch": "",
                "epochs_run": "",
                "val_loss": "",
                "val_mae_months": float(np.mean(np.abs(pred - ages[idx])))
                if target == "bone_age"
                else math.nan,
                "val_auc": _auc(male[idx], pred) if target == "male" else math.nan,
                "seconds": round(secs, 2),
            }
        )
    return rows


def format_kfold_table(rows: Sequence[dict[str, Any]]) -> str:
    """The k-fold report as a fixed-width text table (what the CLI prints)."""

    def cell(v: Any) -> str:
        if isinstance(v, float):
            return "" if math.isnan(v) else f"{v:.4g}" if abs(v) < 1 else f"{v:.2f}"
        return str(v)

    table = [list(_REPORT_COLUMNS)] + [[cell(r[c]) for c in _REPORT_COLUMNS] for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(_REPORT_COLUMNS))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def _write_report(rows: list[dict[str, Any]], path: Path) -> None:
    import csv

    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(_REPORT_COLUMNS))
        writer.writeheader()
        for r in rows:
            writer.writerow(
                {k: "" if isinstance(v, float) and math.isnan(v) else v for k, v in r.items()}
            )


def train_study_ensemble(
    data: str | os.PathLike[str] | Sequence[Case],
    out: str | os.PathLike[str],
    recipe: StudyRecipe | None = None,
    engine: EngineOptions | None = None,
    *,
    name: str | None = None,
    limit: int | None = None,
    restart: bool = False,
) -> EnsemblePredictor:
    """Train the study's ensemble (see module docs) and save it in ``out``.

    Rerunning the same call with the same ``out`` resumes an interrupted run: finished
    members are read back, the member in progress continues from its last saved state.

    Args:
        data: an RSNA table or folder (any of the three layouts), a labelled folder, or
            any ``Sequence[Case]`` (phantoms, a subset).
        out: the output folder: the ensemble (``ensemble.json``, one ``.json`` and
            ``.safetensors`` per member), ``kfold_report.csv``, ``training_history.json``
            and ``checkpoints/`` (the resumable state).
        recipe: what to train (default: the study's models).
        engine: how to run it (device, decode workers, AMP, checkpoints).
        name: the ensemble name (default: the output folder's name).
        limit: train on the first ``limit`` cases only (quick trials).
        restart: discard a saved state in ``out`` and start over.

    Returns:
        The trained ensemble (on the CPU; bone age for a case uses the members of its sex,
        predicted by the sex members when not given).

    Raises:
        TrainingPaused: ``engine.stop_after_steps`` ran out; rerun to resume.
        MissingLabelError: too few cases with the labels a member set needs.
        CheckpointError: ``out`` holds the state of a run with another recipe or data.
    """
    from ..datasets import ImageDataset
    from .checkpoint import save_ensemble, save_member

    recipe = recipe or StudyRecipe()
    engine = engine or EngineOptions()
    cases, label = _open(data)
    content = dataset_content(cases)
    if limit is not None:
        if limit < 1:
            raise InvalidInputError(f"limit must be >= 1, got {limit}", input="limit")
        n = min(limit, len(cases))
        cases = cases[:n] if isinstance(cases, ImageDataset) else _Limited(cases, n)
    ids, ages, male = _labels(cases)
    jobs = _plan(recipe, ages, male)
    fingerprint = _fingerprint(recipe, ids, ages, male)
    out = Path(out)
    states = out / _CHECKPOINTS
    if restart and states.exists():
        shutil.rmtree(states)
    states.mkdir(parents=True, exist_ok=True)
    device = _resolve_device(engine.device)
    settings = recipe.settings()
    init_state = _read_init(recipe.init_weights)
    budget = None if engine.stop_after_steps is None else [int(engine.stop_after_steps)]
    loaders = None
    members: list[Member] = []
    facts: dict[str, dict[str, Any]] = {}
    targets_age = np.nan_to_num(ages, nan=0.0)
    targets_male = np.clip(male, 0, 1).astype(np.float64)
    for job in jobs:
        done = states / f"{job.spec.name}.done.json"
        if done.exists():
            record = json.loads(done.read_text())
            if record.get("fingerprint") == fingerprint:
                from .checkpoint import load_member

                members.append(load_member(out / f"{job.spec.name}.json"))
                facts[job.spec.name] = record["facts"]
                continue
            from ..errors import CheckpointError

            raise CheckpointError(
                "the output folder holds a finished member of a run with another recipe or "
                "data set",
                input=done,
                fix="rerun with that run's settings and data, pass restart=True (--restart), "
                "or write to another output folder",
            )
        if budget is not None and budget[0] <= 0:
            raise TrainingPaused(
                f"stopped after the requested number of steps, before {job.spec.name}",
                input=out,
                fix="rerun the same command to resume",
            )
        if loaders is None:
            cache_key = hashlib.sha256(
                json.dumps([recipe.preprocessing.to_dict(), ids], sort_keys=True).encode()
            ).hexdigest()[:16]
            loaders = make_loaders(
                cases,
                recipe.preprocessing,
                settings,
                engine,
                seed=recipe.seed,
                device=device,
                cache_stem=states / f"images-{cache_key}",
            )
        module, member_facts = fit_member(
            job.spec,
            loaders,
            targets_age if job.target == "bone_age" else targets_male,
            job.train_idx,
            job.val_idx,
            settings,
            engine,
            seed=job.seed,
            device=device,
            state_path=states / f"{job.spec.name}.state.pt",
            fingerprint=fingerprint,
            init_state=init_state,
            steps_budget=budget,
        )
        member = Member(job.spec, module, None)
        save_member(member, out)
        done.write_text(json.dumps({"fingerprint": fingerprint, "facts": member_facts}) + "\n")
        (states / f"{job.spec.name}.state.pt").unlink(missing_ok=True)
        members.append(member)
        facts[job.spec.name] = member_facts
    del loaders
    rows = _report_rows(jobs, facts, ages, male)
    _write_report(rows, out / KFOLD_REPORT)
    summary = {
        k: {kk: vv for kk, vv in v.items() if kk not in ("history", "val_index", "val_prediction")}
        for k, v in facts.items()
    }
    data_facts = _training_data(label, content, ids, ages, male)
    ensemble = EnsemblePredictor(
        name=name or out.resolve().name,
        members=members,
        sex_from_prediction="male" in recipe.targets and "bone_age" in recipe.targets,
        metadata={
            "trained_on": data_facts["trained_on"],
            "training_data": data_facts,
            "training": facts,
            "kfold_report": rows,
        },
    )
    save_ensemble(
        ensemble,
        out,
        extra={
            "trained_on": data_facts["trained_on"],
            "training_data": data_facts,
            "recipe": "study",
            "training": recipe.to_dict(),
            "members_report": summary,
        },
    )
    history = {k: {"history": v["history"]} for k, v in facts.items()}
    (out / "training_history.json").write_text(json.dumps(history, indent=1) + "\n")
    return ensemble
