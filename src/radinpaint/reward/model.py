"""A reward model learnt from ratings: P(acceptable) of an inpainted output.

A small network (``RewardNet``: three 3x3 convolutions with ReLU, the last two with stride
2; per view, the features averaged inside the mask and outside it, beside the mean and log
SD of the output and of its fine detail inside and outside; a two-layer MLP) reads the views
of :mod:`radinpaint.reward.samples` and is trained with the logistic loss (positive class =
acceptable, weighted so both classes count equally) by Adam, each batch flipped and
transposed at random, deterministic for a given seed. :func:`cross_validate` reports
accuracy (threshold 0.5) and ROC AUC of out-of-fold predictions, with folds split *by case*
(a case's outputs never sit on both sides), stratified by label
(:class:`sklearn.model_selection.StratifiedGroupKFold`).

Weights are saved as safetensors with a JSON config beside them (``FILE.json``) recording
the architecture, the views, the training options and data, and the cross-validation
figures; :func:`load_reward` reads both and refuses a mismatch.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from ..errors import CheckpointError, InvalidInputError
from ..seeds import derive_seed
from .samples import CHANNELS, MIN_WINDOW, VIEW, RatedSample, check_rated, sample_views

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = [
    "FORMAT",
    "CrossValidation",
    "RewardModel",
    "TrainOptions",
    "cross_validate",
    "load_reward",
    "train_reward",
    "weights_digest",
]

FORMAT = "radinpaint-reward"
"""The ``format`` entry of a reward model's JSON config."""


def _net(width: int) -> nn.Module:
    from torch import nn

    from .samples import VIEW_CHANNELS

    views = CHANNELS // VIEW_CHANNELS

    class RewardNet(nn.Module):
        """Convolutions pooled inside and outside the mask, plus masked moments, then an MLP.

        Per view, inside the mask and outside it: the conv features averaged, and the mean
        and log SD of the output and of its fine detail.
        """

        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(CHANNELS, width, 3, padding=1),
                nn.ReLU(),
                nn.Conv2d(width, 2 * width, 3, stride=2, padding=1),
                nn.ReLU(),
                nn.Conv2d(2 * width, 2 * width, 3, stride=2, padding=1),
                nn.ReLU(),
            )
            n_in = views * (4 * width + 8)
            self.head = nn.Sequential(nn.Linear(n_in, 32), nn.ReLU(), nn.Linear(32, 1))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            import torch
            import torch.nn.functional as F

            f = self.features(x)
            pooled = []
            for v in range(views):
                base = v * VIEW_CHANNELS
                m = x[:, base + 2 : base + 3]
                for inside in (m, 1.0 - m):
                    w = inside.sum(dim=(2, 3)).clamp_min(1.0)
                    for c in (base, base + 3):  # output, fine detail
                        mean = (x[:, c : c + 1] * inside).sum(dim=(2, 3)) / w
                        var = (((x[:, c : c + 1] - mean[..., None, None]) ** 2) * inside).sum(
                            dim=(2, 3)
                        ) / w
                        pooled += [mean, torch.log(var + 1e-4) / 2]
                    small = F.adaptive_avg_pool2d(inside, f.shape[-2:])
                    pooled.append(
                        (f * small).sum(dim=(2, 3)) / small.sum(dim=(2, 3)).clamp_min(1e-3)
                    )
            return self.head(torch.cat(pooled, dim=1))[:, 0]

    return RewardNet()


