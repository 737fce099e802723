"""The runtime half of the adapters: a user's model behind the members' calling convention.

:class:`OutputAdapter` wraps any model (a torch module, a TorchScript module, an
:class:`OnnxRunner`, a plain Python callable) so that it behaves like a built-in member:
``forward(x, sex=None)`` returns a ``(batch, outputs)`` float tensor, one column per declared
target, bone age raw (the member's ``age_scale``/``age_offset`` apply after) and sex as a
logit (a model that outputs a probability is converted). A wrong output shape raises an
:class:`~radinpaint.errors.InvalidInputError` that names the model, the shape and the
declared targets. See :mod:`radinpaint.predictors.adapters` for building one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import InvalidInputError, ModelUnavailableError, require

__all__ = ["OnnxRunner", "OutputAdapter"]

_EPS = 1e-7


class OutputAdapter(nn.Module):
    """A user's model with the members' calling convention and checked outputs.

    Args:
        model: a torch module (registered as the submodule ``model``, so it moves with
            ``.to(device)``) or any callable ``model(x[, sex])``.
        label: names the model in errors (its file or factory).
        targets: what the outputs are, in order (``"bone_age"``, ``"male"``).
        sex_input: pass the sex (a ``(batch,)`` float tensor, 1 = male) as a second argument.
        sex_output: ``"logit"`` or ``"probability"`` (converted to a logit here, so the
            ensemble's sigmoid gives the model's probability back).
    """

    def __init__(
        self,
        model: Any,
        *,
        label: str,
        targets: Sequence[str],
        sex_input: bool = False,
        sex_output: str = "logit",
    ) -> None:
        super().__init__()
        if isinstance(model, nn.Module):
            self.model: nn.Module | None = model
            self._fn: Callable[..., Any] | None = None
        else:
            self.model = None
            self._fn = model
        self.label = label
        self.targets = tuple(targets)
        self.sex_input = bool(sex_input)
        self.sex_output = sex_output

    def forward(self, x: torch.Tensor, sex: torch.Tensor | None = None) -> torch.Tensor:
        """``(batch, len(targets))`` raw outputs; sex columns as logits."""
        fn = self.model if self.model is not None else self._fn
        assert fn is not None
        if self.sex_input:
            if sex is None:
                raise InvalidInputError(
                    f"model {self.label!r} takes sex as an input and none was given",
                    fix="pass male=[True/False, ...] for every image",
                )
            out = fn(x, sex)
        else:
            out = fn(x)
        return self.check(out, int(x.shape[0]), x.device)

    def check(self, out: Any, batch: int, device: torch.device) -> torch.Tensor:
        """The model's answer as a ``(batch, outputs)`` float32 tensor, or a clear error."""
        n = len(self.targets)
        if isinstance(out, Mapping):
            missing = [t for t in self.targets if t not in out]
            if missing:
                raise InvalidInputError(
                    f"model {self.label!r} returned a mapping with keys {sorted(map(str, out))}, "
                    f"without the declared target(s) {missing}",
                    input=self.label,
                    fix="return a dict keyed by 'bone_age' and/or 'male', or declare targets "
                    "matching the model's outputs",
                )
            out = [out[t] for t in self.targets]
        if isinstance(out, (tuple, list)):
            parts = [_as_tensor(o, device) for o in out]
            if any(p.ndim == 0 or int(p.shape[0]) != batch for p in parts):
                shapes = [tuple(p.shape) for p in parts]
                raise self._shape_error(f"a sequence of outputs with shapes {shapes}", batch, n)
            tensor = torch.cat([p.reshape(batch, -1) for p in parts], dim=1)
        else:
            tensor = _as_tensor(out, device)
        if tensor.ndim == 1 and n == 1 and int(tensor.shape[0]) == batch:
            tensor = tensor[:, None]
        if tensor.ndim != 2 or tuple(tensor.shape) != (batch, n):
            raise self._shape_error(f"an output of shape {tuple(tensor.shape)}", batch, n)
        tensor = tensor.float()
        if "male" in self.targets and self.sex_output == "probability":
            col = self.targets.index("male")
            p = tensor[:, col]
            if not bool(torch.isfinite(p).all()) or bool((p < 0).any()) or bool((p > 1).any()):
                raise InvalidInputError(
                    f"model {self.label!r} was declared sex_output=probability but returned "
                    f"P(male) values outside [0, 1] (min {float(p.min()):.4g}, "
                    f"max {float(p.max()):.4g})",
                    input=self.label,
                    fix="declare sex_output=logit when the model returns a logit",
                )
            tensor = tensor.clone()
            tensor[:, col] = torch.logit(p.double().clamp(_EPS, 1 - _EPS)).float()
        return tensor

    def _shape_error(self, what: str, batch: int, n: int) -> InvalidInputError:
        return InvalidInputError(
            f"model {self.label!r} returned {what} for a batch of {batch} image(s); expected "
            f"({batch}, {n}): one column per declared target {list(self.targets)}",
            input=self.label,
            fix="declare the targets in the order of the model's outputs (e.g. "
            "targets=bone_age+male for two columns), or make the model return "
            "(batch, outputs)",
        )


def _as_tensor(value: Any, device: torch.device) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    return torch.as_tensor(np.asarray(value, dtype=np.float32), device=device)


_ONNX_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
}


