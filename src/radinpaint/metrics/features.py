"""Feature extractors for the generative-quality metrics: declared, local, no downloads.

- :class:`PredictorFeatures` (the default, ``features="phantom-ensemble"``): the
  penultimate-layer features of an ensemble predictor
  (:func:`radinpaint.predictors.features.ensemble_features`): any registered predictor spec
  that builds an :class:`~radinpaint.predictors.EnsemblePredictor` (``phantom-ensemble``,
  ``study-resnet50:weights_dir=...``, ``ensemble:path=...``).
- :class:`InceptionFeatures` (``features="inception"``, ``weights=PATH``): the standard
  InceptionV3 pool3 features (2048 numbers) with torch-fidelity's conventions, from a local
  copy of ``pt_inception-2015-12-05-6726825d.pth``: torch-fidelity's own
  ``FeatureExtractorInceptionV3`` (``inception-v3-compat``) resizes each image to 299 x 299
  bilinearly as TensorFlow 1 did. It takes 8-bit RGB, so the grey image is rounded to 8 bits
  and repeated on three channels (recorded in :attr:`InceptionFeatures.description`). It
  needs ``pip install torch-fidelity`` (extra ``fidelity``), which also installs torchvision:
  install the torchvision built for your torch.

Both compute one ``(N, D)`` float array per call, deterministically.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from ..errors import InvalidInputError, MissingDependencyError

if TYPE_CHECKING:
    from ..records import Radiograph

__all__ = [
    "INCEPTION_WEIGHTS",
    "FeatureExtractor",
    "InceptionFeatures",
    "PredictorFeatures",
    "feature_extractor",
]

INCEPTION_WEIGHTS = "pt_inception-2015-12-05-6726825d.pth"
"""The file name of the InceptionV3 weights torch-fidelity (and pytorch-fid) use."""


@runtime_checkable
class FeatureExtractor(Protocol):
    """Turns radiographs into feature vectors.

    ``description`` names the features in tables (extractor, layer, width);
    ``__call__`` returns an ``(N, D)`` float array, row ``i`` for image ``i``.
    """

    @property
    def description(self) -> str:
        """What the features are, for tables and manifests."""
        ...

    def __call__(self, images: Sequence[Radiograph]) -> np.ndarray:
        """One row of features per image."""
        ...


class PredictorFeatures:
    """The penultimate-layer features of an ensemble predictor (built on first use).

    Args:
        predictor: a predictor spec (``"phantom-ensemble"``, ``"ensemble:path=DIR"``...).
    """

    def __init__(self, predictor: str = "phantom-ensemble") -> None:
        self.predictor = str(predictor)
        self._ensemble: Any = None
        self._dim: int | None = None

    def _built(self) -> Any:
        if self._ensemble is None:
            from ..evaluation.specs import BackendSpec
            from ..predictors.ensemble import EnsemblePredictor

            backend = BackendSpec.parse(self.predictor).build("predictor")
            if not isinstance(backend, EnsemblePredictor):
                raise InvalidInputError(
                    f"predictor {self.predictor!r} is a {type(backend).__name__}, not an "
                    "ensemble: its penultimate features cannot be read",
                    input=self.predictor,
                    fix="use an ensemble predictor (phantom-ensemble, study-resnet50, "
                    "ensemble:path=DIR) or features='inception' with weights=PATH",
                )
            self._ensemble = backend
        return self._ensemble

    @property
    def description(self) -> str:
        """``"<predictor> penultimate (<D>-d)"``."""
        if self._dim is None:
            from ..predictors.features import ensemble_feature_dim

            self._dim = ensemble_feature_dim(self._built())
        return f"{self.predictor} penultimate ({self._dim}-d)"

    def __call__(self, images: Sequence[Radiograph]) -> np.ndarray:
        """``(N, D)`` features (:func:`~radinpaint.predictors.features.ensemble_features`)."""
        from ..predictors.features import ensemble_features

        out = ensemble_features(self._built(), images)
        self._dim = int(out.shape[1])
        return out


class InceptionFeatures:
    """InceptionV3 pool3 features (2048-d) through torch-fidelity, from a local weights file.

    Args:
        weights: path to ``pt_inception-2015-12-05-6726825d.pth`` (nothing is downloaded).
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``...
        batch_size: images per forward pass.

    Raises:
        InvalidInputError: no such weights file.
        MissingDependencyError: torch-fidelity is not installed.
    """

    def __init__(self, weights: str | Path, *, device: str = "auto", batch_size: int = 32) -> None:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise InvalidInputError(
                f"no InceptionV3 weights file at {str(path)!r}",
                input=str(path),
                fix=f"point weights= at a local copy of {INCEPTION_WEIGHTS} (radinpaint "
                "never downloads weights)",
            )
        self.weights = path
        self.device = device
        self.batch_size = max(1, int(batch_size))
        self._model: Any = None

    @property
    def description(self) -> str:
        """``"inception-v3 pool3 (2048-d, 8-bit RGB, 299x299 bilinear)"``."""
        return "inception-v3 pool3 (2048-d, 8-bit RGB, 299x299 bilinear)"

    def _built(self) -> Any:
        if self._model is None:
            import importlib

            try:
                module = importlib.import_module("torch_fidelity.feature_extractor_inceptionv3")
            except ImportError as exc:
                raise MissingDependencyError(
                    f"the InceptionV3 features need the package 'torch_fidelity', which is not "
                    f"installed ({exc})",
                    input=str(self.weights),
                    fix="pip install torch-fidelity (or pip install 'radinpaint[fidelity]'); it "
                    "also installs torchvision, which must be the build made for your torch",
                ) from exc
            from ..predictors.runtime import resolve_device

            model = module.FeatureExtractorInceptionV3(
                "inception-v3-compat",
                ["2048"],
                feature_extractor_weights_path=str(self.weights),
            )
            model.eval()
            self._device = resolve_device(self.device)
            self._model = model.to(self._device)
        return self._model

    def __call__(self, images: Sequence[Radiograph]) -> np.ndarray:
        """``(N, 2048)`` features; images of one shape go through together."""
        import torch

        from ..protocols import as_radiograph

        model = self._built()
        out = np.zeros((len(images), 2048), np.float32)
        by_shape: dict[tuple[int, ...], list[int]] = {}
        pixels = [as_radiograph(images[i]).pixels for i in range(len(images))]
        for i, p in enumerate(pixels):
            by_shape.setdefault(tuple(p.shape), []).append(i)
        with torch.inference_mode():
            for indices in by_shape.values():
                for start in range(0, len(indices), self.batch_size):
                    part = indices[start : start + self.batch_size]
                    grey = np.stack([np.rint(np.clip(pixels[i], 0, 1) * 255) for i in part])
                    x = torch.from_numpy(grey.astype(np.uint8))[:, None].repeat(1, 3, 1, 1)
                    feats = model(x.to(self._device))
                    feats = feats[0] if isinstance(feats, (tuple, list)) else feats
                    out[part] = feats.reshape(len(part), -1).float().cpu().numpy()
        return out


def feature_extractor(features: str = "phantom-ensemble", weights: str | None = None) -> Any:
    """The extractor a metric's options name: ``"inception"`` (needs ``weights``), else a
    predictor spec for :class:`PredictorFeatures`."""
    if features == "inception":
        if not weights:
            raise InvalidInputError(
                "features='inception' needs weights= (a local InceptionV3 weights file)",
                input="weights",
                fix=f"pass weights=/path/to/{INCEPTION_WEIGHTS}",
            )
        return InceptionFeatures(weights)
    if weights:
        raise InvalidInputError(
            f"weights= is for features='inception'; features={features!r} reads its own "
            "predictor's weights",
            input="weights",
            fix="drop weights=, or pass features='inception'",
        )
    return PredictorFeatures(features)
