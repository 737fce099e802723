"""Batched ensembles of bone-age and sex networks: the :class:`EnsemblePredictor`.

All members sit on one device. Images are preprocessed once per distinct preprocessing (in
a background thread, one batch ahead), and every group of same-architecture members runs on
the whole batch (stacked and vmapped on a GPU) under ``torch.inference_mode``, with bf16
autocast and channels-last memory on a GPU. Per-member outputs are returned with the
aggregate (mean or median).

Sex-specific members (``sex_subset="male"``/``"female"``) are applied only to cases of that
sex, as the reference study did; members with ``sex_input`` receive the sex as an input.
Both need the sex of every case: from ``male=`` or, with ``sex_from_prediction=True``, from
the ensemble's own sex members.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from ..capabilities import Capabilities
from ..errors import InvalidInputError
from ..fingerprint import fingerprint_files, fingerprint_value
from ..records import Predictions, Radiograph
from .members import Member

__all__ = ["AGGREGATIONS", "CPU_PASS", "EnsemblePredictor"]

AGGREGATIONS: tuple[str, ...] = ("mean", "median")
"""How member outputs are combined."""

CPU_PASS = 16
"""Images per forward pass on a CPU: every pass has this size (the last one padded), so an
image's prediction does not depend on which images share its batch."""


def _check_members(instance: Any, attribute: attrs.Attribute, value: list[Member]) -> None:
    if not value:
        raise InvalidInputError("an ensemble needs at least one member")
    names = [m.name for m in value]
    if len(set(names)) != len(names):
        raise InvalidInputError(f"member names must be unique, got {names}")


def _members(value: Iterable[Member]) -> list[Member]:
    return list(value)


def _check_aggregation(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    if value not in AGGREGATIONS:
        raise InvalidInputError(f"unknown aggregation {value!r}", available=AGGREGATIONS)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60.0, 60.0)))