class OnnxRunner:
    """An ONNX file run with onnxruntime, called like a torch module: ``runner(x[, sex])``.

    Input 0 takes the image batch ``(batch, channels, size, size)``; with ``sex_input``,
    input 1 takes the sex (1 = male), shaped ``(batch,)`` or ``(batch, 1)`` as the file
    declares. A file whose batch axis is fixed is run in chunks of that size. Several
    outputs are returned as a tuple (one column group each).

    Args:
        path: the ``.onnx`` file.
        device: ``"cpu"`` or ``"cuda"``/``"cuda:N"`` (needs onnxruntime's CUDA provider).
        sex_input: the file takes the sex as its second input.
        input_shape: ``(channels, size, size)`` the preprocessing produces, checked against
            the file's fixed dimensions.

    Raises:
        ModelUnavailableError: no such file.
        MissingDependencyError: onnxruntime is not installed (``radinpaint[onnx]``).
        InvalidInputError: the file's inputs do not match the declaration, or CUDA was
            asked for without onnxruntime's CUDA provider.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        device: str = "cpu",
        sex_input: bool = False,
        input_shape: tuple[int, int, int] | None = None,
    ) -> None:
        path = Path(path)
        if not path.is_file():
            raise ModelUnavailableError(
                "ONNX model file not found", input=path, fix="check the path= of the model"
            )
        ort = require("onnxruntime", extra="onnx", purpose="ONNX models")
        providers: list[Any] = ["CPUExecutionProvider"]
        if device.startswith("cuda"):
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise InvalidInputError(
                    f"device={device!r} asked for, but this onnxruntime has no CUDA provider",
                    input=str(path),
                    fix="pip install onnxruntime-gpu, or use device=cpu",
                )
            index = int(device.split(":")[1]) if ":" in device else 0
            providers = [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]
        try:
            options = ort.SessionOptions()
            self.session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as exc:
            raise InvalidInputError(
                f"onnxruntime cannot load the file: {exc}",
                input=str(path),
                fix="give an ONNX model file (torch.onnx.export writes one)",
            ) from exc
        self.path = path
        self.sex_input = bool(sex_input)
        inputs = self.session.get_inputs()
        want = 2 if sex_input else 1
        names = [i.name for i in inputs]
        if len(inputs) != want:
            raise InvalidInputError(
                f"the ONNX model has {len(inputs)} input(s) {names}, but {want} are declared "
                f"(the image{' and the sex' if sex_input else ''})",
                input=str(path),
                fix="declare sex_input=true when the model takes the sex as its second input, "
                "false otherwise",
            )
        image = inputs[0]
        self.image_name = image.name
        self.image_dtype = _ONNX_DTYPES.get(image.type)
        if self.image_dtype is None:
            raise InvalidInputError(
                f"the ONNX model's image input {image.name!r} is {image.type}; a float input "
                "is needed",
                input=str(path),
                available=sorted(_ONNX_DTYPES),
            )
        shape = list(image.shape)
        if len(shape) != 4:
            raise InvalidInputError(
                f"the ONNX model's image input {image.name!r} has shape {shape}; expected "
                "(batch, channels, height, width)",
                input=str(path),
                fix="export the model with an NCHW image input",
            )
        if input_shape is not None:
            for axis, (have, need) in enumerate(zip(shape[1:], input_shape, strict=True)):
                if isinstance(have, int) and have != need:
                    what = ("channels", "height", "width")[axis]
                    raise InvalidInputError(
                        f"the ONNX model's input has {what} {have}, but the declared "
                        f"preprocessing gives {need} (input {tuple(input_shape)})",
                        input=str(path),
                        fix="declare the preprocessing the model was trained with "
                        "(size=..., channels=...)",
                    )
        self.fixed_batch = shape[0] if isinstance(shape[0], int) and shape[0] > 0 else None
        self.sex_name = inputs[1].name if sex_input else None
        self.sex_rank = len(inputs[1].shape) if sex_input else 0
        self.sex_dtype = _ONNX_DTYPES.get(inputs[1].type, np.float32) if sex_input else None
        self.output_names = [o.name for o in self.session.get_outputs()]

    def __call__(self, x: torch.Tensor, sex: torch.Tensor | None = None) -> Any:
        """Run the file on a torch batch; the outputs come back as tensors on ``x``'s device."""
        images = x.detach().float().cpu().numpy().astype(self.image_dtype, copy=False)
        sexes = None if sex is None else sex.detach().float().cpu().numpy()
        n = images.shape[0]
        step = self.fixed_batch or n
        chunks: list[list[np.ndarray]] = []
        for start in range(0, n, step):
            xb = images[start : start + step]
            pad = step - xb.shape[0]
            if pad:
                xb = np.concatenate([xb, np.repeat(xb[:1], pad, axis=0)])
            feed = {self.image_name: np.ascontiguousarray(xb)}
            if self.sex_input:
                if sexes is None:
                    raise InvalidInputError(
                        f"the ONNX model {self.path.name!r} takes sex as an input and none "
                        "was given",
                        fix="pass male=[True/False, ...] for every image",
                    )
                sb = sexes[start : start + step]
                if pad:
                    sb = np.concatenate([sb, np.repeat(sb[:1], pad)])
                shape = (step,) + (1,) * max(self.sex_rank - 1, 0)
                assert self.sex_name is not None and self.sex_dtype is not None
                feed[self.sex_name] = sb.reshape(shape).astype(self.sex_dtype)
            outs = self.session.run(self.output_names, feed)
            chunks.append([np.asarray(o)[: step - pad] for o in outs])
        outs = [np.concatenate([c[k] for c in chunks]) for k in range(len(self.output_names))]
        tensors = [torch.from_numpy(np.asarray(o, dtype=np.float32)).to(x.device) for o in outs]
        return tensors[0] if len(tensors) == 1 else tuple(tensors)
