"""The ``ocr`` provider: burned-in text found by a neural text detector (RapidOCR).

Uses only the text *detection* model of `RapidOCR <https://github.com/RapidAI/RapidOCR>`_
(PP-OCRv6 small, ONNX, run by onnxruntime on the CPU). Its weights ship inside the
``rapidocr`` wheel (``rapidocr/models/PP-OCRv6_det_small.onnx``), and this provider passes
that file's path explicitly, so nothing is downloaded at run time. Recognition (reading the
text) is not needed to mask it and is not loaded.

Install with ``pip install 'radinpaint[ocr]'`` (rapidocr and onnxruntime). Detected text
boxes are quadrilaterals; each is filled into the mask and reported as a ``"text"``
component with the detector's score. Boxes lying mostly on the hand are dropped unless
``use_anatomy=False`` (the detector sometimes takes bone trabeculae or the carpals for text).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from ..errors import InvalidInputError, ModelUnavailableError, require
from ..records import Case, Mask, MaskComponent, Radiograph
from ._base import MIN_SIDE, as_bool, check_dilate, finish_mask, radiographs

__all__ = ["OcrTextDetector", "packaged_det_model"]

_DET_MODEL = "PP-OCRv6_det_small.onnx"
_lock = threading.Lock()
_engines: dict[tuple[Any, ...], Any] = {}


def packaged_det_model() -> Path:
    """Path of the text detection model inside the installed ``rapidocr`` package.

    Raises:
        MissingDependencyError: rapidocr is not installed.
        ModelUnavailableError: the installed rapidocr does not ship the model file.
    """
    rapidocr = require("rapidocr", extra="ocr", purpose="the ocr mask provider")
    if rapidocr.__file__ is None:  # a namespace package, not an installed rapidocr
        raise ModelUnavailableError(
            "the installed rapidocr is not a regular package",
            fix="pip install 'rapidocr>=3.0', or use the markers provider",
        )
    path = Path(rapidocr.__file__).resolve().parent / "models" / _DET_MODEL
    if not path.is_file():
        raise ModelUnavailableError(
            f"the installed rapidocr does not ship {_DET_MODEL}",
            input=str(path.parent),
            fix="install a rapidocr wheel that bundles its ONNX models "
            "(pip install 'rapidocr>=3.0'), or use the markers provider",
        )
    return path


def _engine(threads: int) -> Any:
    key = (threads,)
    with _lock:
        if key not in _engines:
            require("onnxruntime", extra="ocr", purpose="the ocr mask provider")
            model = packaged_det_model()
            from rapidocr import RapidOCR

            _engines[key] = RapidOCR(
                params={
                    "Global.use_cls": False,
                    "Global.use_rec": False,
                    "Global.log_level": "error",
                    "Det.model_path": str(model),
                    "EngineConfig.onnxruntime.intra_op_num_threads": threads,
                    "EngineConfig.onnxruntime.inter_op_num_threads": 1,
                }
            )
        return _engines[key]


@attrs.define
class OcrTextDetector:
    """Mask provider ``ocr``: burned-in text found by RapidOCR's text detector.

    Args:
        dilate: margin in pixels added around the text (default 0).
        min_score: smallest detector score kept (default 0.5).
        use_anatomy: drop boxes lying mostly on the hand (default True).
        max_hand_overlap: the largest fraction of a box that may lie on the hand.
        threads: onnxruntime threads (default 1).
    """

    dilate: int = 0
    min_score: float = 0.5
    use_anatomy: bool = True
    max_hand_overlap: float = 0.3
    threads: int = 1

    name = "ocr"

    def __attrs_post_init__(self) -> None:
        self.dilate = check_dilate(self.dilate, self.name)
        self.use_anatomy = as_bool(self.use_anatomy, "use_anatomy")
        try:
            self.min_score = float(self.min_score)
            self.max_hand_overlap = float(self.max_hand_overlap)
            self.threads = int(self.threads)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"bad ocr option: {exc}", input=self.name) from None
        if not 0.0 <= self.min_score <= 1.0 or self.threads < 1:
            raise InvalidInputError(
                "min_score must lie in [0, 1] and threads be >= 1",
                input=self.name,
                fix="e.g. min_score=0.5 threads=1",
            )

    def _one(self, image: Radiograph) -> Mask:
        import cv2

        h, w = image.shape
        if min(h, w) < MIN_SIDE or float(np.ptp(image.pixels)) < 0.05:
            return Mask(np.zeros((h, w), dtype=bool), self.name)
        grey = np.rint(image.pixels * 255.0).astype(np.uint8)  # the detector reads 8-bit RGB
        result = _engine(self.threads)(
            cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR), use_det=True, use_cls=False, use_rec=False
        )
        boxes = getattr(result, "boxes", None)
        scores = getattr(result, "scores", None)
        out = np.zeros((h, w), dtype=np.uint8)
        comps: list[MaskComponent] = []
        if boxes is None or len(boxes) == 0:
            return Mask(out > 0, self.name)
        hand = None
        if self.use_anatomy:
            from .anatomy import segment_hand

            hand = segment_hand(image).array
        if scores is None:
            scores = [1.0] * len(boxes)
        for quad, score in zip(boxes, scores, strict=False):
            if float(score) < self.min_score:
                continue
            pts = np.round(np.asarray(quad, dtype=np.float64)).astype(np.int32)
            one = np.zeros((h, w), dtype=np.uint8)
            cv2.fillPoly(one, [pts], 1)
            area = one > 0
            if not area.any():
                continue
            if hand is not None and float(hand[area].mean()) > self.max_hand_overlap:
                continue
            out |= one
            ys, xs = np.nonzero(area)
            box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
            comps.append(MaskComponent(box, "text", float(np.clip(score, 0.0, 1.0))))
        return Mask(out > 0, self.name, tuple(comps))

    def masks(self, items: Sequence[Case | Radiograph]) -> list[Mask]:
        """One mask per item, in order (empty where no text is found)."""
        out = []
        for image in radiographs(items):
            found = self._one(image)
            out.append(finish_mask(found.array, self.name, found.components, self.dilate))
        return out