@attrs.define
class EnsemblePredictor:
    """A :class:`~radinpaint.protocols.Predictor` made of torch members.

    Build one with :func:`~radinpaint.predictors.load_ensemble` (a saved directory),
    :func:`~radinpaint.predictors.load_study_ensemble` (the study's ``.pth`` layout),
    :func:`~radinpaint.predictors.train_ensemble`, or from :class:`Member` objects.

    Attributes:
        name: the name reported in :class:`~radinpaint.records.Predictions`.
        members: the members (unique names).
        aggregation: ``"mean"`` or ``"median"`` over the members that apply to a case.
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
        batch_size: images per batch.
        amp: ``"auto"`` (bf16 on CUDA, off on CPU), ``"bf16"``, ``"fp16"`` or ``"none"``.
        channels_last: ``"auto"`` (on CUDA), or True/False.
        stack: ``"auto"`` (vmap stacked weights on CUDA, a loop on CPU), ``"vmap"``,
            ``"loop"``.
        prefetch: preprocess the next batch in a background thread.
        sex_from_prediction: when sex is needed and not given, use the ensemble's own
            sex prediction (P(male) >= 0.5) instead of raising.
        progress: show a tqdm progress bar.
        metadata: facts about the ensemble (training report, provenance); its
            ``"trained_on"`` (``"phantoms"``, ``"real"``...) is declared as
            :attr:`Capabilities.trained_on <radinpaint.capabilities.Capabilities.trained_on>`.
        source_files: the files the ensemble was loaded from (its ``ensemble.json``, the
            members' configs and weights), set by the loaders; :meth:`capabilities`
            fingerprints them. Empty for an ensemble built in memory.
    """

    name: str
    members: list[Member] = attrs.field(converter=_members, validator=_check_members)
    aggregation: str = attrs.field(default="mean", validator=_check_aggregation)
    device: str = "auto"
    batch_size: int = 64
    amp: str = "auto"
    channels_last: bool | str = "auto"
    stack: str = "auto"
    prefetch: bool = True
    sex_from_prediction: bool = False
    progress: bool = False
    metadata: dict[str, Any] = attrs.field(factory=dict, repr=False)
    source_files: tuple[str, ...] = attrs.field(
        factory=tuple, converter=lambda v: tuple(str(p) for p in v), repr=False, kw_only=True
    )
    _groups: list[Any] | None = attrs.field(default=None, init=False, repr=False)
    _weights_fp: tuple[Any, str] | None = attrs.field(default=None, init=False, repr=False)
    _torch_device: Any = attrs.field(default=None, init=False, repr=False)
    _channels_last: bool = attrs.field(default=False, init=False, repr=False)

    # -- description -----------------------------------------------------------------
    @property
    def targets(self) -> tuple[str, ...]:
        """The targets some member predicts, in ``("bone_age", "male")`` order."""
        found = {t for m in self.members for t in m.spec.targets}
        return tuple(t for t in ("bone_age", "male") if t in found)

    @property
    def needs_sex(self) -> bool:
        """True when some member needs each case's sex (sex input or sex-specific)."""
        return any(m.spec.needs_sex for m in self.members)

    def target_members(self, target: str) -> list[Member]:
        """The members predicting ``target``, in ensemble order (the member columns)."""
        return [m for m in self.members if target in m.spec.targets]

    def describe(self) -> dict[str, Any]:
        """JSON-ready summary: members, targets, settings."""
        return {
            "name": self.name,
            "aggregation": self.aggregation,
            "targets": list(self.targets),
            "members": [m.spec.to_dict() | {"source": m.source} for m in self.members],
        }

    # -- capabilities ----------------------------------------------------------------
    def capabilities(self) -> Capabilities:
        """What this predictor declares to the evaluation (see :class:`Capabilities`).

        Deterministic; one call at a time (torch modules are never entered from two
        threads); batches of :attr:`batch_size` on :attr:`device`. ``needs_sex`` when a
        member takes sex as an input or is sex-specific; ``infers_sex`` when, in addition,
        an unknown sex is filled from the ensemble's own sex members
        (``sex_from_prediction`` with a sex-predicting member).

        The fingerprint hashes the weights and everything else the outputs depend on: the
        members' specs (architecture, targets, preprocessing, sex handling, output
        scaling), the aggregation, ``sex_from_prediction`` and ``amp``. Weights are hashed
        from the files the ensemble was loaded from (:attr:`source_files` and each member's
        ``source``), without loading anything; a member built in memory (trained, or made
        from a module) is hashed from its state dict's tensor bytes instead. The weights
        part is computed on the first call and kept: it describes the weights this object
        holds, so reload the ensemble after retraining into its folder.
        """
        needs = self.needs_sex
        return Capabilities(
            deterministic=True,
            max_concurrency=1,
            batch_size=int(self.batch_size),
            device=self._device_name(),
            needs_sex=needs,
            infers_sex=needs and bool(self.sex_from_prediction) and "male" in self.targets,
            trained_on=str(self.metadata.get("trained_on") or "unknown"),
            fingerprint=fingerprint_value(
                {
                    "weights": self._weights_fingerprint(),
                    "members": [m.spec.to_dict() for m in self.members],
                    "aggregation": self.aggregation,
                    "sex_from_prediction": bool(self.sex_from_prediction),
                    "amp": self.amp,
                }
            ),
        )

    def _device_name(self) -> str:
        """The device the members run on, resolved without touching CUDA where possible."""
        if self._groups is not None and self._torch_device is not None:
            return str(self._torch_device)
        if self.device not in (None, "auto"):
            return str(self.device)
        import sys

        torch = sys.modules.get("torch")
        if torch is None:
            return "auto"
        return "cuda" if torch.cuda.is_available() else "cpu"

    def _weights_fingerprint(self) -> str:
        # kept per object (and per member set: replacing members computes it again)
        key = (self.source_files, tuple((m.name, m.source, id(m.module)) for m in self.members))
        if self._weights_fp is None or self._weights_fp[0] != key:
            files = list(self.source_files)
            known = {str(Path(f).absolute()) for f in files}
            in_memory: dict[str, str] = {}
            for m in self.members:
                src = m.source
                if src and Path(src).is_file():
                    if str(Path(src).absolute()) not in known:
                        files.append(src)
                        known.add(str(Path(src).absolute()))
                else:
                    in_memory[m.name] = _state_dict_sha256(m.module)
            value = fingerprint_value(
                {"files": fingerprint_files(files) if files else "", "in_memory": in_memory}
            )
            self._weights_fp = (key, value)
        return self._weights_fp[1]

    # -- setup -----------------------------------------------------------------------
    def _setup(self) -> None:
        if self._groups is not None:
            return
        import torch

        from .runtime import MemberGroup, resolve_device

        dev = resolve_device(self.device)
        cl = dev.type == "cuda" if self.channels_last == "auto" else bool(self.channels_last)
        if self.stack not in ("auto", "vmap", "loop"):
            raise InvalidInputError(
                f"unknown stack mode {self.stack!r}", available=["auto", "vmap", "loop"]
            )
        stack = self.stack == "vmap" or (self.stack == "auto" and dev.type == "cuda")
        for m in self.members:
            m.module.eval()
            m.module.to(dev)
            if cl and not m.is_script:
                m.module.to(memory_format=torch.channels_last)
        keys: dict[tuple[Any, ...], list[int]] = {}
        for i, m in enumerate(self.members):
            s = m.spec
            key = (
                s.preprocessing.key,
                s.architecture if not m.is_script else f"script:{i}",
                repr(sorted(s.arch_options.items())),
                s.targets,
                s.sex_input,
                s.sex_subset,
            )
            keys.setdefault(key, []).append(i)
        groups = []
        for idx in keys.values():
            spec = self.members[idx[0]].spec
            runner = MemberGroup(
                [self.members[i].module for i in idx],
                stack=stack and not self.members[idx[0]].is_script,
                sex_input=spec.sex_input,
            )
            groups.append((idx, spec, runner))
        # members that do not need sex run first: their sex predictions can feed the rest
        groups.sort(key=lambda g: g[1].needs_sex)
        self._torch_device = dev
        self._groups = groups
        self._channels_last = cl

    def to(self, device: str) -> EnsemblePredictor:
        """Move every member to ``device`` (takes effect at the next prediction)."""
        self.device = device
        self._groups = None
        return self

    # -- prediction ------------------------------------------------------------------
    def _check_male(self, n: int, male: Sequence[bool | None] | None) -> np.ndarray:
        """Sexes as int8: 1 male, 0 female, -1 unknown (``None`` entries or no ``male``)."""
        if male is None:
            sexes = np.full(n, -1, dtype=np.int8)
        else:
            values = list(male)
            if len(values) != n:
                raise InvalidInputError(f"got {n} images but {len(values)} sexes in male=")
            sexes = np.array([-1 if v is None else int(bool(v)) for v in values], dtype=np.int8)
        can_predict = self.sex_from_prediction and "male" in self.targets
        if (sexes < 0).any() and self.needs_sex and not can_predict:
            users = [m.name for m in self.members if m.spec.needs_sex]
            raise InvalidInputError(
                f"predictor {self.name!r} needs each image's sex (members {users} take "
                "sex as an input or are sex-specific) and none was given for "
                f"{int((sexes < 0).sum())} image(s)",
                fix="pass male=[True/False, ...] (CLI: --male true|false), or build the "
                "predictor with sex_from_prediction=True",
            )
        return sexes

    def predict(
        self, images: Sequence[Radiograph], male: Sequence[bool] | None = None
    ) -> Predictions:
        """Predict every image (any size and bit depth), batched; see the Predictor contract.

        Args:
            images: radiographs (or cases, or a lazy dataset of either).
            male: each image's sex (``None`` entries = unknown), needed by sex-specific or
                sex-input members unless ``sex_from_prediction``.
        """
        import torch

        from .runtime import amp_dtype, autocast_context, prefetch_batches

        n = len(images)
        sexes = self._check_male(n, male)
        self._setup()
        assert self._groups is not None
        dev = self._torch_device
        dtype = amp_dtype(self.amp, dev)
        raw = {m.name: np.full((n, m.spec.num_outputs), np.nan) for m in self.members}
        preps = list({g[1].preprocessing.key: g[1].preprocessing for g in self._groups}.values())
        prep_index = {p.key: i for i, p in enumerate(preps)}
        batches = [np.arange(s, min(s + self.batch_size, n)) for s in range(0, n, self.batch_size)]
        stream = prefetch_batches(
            images, batches, preps, pin_memory=dev.type == "cuda", prefetch=self.prefetch
        )
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=n, desc=f"predict {self.name}", unit="img")
        failures: dict[int, str] = {}
        with torch.inference_mode(), autocast_context(dev, dtype):
            for idx, tensors, failed in stream:
                failures.update(failed)
                xs = [self._to_device(t) for t in tensors]
                for g_idx, spec, runner in self._groups:
                    if spec.needs_sex and (sexes[idx] < 0).any():
                        self._fill_predicted_sex(idx, raw, sexes)
                    rows = np.arange(len(idx))
                    if spec.sex_subset is not None:
                        want = 1 if spec.sex_subset == "male" else 0
                        rows = np.flatnonzero(sexes[idx] == want)
                        if rows.size == 0:
                            continue
                    x = xs[prep_index[spec.preprocessing.key]]
                    sex_t = None
                    if spec.sex_input:
                        sex_t = torch.from_numpy(sexes[idx][rows].astype(np.float32)).to(dev)
                    if rows.size != len(idx):
                        x = x[torch.from_numpy(rows).to(dev)]
                    out = self._forward(runner, x, sex_t)  # (members, rows, outputs)
                    for k, i in enumerate(g_idx):
                        raw[self.members[i].name][idx[rows]] = out[k]
                if bar is not None:
                    bar.update(len(idx))
        if bar is not None:
            bar.close()
        for i in failures:  # an image that could not be read has no prediction
            for values in raw.values():
                values[i] = np.nan
        return self._assemble(raw, sexes, failures)

    def _forward(self, runner: Any, x: Any, sex: Any) -> np.ndarray:
        """``runner(x, sex)`` as numpy, the same for an image whichever images share its
        batch.

        Kernels round differently with the batch size (not with the position in a batch),
        and a prediction is cached as a function of the image alone; so every pass has
        exactly the same size: :data:`CPU_PASS` images on a CPU, where larger passes gain
        nothing, ``batch_size`` on a GPU; the last pass is padded with copies of an image.
        """
        import torch

        n = int(x.shape[0])
        size = CPU_PASS if self._torch_device.type == "cpu" else self.batch_size
        outs = []
        for start in range(0, n, size):
            xb = x[start : start + size]
            sb = None if sex is None else sex[start : start + size]
            pad = size - int(xb.shape[0])
            if pad:
                xb = torch.cat([xb, xb[:1].expand(pad, *xb.shape[1:])])
                if sb is not None:
                    sb = torch.cat([sb, sb[:1].expand(pad)])
            outs.append(runner(xb, sb)[:, : size - pad])
        return torch.cat(outs, dim=1).float().cpu().numpy()

    def _to_device(self, t: Any) -> Any:
        import torch

        dev = self._torch_device
        if dev.type == "cpu":
            return t
        t = t.to(dev, non_blocking=True)
        if self._channels_last:
            t = t.contiguous(memory_format=torch.channels_last)
        return t

    def _fill_predicted_sex(
        self, idx: np.ndarray, raw: dict[str, np.ndarray], sexes: np.ndarray
    ) -> None:
        cols = []
        for m in self.target_members("male"):
            cols.append(raw[m.name][idx, m.spec.targets.index("male")])
        p = _sigmoid(np.stack(cols, axis=1))
        agg = np.nanmedian(p, axis=1) if self.aggregation == "median" else np.nanmean(p, axis=1)
        unknown = sexes[idx] < 0
        sexes[idx[unknown]] = (agg[unknown] >= 0.5).astype(np.int8)

    def _assemble(
        self, raw: dict[str, np.ndarray], sexes: np.ndarray, failures: dict[int, str] | None = None
    ) -> Predictions:
        n = sexes.shape[0]
        outputs: dict[str, np.ndarray | None] = {}
        for target in ("bone_age", "male"):
            members = self.target_members(target)
            if not members:
                outputs[target], outputs[f"m_{target}"] = None, None
                continue
            cols = []
            for m in members:
                v = raw[m.name][:, m.spec.targets.index(target)]
                if target == "bone_age":
                    v = v * m.spec.age_scale + m.spec.age_offset
                else:
                    v = _sigmoid(v)
                cols.append(v)
            full = np.stack(cols, axis=1)  # NaN where a member does not apply
            member = _compact(full)
            empty = np.isnan(member).all(axis=1)
            empty[list(failures or ())] = False
            if empty.any():
                bad = int(np.flatnonzero(empty)[0])
                raise InvalidInputError(
                    f"no {target} member of {self.name!r} applies to image {bad}",
                    fix="give sexes covered by the ensemble's sex-specific members",
                )
            with np.errstate(all="ignore"), warnings.catch_warnings():
                # the rows of images that failed are all NaN, and stay NaN
                warnings.simplefilter("ignore", RuntimeWarning)
                agg = (
                    np.nanmedian(member, axis=1)
                    if self.aggregation == "median"
                    else np.nanmean(member, axis=1)
                )
            outputs[target], outputs[f"m_{target}"] = agg, member
        assert n == len(next(v for v in outputs.values() if v is not None))
        return Predictions(
            predictor=self.name,
            bone_age_months=outputs["bone_age"],
            p_male=outputs["male"],
            member_bone_age=outputs["m_bone_age"],
            member_p_male=outputs["m_male"],
            failures=failures or {},
        )

    def predict_naive(
        self, images: Sequence[Radiograph], male: Sequence[bool] | None = None
    ) -> Predictions:
        """The reference loop: each image, each member, one forward pass of batch size 1.

        Slow on purpose; the benchmark and the tests compare :meth:`predict` against it.
        """
        import torch

        n = len(images)
        sexes = self._check_male(n, male)
        self._setup()
        dev = self._torch_device
        raw = {m.name: np.full((n, m.spec.num_outputs), np.nan) for m in self.members}
        order = sorted(self.members, key=lambda m: m.spec.needs_sex)
        with torch.inference_mode():
            for i in range(n):
                image = images[i]
                for m in order:
                    s = m.spec
                    if s.needs_sex and sexes[i] < 0:
                        self._fill_predicted_sex(np.array([i]), raw, sexes)
                    if s.sex_subset is not None and sexes[i] != (s.sex_subset == "male"):
                        continue
                    x = torch.from_numpy(s.preprocessing(image)[None]).to(dev)
                    if s.sex_input:
                        sex_t = torch.tensor([float(sexes[i])], device=dev)
                        out = m.module(x, sex_t)
                    else:
                        out = m.module(x)
                    raw[m.name][i] = out.float().cpu().numpy()[0]
        return self._assemble(raw, sexes)


def _state_dict_sha256(module: Any) -> str:
    """SHA-256 over a module's state dict: each entry's name, dtype, shape and bytes."""
    import hashlib

    import torch

    h = hashlib.sha256(b"radinpaint-state-dict/1\n")
    for name, value in sorted(module.state_dict().items()):
        h.update(name.encode("utf-8") + b"\0")
        if isinstance(value, torch.Tensor):
            t = value.detach().to("cpu").contiguous().reshape(-1)
            h.update(f"{t.dtype}:{tuple(value.shape)}\0".encode())
            h.update(t.view(torch.uint8).numpy().data)
        else:
            h.update(repr(value).encode("utf-8"))
    return h.hexdigest()


def _compact(full: np.ndarray) -> np.ndarray:
    """Move each row's non-NaN values to the left (keeping order); pad with NaN."""
    valid = ~np.isnan(full)
    if valid.all():
        return full
    width = max(int(valid.sum(axis=1).max()), 1)
    out = np.full((full.shape[0], width), np.nan)
    for pattern in np.unique(valid, axis=0):
        rows = (valid == pattern).all(axis=1)
        cols = np.flatnonzero(pattern)
        out[np.ix_(rows, np.arange(cols.size))] = full[np.ix_(rows, cols)]
    return out
