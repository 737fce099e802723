"""Result records and input checks shared by the statistics modules."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import attrs
import numpy as np

from ..errors import InvalidInputError, ShapeMismatchError

__all__ = ["Estimate", "TestResult"]

CI_METHODS: tuple[str, ...] = ("percentile", "bca")
"""Bootstrap confidence-interval methods radinpaint offers."""


@attrs.frozen
class Estimate:
    """A point estimate with its confidence interval.

    Attributes:
        value: the statistic on the full sample.
        ci_low: lower end of the confidence interval.
        ci_high: upper end of the confidence interval.
        confidence: the confidence level (0.95 for a 95 % interval).
        method: how the interval was made: ``"percentile"``, ``"bca"``, ``"delong"``,
            ``"stratified-percentile"``, ``"stratified-bca"`` or ``"none"``.
        n: number of observations (cases) the statistic used.
        n_resamples: bootstrap resamples drawn (0 for analytic intervals).
        standard_error: bootstrap or analytic standard error.
        note: why a value is nan or an interval degenerate; empty when all went well.
    """

    value: float = attrs.field(converter=float)
    ci_low: float = attrs.field(converter=float)
    ci_high: float = attrs.field(converter=float)
    confidence: float = attrs.field(converter=float)
    method: str
    n: int
    n_resamples: int = 0
    standard_error: float = attrs.field(default=math.nan, converter=float)
    note: str = ""

    @classmethod
    def missing(cls, reason: str, *, confidence: float, method: str, n: int) -> Estimate:
        """An estimate that could not be computed: nan everywhere and the reason."""
        nan = math.nan
        return cls(nan, nan, nan, confidence, method, n, 0, nan, reason)

    def to_dict(self, prefix: str = "") -> dict[str, Any]:
        """Flat JSON-ready form, keys prefixed (``prefix="mae"`` gives ``mae_ci_low``...)."""
        p = f"{prefix}_" if prefix else ""
        return {
            (prefix or "value"): self.value,
            f"{p}ci_low": self.ci_low,
            f"{p}ci_high": self.ci_high,
            f"{p}se": self.standard_error,
        }


@attrs.frozen
class TestResult:
    """A hypothesis test's outcome.

    Attributes:
        test: the test's name (``"wilcoxon"``, ``"mcnemar-exact"``, ...).
        statistic: the test statistic (its meaning depends on the test; see ``test``).
        p_value: two-sided p-value, or nan when the test cannot be computed (see ``note``).
        n: observations used.
        details: test-specific numbers (discordant counts, degrees of freedom, ...).
        note: why a value is nan or was set by convention; empty when all went well.
    """

    __test__ = False  # not a pytest test class

    test: str
    statistic: float = attrs.field(converter=float)
    p_value: float = attrs.field(converter=float)
    n: int
    details: Mapping[str, Any] = attrs.field(factory=dict)
    note: str = ""


def check_confidence(confidence: float) -> float:
    """Validate a confidence level in (0, 1)."""
    c = float(confidence)
    if not 0.0 < c < 1.0:
        raise InvalidInputError(
            f"confidence must lie strictly between 0 and 1, got {confidence!r}",
            fix="pass e.g. confidence=0.95 for a 95 % interval",
        )
    return c


def check_method(method: str) -> str:
    """Validate a bootstrap interval method name."""
    m = str(method).lower()
    if m not in CI_METHODS:
        raise InvalidInputError(
            f"unknown confidence-interval method {method!r}",
            available=CI_METHODS,
            fix="use 'percentile' (what the study used) or 'bca'",
        )
    return m


def check_resamples(n_resamples: int) -> int:
    """Validate a number of bootstrap resamples."""
    n = int(n_resamples)
    if n < 1:
        raise InvalidInputError(
            f"n_resamples must be at least 1, got {n_resamples!r}", fix="use e.g. 1000"
        )
    return n


def as_vector(values: object, name: str, *, allow_nan: bool = False) -> np.ndarray:
    """A 1-D float64 copy of ``values``; non-finite values are an error unless allowed."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise InvalidInputError(
            f"{name} must be one-dimensional, got shape {arr.shape}",
            input=name,
            fix="pass one value per case",
        )
    if not allow_nan and not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).sum())
        raise InvalidInputError(
            f"{name} has {bad} missing or non-finite value(s)",
            input=name,
            fix="drop the cases with missing values first (the metric plugins do this and "
            "report the count)",
        )
    return arr


