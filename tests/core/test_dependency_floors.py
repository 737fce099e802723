"""The version floors in pyproject.toml are at least what the code's API calls need."""

from __future__ import annotations

import importlib.metadata
import inspect
from pathlib import Path

import pytest

packaging_requirements = pytest.importorskip("packaging.requirements")
packaging_version = pytest.importorskip("packaging.version")
tomllib = pytest.importorskip("tomllib")

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _floors() -> dict[str, str]:
    """``{distribution: floor}`` of ``[project] dependencies``."""
    data = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    out = {}
    for line in data["project"]["dependencies"]:
        req = packaging_requirements.Requirement(line)
        lows = [s.version for s in req.specifier if s.operator in (">=", "==", "~=")]
        assert lows, f"{line!r} declares no floor"
        out[req.name.lower()] = max(lows, key=packaging_version.Version)
    return out


def _has_parameter(func: object, name: str) -> bool:
    return name in inspect.signature(func).parameters  # type: ignore[arg-type]


def _scipy_bootstrap_rng() -> bool:
    from scipy import stats

    return _has_parameter(stats.bootstrap, "rng")


def _group_kfold_shuffle() -> bool:
    from sklearn.model_selection import GroupKFold

    return _has_parameter(GroupKFold, "shuffle")


def _remove_small_holes_max_size() -> bool:
    from skimage.morphology import remove_small_holes

    return _has_parameter(remove_small_holes, "max_size")


def _pydicom_pixels() -> bool:
    from pydicom.pixels import apply_modality_lut, apply_voi, apply_windowing

    return all(callable(f) for f in (apply_modality_lut, apply_voi, apply_windowing))


def _torch_safe_globals() -> bool:
    import torch

    return callable(getattr(torch.serialization, "safe_globals", None))


NEEDS = [
    # distribution, the first version with the API, what uses it, a probe of the API
    ("scipy", "1.15", "metrics.bootstrap: stats.bootstrap(rng=...)", _scipy_bootstrap_rng),
    (
        "scikit-learn",
        "1.6",
        "metrics.calibration: GroupKFold(shuffle=True, random_state=...)",
        _group_kfold_shuffle,
    ),
    (
        "scikit-image",
        "0.26",
        "masks.anatomy: remove_small_holes(max_size=...)",
        _remove_small_holes_max_size,
    ),
    ("pydicom", "3.0", "io.dicom: the pydicom.pixels module", _pydicom_pixels),
    (
        "torch",
        "2.5",
        "predictors.checkpoint: torch.serialization.safe_globals",
        _torch_safe_globals,
    ),
]


@pytest.mark.parametrize(("dist", "needed", "why", "probe"), NEEDS, ids=[n[0] for n in NEEDS])
def test_floor_covers_the_api_the_code_calls(dist, needed, why, probe):
    floor = _floors()[dist]
    assert packaging_version.Version(floor) >= packaging_version.Version(needed), (
        f"{dist}>={floor} is too low: {why} needs {dist}>={needed}"
    )
    assert probe(), f"the installed {dist} lacks the API of {why}"


def test_installed_versions_satisfy_every_floor():
    for dist, floor in _floors().items():
        installed = importlib.metadata.version(dist)
        assert packaging_version.Version(installed) >= packaging_version.Version(floor), (
            f"{dist} {installed} is installed, below the declared floor {floor}"
        )
