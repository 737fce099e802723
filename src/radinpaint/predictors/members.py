"""Ensemble members: a network, what it predicts, and how its input is prepared.

A :class:`MemberSpec` is the JSON-serialisable description (architecture, targets, sex
handling, preprocessing, output scaling); a :class:`Member` pairs it with the torch module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from ..errors import InvalidInputError
from .preprocessing import Preprocessing, get_preprocessing

if TYPE_CHECKING:
    from torch import nn

__all__ = ["ADAPTER_PREFIX", "SEX_SUBSETS", "TARGETS", "Member", "MemberSpec"]

ADAPTER_PREFIX = "adapter:"
"""Architecture prefix of members wrapping a user's own model (``"adapter:onnx"``...; see
:mod:`radinpaint.predictors.adapters`): loaded from the user's file or code, never built."""

TARGETS: tuple[str, ...] = ("bone_age", "male")
"""What a member output can be: bone age in months, or the logit of P(male)."""

SEX_SUBSETS: tuple[str | None, ...] = (None, "male", "female")
"""Which cases a member applies to: all, male only, female only (sex-specific ensembles)."""


def _targets(value: object) -> tuple[str, ...]:
    items = (value,) if isinstance(value, str) else tuple(value)  # type: ignore[arg-type]
    for t in items:
        if t not in TARGETS:
            raise InvalidInputError(f"unknown member target {t!r}", available=TARGETS)
    if not items or len(set(items)) != len(items):
        raise InvalidInputError(f"member targets must be distinct and non-empty, got {items}")
    return items


@attrs.frozen
class MemberSpec:
    """What one ensemble member is.

    Attributes:
        name: unique within the ensemble (``"bone_age_fold0"``).
        architecture: ``"resnet50"``, ``"compact-cnn"``, ``"timm:<name>"``,
            ``"torchscript"``, or an adapter (``"adapter:torchscript"``, ``"adapter:onnx"``,
            ``"adapter:timm"``, ``"adapter:module"``) wrapping a model of the user's own.
        targets: what each output is, in order: ``"bone_age"`` (months after scaling)
            and/or ``"male"`` (a logit; the ensemble applies the sigmoid).
        preprocessing: how its input is prepared.
        arch_options: extra architecture options (``widths``...).
        sex_input: the network takes sex (1 = male) as a second input.
        sex_subset: ``None`` (all cases), ``"male"`` or ``"female"``: the member is only
            applied to cases of that sex (the study's sex-specific ensembles).
        age_scale: bone age in months = raw output x ``age_scale`` + ``age_offset``
            (the study: x 200).
        age_offset: see ``age_scale``.
    """

    name: str
    architecture: str
    targets: tuple[str, ...] = attrs.field(converter=_targets)
    preprocessing: Preprocessing = attrs.field(converter=get_preprocessing)
    arch_options: Mapping[str, Any] = attrs.field(factory=dict, converter=dict)
    sex_input: bool = False
    sex_subset: str | None = attrs.field(default=None)
    age_scale: float = attrs.field(default=1.0, converter=float)
    age_offset: float = attrs.field(default=0.0, converter=float)

    @sex_subset.validator
    def _check_subset(self, attribute: attrs.Attribute, value: str | None) -> None:
        if value not in SEX_SUBSETS:
            raise InvalidInputError(
                f"member {self.name!r}: unknown sex_subset {value!r}",
                available=["male", "female", "None"],
            )
        if "male" in self.targets and (self.sex_input or value is not None):
            raise InvalidInputError(
                f"member {self.name!r} predicts sex, so it cannot take sex as an input "
                "or be restricted to one sex",
                fix="drop sex_input/sex_subset from sex-predicting members",
            )

    @property
    def needs_sex(self) -> bool:
        """True when the member cannot run without each case's sex."""
        return self.sex_input or self.sex_subset is not None

    @property
    def num_outputs(self) -> int:
        """Outputs of the network."""
        return len(self.targets)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "name": self.name,
            "architecture": self.architecture,
            "targets": list(self.targets),
            "preprocessing": self.preprocessing.to_dict(),
            "arch_options": {
                k: list(v) if isinstance(v, tuple) else v for k, v in self.arch_options.items()
            },
            "sex_input": self.sex_input,
            "sex_subset": self.sex_subset,
            "age_scale": self.age_scale,
            "age_offset": self.age_offset,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MemberSpec:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        known = {f.name for f in attrs.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidInputError(
                f"unknown member config key(s) {unknown}", available=sorted(known)
            )
        return cls(**dict(data))

    def build_module(self) -> nn.Module:
        """An untrained network for this spec (not for ``torchscript`` members)."""
        from .architectures import build_model

        if self.architecture == "torchscript":
            raise InvalidInputError(
                f"member {self.name!r}: a TorchScript member is loaded from its file, not built",
                fix="use radinpaint.predictors.load_torchscript_member(path, ...)",
            )
        if self.architecture.startswith(ADAPTER_PREFIX):
            raise InvalidInputError(
                f"member {self.name!r}: an adapter member wraps your own model and is loaded "
                "from it, not built",
                fix="build it with radinpaint.predictors.from_file(...) / from_module(...) "
                "or get_predictor('onnx' | 'torchscript' | 'timm' | 'module', ...)",
            )
        return build_model(
            self.architecture,
            num_outputs=self.num_outputs,
            in_chans=self.preprocessing.channels,
            sex_input=self.sex_input,
            options=self.arch_options,
        )


@attrs.define
class Member:
    """A member spec with its torch module (in eval mode) and where it came from."""

    spec: MemberSpec
    module: Any = attrs.field(repr=False)
    source: str | None = None

    @classmethod
    def build(cls, spec: MemberSpec) -> Member:
        """A member with freshly initialised weights."""
        module = spec.build_module()
        module.eval()
        return cls(spec, module, None)

    @property
    def name(self) -> str:
        """The member's name."""
        return self.spec.name

    @property
    def is_script(self) -> bool:
        """True for TorchScript and adapter members (run one by one, never stacked)."""
        return self.spec.architecture == "torchscript" or self.is_adapter

    @property
    def is_adapter(self) -> bool:
        """True for members wrapping a user's own model (never saved as an ensemble member)."""
        return self.spec.architecture.startswith(ADAPTER_PREFIX)