@attrs.frozen
class TrainOptions:
    """How a reward model is trained.

    Attributes:
        width: channels of the first convolution (then 2x and 4x).
        epochs: passes over the training outputs.
        batch_size: outputs per step.
        lr: Adam's learning rate.
        weight_decay: Adam's L2 penalty.
        seed: seed of initialisation and batch order.
        augment: flip and transpose each batch at random (all views alike): the verdict
            does not depend on orientation.
    """

    width: int = attrs.field(default=16, converter=int)
    epochs: int = attrs.field(default=12, converter=int)
    batch_size: int = attrs.field(default=16, converter=int)
    lr: float = attrs.field(default=2e-3, converter=float)
    weight_decay: float = attrs.field(default=1e-3, converter=float)
    seed: int = attrs.field(default=0, converter=int)
    augment: bool = attrs.field(default=True, converter=bool)

    def __attrs_post_init__(self) -> None:
        for name in ("width", "epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise InvalidInputError(f"reward training {name} must be >= 1")
        if not self.lr > 0:
            raise InvalidInputError(f"reward training lr must be > 0, got {self.lr}")


@attrs.define
class RewardModel:
    """A trained reward model: the network and its JSON config.

    Use :meth:`predict` for P(acceptable) of samples, :meth:`save` to write it,
    :func:`load_reward` to read it back.
    """

    net: Any = attrs.field(repr=False)
    config: dict[str, Any]

    def logits(self, views: torch.Tensor) -> torch.Tensor:
        """Logits of ``(N, 6, VIEW, VIEW)`` views (differentiable; the net in eval mode)."""
        self.net.eval()
        out: torch.Tensor = self.net(views)
        return out

    def predict_views(self, views: np.ndarray) -> np.ndarray:
        """P(acceptable) of precomputed views, float64 ``(N,)``."""
        import torch

        if len(views) == 0:
            return np.zeros(0)
        with torch.no_grad():
            logits = self.logits(torch.from_numpy(np.ascontiguousarray(views)))
        return torch.sigmoid(logits.double()).numpy()

    def predict(self, samples: Sequence[RatedSample]) -> np.ndarray:
        """P(acceptable) of each sample (its rating, if any, is ignored)."""
        return self.predict_views(sample_views(samples))

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write ``path`` (safetensors) and ``path`` with ``.json`` (the config)."""
        from safetensors.torch import save_file

        out = Path(path)
        if out.suffix != ".safetensors":
            raise InvalidInputError(
                f"reward weights must end in .safetensors, got {out.name}", input=str(out)
            )
        out.parent.mkdir(parents=True, exist_ok=True)
        tensors = {k: v.detach().cpu().contiguous() for k, v in self.net.state_dict().items()}
        save_file(tensors, str(out))
        config = dict(self.config)
        config["weights_sha256"] = weights_digest(out)
        out.with_suffix(".json").write_text(json.dumps(config, indent=2) + "\n", "utf-8")
        self.config = config
        return out


def weights_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a weights file's bytes (what caches key on)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _config(options: TrainOptions, data: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "format_version": 1,
        "architecture": {"name": "RewardNet", "channels": CHANNELS, "width": options.width},
        "views": {
            "size": VIEW,
            "min_window": MIN_WINDOW,
            "detail": "VIEW pixels at native resolution centred on the largest mask component",
            "local": "square window centred on the mask's box, side 2x the box's longer "
            "side, resized",
            "global": "whole image resized",
            "standardised": "output and original minus the original's mean over its SD, per view",
            "channels": ["output", "original", "mask"] * 3,
        },
        "training": {"options": attrs.asdict(options), **dict(data)},
    }


def _fit(views: np.ndarray, y: np.ndarray, options: TrainOptions) -> Any:
    import torch

    torch.manual_seed(derive_seed(options.seed, "reward-init"))
    net = _net(options.width)
    opt = torch.optim.Adam(net.parameters(), lr=options.lr, weight_decay=options.weight_decay)
    pos = float(y.sum())
    pos_weight = torch.tensor((len(y) - pos) / max(pos, 1.0), dtype=torch.float32)
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    x_all = torch.from_numpy(views)
    y_all = torch.from_numpy(y)
    rng = np.random.default_rng(derive_seed(options.seed, "reward-order"))
    net.train()
    for _ in range(options.epochs):
        order = rng.permutation(len(y))
        for start in range(0, len(order), options.batch_size):
            idx = torch.from_numpy(order[start : start + options.batch_size])
            batch = x_all[idx]
            if options.augment:
                # the verdict does not depend on orientation: flip and transpose at random
                flips = [d for d, f in zip((2, 3), rng.random(2) < 0.5, strict=True) if f]
                if flips:
                    batch = torch.flip(batch, flips)
                if rng.random() < 0.5:
                    batch = batch.transpose(2, 3)
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(net(batch), y_all[idx])
            loss.backward()
            opt.step()
    net.eval()
    return net


def train_reward(
    samples: Sequence[RatedSample],
    *,
    options: TrainOptions | None = None,
    data: Mapping[str, Any] | None = None,
    cv: CrossValidation | None = None,
    num_threads: int | None = None,
) -> RewardModel:
    """Train a reward model on all of ``samples``.

    Args:
        samples: rated outputs (both verdicts present).
        options: training options (defaults: :class:`TrainOptions`).
        data: facts about the training data to record in the config (sources, counts).
        cv: cross-validation figures to record in the config.
        num_threads: ``torch.set_num_threads`` for the run (None leaves it).

    Raises:
        InvalidInputError: no samples, unrated samples, or only one verdict.
    """
    import torch

    if num_threads is not None:
        torch.set_num_threads(int(num_threads))
    options = options or TrainOptions()
    y = check_rated(samples)
    net = _fit(sample_views(samples), y, options)
    record = {
        "outputs": len(samples),
        "cases": len({s.case_id for s in samples}),
        "acceptable": int(y.sum()),
        "inpainters": sorted({s.inpainter for s in samples}),
        **dict(data or {}),
    }
    config = _config(options, record)
    if cv is not None:
        config["cross_validation"] = cv.to_dict()
    return RewardModel(net=net, config=config)


@attrs.frozen
class CrossValidation:
    """Out-of-fold figures of a reward model (folds by case).

    Attributes:
        folds: number of folds.
        accuracy: accuracy of out-of-fold P(acceptable) >= 0.5.
        auc: ROC AUC of the pooled out-of-fold predictions.
        fold_auc: AUC within each fold (NaN for a fold holding one class).
        predictions: out-of-fold P(acceptable) per sample, in the input order.
        folds_of: the fold each sample was held out in.
        seed: the seed of the split and the training.
    """

    folds: int
    accuracy: float
    auc: float
    fold_auc: tuple[float, ...]
    predictions: np.ndarray = attrs.field(eq=False, repr=False)
    folds_of: np.ndarray = attrs.field(eq=False, repr=False)
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no per-sample predictions)."""
        return {
            "folds": self.folds,
            "split": "by case, stratified by verdict (StratifiedGroupKFold, shuffled)",
            "accuracy": round(self.accuracy, 4),
            "auc": round(self.auc, 4),
            "fold_auc": [None if np.isnan(a) else round(a, 4) for a in self.fold_auc],
            "seed": self.seed,
        }


def cross_validate(
    samples: Sequence[RatedSample],
    *,
    folds: int = 5,
    options: TrainOptions | None = None,
    num_threads: int | None = None,
) -> CrossValidation:
    """Accuracy and AUC of reward models trained without each fold's cases.

    Raises:
        InvalidInputError: fewer cases than folds, no samples, or one verdict only.
    """
    import torch
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedGroupKFold

    if folds < 2:
        raise InvalidInputError(f"cross-validation needs folds >= 2, got {folds}")
    if num_threads is not None:
        torch.set_num_threads(int(num_threads))
    options = options or TrainOptions()
    y = check_rated(samples, folds=folds)
    views = sample_views(samples)
    groups = np.array([s.case_id for s in samples])
    split = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=options.seed % 2**32)
    pred = np.full(len(y), np.nan)
    fold_of = np.full(len(y), -1)
    fold_auc = []
    for k, (train, test) in enumerate(split.split(views, y.astype(int), groups)):
        if y[train].min() == y[train].max():
            raise InvalidInputError(
                f"fold {k} trains on one verdict only",
                fix="rate more outputs of the rarer verdict, or use fewer folds",
            )
        model = RewardModel(net=_fit(views[train], y[train], options), config={})
        pred[test] = model.predict_views(views[test])
        fold_of[test] = k
        both = y[test].min() != y[test].max()
        fold_auc.append(float(roc_auc_score(y[test], pred[test])) if both else float("nan"))
    return CrossValidation(
        folds=folds,
        accuracy=float(((pred >= 0.5) == (y == 1)).mean()),
        auc=float(roc_auc_score(y, pred)),
        fold_auc=tuple(fold_auc),
        predictions=pred,
        folds_of=fold_of,
        seed=options.seed,
    )


