"""Building an :class:`~radinpaint.evaluation.core.Evaluation` from a JSON configuration.

A configuration is a mapping (read from a JSON file by ``radinpaint run --config``)::

    {
      "dataset": {"kind": "phantom", "n": 200, "seed": 0, "size": 512},
      "mask_provider": "ground-truth",
      "inpainters": ["identity", "resample", "telea",
                     {"name": "gan", "options": {"compositing": "raw"}, "label": "gan-raw"}],
      "predictors": ["phantom-ensemble"],
      "variants": 3,
      "preset": "recommended",
      "geometry": null,
      "metrics": null,
      "add_metrics": [],
      "seed": 0,
      "prompt": null,
      "cache_dir": "runs/cache",
      "workers": 2
    }

Datasets: ``{"kind": "phantom", "n", "seed", "size"}``; ``{"kind": "rsna", "labels",
"image_dir"}``; ``{"kind": "folder", "path", ...options}`` (anything
:func:`radinpaint.datasets.open_dataset` opens). Any of them takes ``"limit": N`` (first N
cases). Backend entries are names, ``NAME:KEY=VALUE`` strings or mappings (see
:class:`~radinpaint.evaluation.specs.BackendSpec`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInputError
from ..records import Case

if TYPE_CHECKING:
    from .core import Evaluation

__all__ = ["CONFIG_KEYS", "dataset_from_config", "evaluation_from_config"]

CONFIG_KEYS: tuple[str, ...] = (
    "dataset",
    "mask_provider",
    "inpainters",
    "predictors",
    "variants",
    "preset",
    "metrics",
    "seed",
    "prompt",
    "cache_dir",
    "workers",
    "executor",
    "ray_address",
    "views",
    "geometry",
    "chunk_size",
    "inpaint_batch_size",
    "predict_batch_size",
    "n_resamples",
    "progress",
    "n_samples",
    "pixel_detail_cases",
    "replicate_seed_independent",
    "add_metrics",
)
"""Keys a configuration may hold."""


class _Limited(Sequence[Case]):
    """The first ``n`` cases of a dataset."""

    def __init__(self, inner: Sequence[Case], n: int) -> None:
        self.inner, self.n = inner, min(int(n), len(inner))
        self.description = f"{getattr(inner, 'description', repr(inner))} (first {self.n})"
        self.content = str(getattr(inner, "content", "unknown"))  # phantoms or real

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self.n))]
        if not -self.n <= index < self.n:
            raise IndexError(index)
        return self.inner[index % self.n]


def dataset_from_config(spec: Mapping[str, Any] | str) -> Sequence[Case]:
    """The dataset a configuration names (see the module docs)."""
    from .. import datasets

    if isinstance(spec, str):
        spec = {"kind": "folder", "path": spec}
    spec = dict(spec)
    kind = spec.pop("kind", "folder")
    limit = spec.pop("limit", None)
    if kind == "phantom":
        n = int(spec.pop("n", 200))
        ds: Sequence[Case] = datasets.PhantomDataset(n, **spec)
        desc = f"phantoms n={n} " + " ".join(f"{k}={v}" for k, v in sorted(spec.items()))
    elif kind == "rsna":
        labels = spec.pop("labels", None)
        if labels is None:
            raise InvalidInputError(
                "an rsna dataset needs 'labels' (the label table's path)",
                fix='write {"kind": "rsna", "labels": "PATH.csv", "image_dir": "DIR"}',
            )
        ds = datasets.load_rsna(labels, spec.pop("image_dir", None), **spec)
        desc = f"rsna {labels}"
    elif kind == "folder":
        path = spec.pop("path", None)
        if path is None:
            raise InvalidInputError(
                "a folder dataset needs 'path'", fix='write {"kind": "folder", "path": "DIR"}'
            )
        ds = datasets.open_dataset(path, **spec)
        desc = f"folder {path}"
    else:
        raise InvalidInputError(
            f"unknown dataset kind {kind!r}",
            available=["phantom", "rsna", "folder"],
            fix="use kind phantom, rsna or folder (see docs/evaluation.md)",
        )
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise InvalidInputError(
                f"a dataset limit must be a whole number >= 1, got {limit!r}",
                input="limit",
                fix='write "limit": N with N >= 1, or leave it out for every case',
            )
        limited = _Limited(ds, int(limit))
        limited.description = f"{desc} (first {limited.n})"
        return limited
    with contextlib.suppress(AttributeError):
        ds.description = desc  # type: ignore[attr-defined]
    return ds


def evaluation_from_config(config: Mapping[str, Any], **overrides: Any) -> Evaluation:
    """Build an Evaluation from ``config`` (keys in :data:`CONFIG_KEYS`); ``overrides`` win."""
    from .core import Evaluation
    from .executor import LocalExecutor, SerialExecutor
    from .presets import get_preset

    merged = {**dict(config), **{k: v for k, v in overrides.items() if v is not None}}
    unknown = sorted(set(merged) - set(CONFIG_KEYS))
    if unknown:
        raise InvalidInputError(
            f"unknown configuration key(s): {', '.join(unknown)}", available=CONFIG_KEYS
        )
    for key in ("dataset", "inpainters", "predictors"):
        if key not in merged:
            raise InvalidInputError(f"the configuration needs '{key}'")
    dataset = merged.pop("dataset")
    if not isinstance(dataset, Sequence) or isinstance(dataset, (str, Mapping)):
        dataset = dataset_from_config(dataset)
    preset = merged.pop("preset", "recommended")
    preset = get_preset(preset) if isinstance(preset, str) else preset
    n_resamples = merged.pop("n_resamples", None)
    if n_resamples is not None:
        preset = preset.with_resamples(int(n_resamples))
    workers = merged.pop("workers", None)
    kind = merged.pop("executor", None)
    address = merged.pop("ray_address", None)
    if kind is not None and not isinstance(kind, str):
        merged["executor"] = kind  # an executor object
    elif kind == "ray" or (kind is None and address is not None):
        from .ray_executor import RayExecutor

        merged["executor"] = RayExecutor(address=address)
    elif kind == "serial":
        merged["executor"] = SerialExecutor()
    elif kind in (None, "local"):
        if workers is not None:
            merged["executor"] = LocalExecutor(int(workers))
    else:
        raise InvalidInputError(
            f"unknown executor {kind!r}",
            input="executor",
            available=["local", "serial", "ray"],
            fix="use 'local' (threads here), 'serial' (one at a time) or 'ray' (a Ray cluster)",
        )
    return Evaluation(dataset=dataset, preset=preset, **merged)