def as_labels(values: object, name: str) -> np.ndarray:
    """Binary labels as a 1-D bool array (accepts bools, 0/1 numbers)."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise InvalidInputError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.dtype == np.bool_:
        return arr.copy()
    num = np.asarray(arr, dtype=np.float64)
    if not np.isin(num, (0.0, 1.0)).all():
        raise InvalidInputError(
            f"{name} must hold binary labels (True/False or 0/1)",
            input=name,
            fix="encode the positive class (male) as 1/True; drop missing labels first",
        )
    return num.astype(bool)


def same_length(**arrays: np.ndarray) -> int:
    """Check that every array has the same length; return it."""
    lengths = {k: len(v) for k, v in arrays.items()}
    if len(set(lengths.values())) > 1:
        described = ", ".join(f"{k}={n}" for k, n in lengths.items())
        raise ShapeMismatchError(
            f"arrays that pair up case by case have different lengths ({described})",
            fix="pass one value per case, in the same case order, to every argument",
        )
    return next(iter(lengths.values())) if lengths else 0


def as_pixels(image: object, name: str) -> np.ndarray:
    """The float64 pixels of a :class:`~radinpaint.records.Radiograph` or a 2-D array."""
    pixels = getattr(image, "pixels", image)
    arr = np.asarray(pixels, dtype=np.float64)
    if arr.ndim != 2:
        raise InvalidInputError(
            f"{name} must be a 2-D grey image, got shape {arr.shape}", input=name
        )
    return arr


def as_region(mask: object, shape: tuple[int, ...], name: str) -> np.ndarray | None:
    """The boolean array of a :class:`~radinpaint.records.Mask` or bool array (or None)."""
    if mask is None:
        return None
    arr = np.asarray(getattr(mask, "array", mask))
    if arr.dtype != np.bool_:
        raise InvalidInputError(
            f"{name} must be a boolean mask, got dtype {arr.dtype}",
            input=name,
            fix="use radinpaint.Mask or a numpy bool array",
        )
    if arr.shape != tuple(shape):
        raise ShapeMismatchError(
            f"{name} shape {arr.shape} does not match image shape {tuple(shape)}",
            input=name,
            fix="give a mask made for this image (same height and width); masks are never resized",
        )
    return arr


def bit_depth_of(image: object, default: int | None) -> int | None:
    """The bit depth a Radiograph records, else ``default``."""
    depth = getattr(image, "bit_depth", None)
    return int(depth) if depth is not None else default


def checked_bit_depth(original: object, bit_depth: int | None) -> int:
    """``bit_depth``, else the original's (a Radiograph), else 16; must lie in 1..16."""
    depth = bit_depth if bit_depth is not None else bit_depth_of(original, 16)
    if depth is None or not 1 <= int(depth) <= 16:
        raise InvalidInputError(f"bit_depth must be between 1 and 16, got {depth!r}")
    return int(depth)


def as_image_pair(original: object, output: object) -> tuple[np.ndarray, np.ndarray]:
    """The pixels of an original and of an output made from it (same shape required)."""
    a = as_pixels(original, "original")
    b = as_pixels(output, "output")
    if a.shape != b.shape:
        raise ShapeMismatchError(
            f"output shape {b.shape} does not match original shape {a.shape}",
            fix="compare an output with the original it was made from (same size)",
        )
    return a, b