def load_reward(path: str | os.PathLike[str]) -> RewardModel:
    """Read a reward model written by :meth:`RewardModel.save`.

    Raises:
        CheckpointError: a missing file, a config of another format, or weights that do not
            fit the architecture the config names.
    """
    from safetensors.torch import load_file

    p = Path(path)
    cfg_path = p.with_suffix(".json")
    if not p.is_file() or not cfg_path.is_file():
        raise CheckpointError(
            "reward model not found (needs the .safetensors file and its .json beside it)",
            input=str(p),
            fix="train one with `radinpaint train-reward`",
        )
    try:
        config = json.loads(cfg_path.read_text("utf-8"))
    except ValueError as exc:
        raise CheckpointError(f"unreadable reward config: {exc}", input=str(cfg_path)) from exc
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise CheckpointError(
            "not a reward model config", input=str(cfg_path), fix="pass a train-reward output"
        )
    arch = config.get("architecture", {})
    if arch.get("channels") != CHANNELS or config.get("views", {}).get("size") != VIEW:
        raise CheckpointError(
            "the reward model was trained on other views than this version reads",
            input=str(cfg_path),
            fix="retrain it with this version's `radinpaint train-reward`",
        )
    net = _net(int(arch.get("width", 16)))
    try:
        net.load_state_dict(load_file(str(p)))
    except (RuntimeError, KeyError) as exc:
        raise CheckpointError(f"weights do not fit the architecture: {exc}", input=str(p)) from exc
    net.eval()
    return RewardModel(net=net, config=config)
