"""Small backends registered through a test plugin, and a tiny phantom dataset."""

from __future__ import annotations

import threading
import types

import attrs
import numpy as np
import pytest

from radinpaint.capabilities import Capabilities
from radinpaint.errors import BackendError
from radinpaint.hookspecs import hookimpl
from radinpaint.inpainters.base import PerImageInpainter
from radinpaint.records import InpaintRequest, Predictions

CALLS: dict[str, int] = {}
_lock = threading.Lock()


def _count(name: str, n: int) -> None:
    with _lock:
        CALLS[name] = CALLS.get(name, 0) + n


@attrs.define
class NoiseInpainter(PerImageInpainter):
    """Fills the mask with seeded noise; ``drift`` > 0 also perturbs everything else."""

    drift: float = 0.0
    fail_cases: tuple[str, ...] = ()
    compositing: str = "paste-back"
    api_key: str | None = None

    name = "test-noise"

    def inpaint(self, requests):
        _count("test-noise", len(requests))
        return super().inpaint(requests)

    def inpaint_one(self, request: InpaintRequest) -> np.ndarray:
        if request.case_id in self.fail_cases:
            raise BackendError("refused on purpose", input=request.case_id)
        rng = np.random.default_rng(request.variant_seed)
        x = request.image.pixels
        out = np.where(request.mask.array, rng.uniform(0.0, 1.0, x.shape), x)
        if self.drift:
            out = out * (1.0 - self.drift) + self.drift * 0.5
        return np.clip(out, 0, 1).astype(np.float32)


@attrs.define
class BrightenInpainter(PerImageInpainter):
    """Deterministic: brightens the masked pixels (declared ``deterministic`` at registration).

    ``everywhere`` > 0 brightens the whole image by that much (use ``compositing="raw"``).
    """

    everywhere: float = 0.0
    compositing: str = "paste-back"

    name = "test-bright"

    def inpaint(self, requests):
        _count("test-bright", len(requests))
        return super().inpaint(requests)

    def inpaint_one(self, request: InpaintRequest) -> np.ndarray:
        x = request.image.pixels
        out = np.where(request.mask.array, np.minimum(1.0, x + 0.3), x)
        return np.minimum(1.0, out + self.everywhere).astype(np.float32)


@attrs.define
class MeanPredictor:
    """Bone age and sex from simple image statistics (deterministic, counts images)."""

    fail_above: float | None = None
    report_above: float | None = None
    name = "test-mean"

    def predict(self, images, male=None) -> Predictions:
        _count("test-mean", len(images))
        _count("test-mean-calls", 1)
        means = np.array([float(im.pixels.mean()) for im in images])
        if self.fail_above is not None and (means > self.fail_above).any():
            raise BackendError("image too bright on purpose")
        failures = {}
        if self.report_above is not None:  # per-image failures, the neighbours kept
            failures = {
                i: "too bright for this model" for i in np.flatnonzero(means > self.report_above)
            }
        sds = np.array([float(im.pixels.std()) for im in images])
        ba = 40.0 + 400.0 * means
        members = np.stack([ba - 1.0, ba + 1.0], axis=1)
        p = 1.0 / (1.0 + np.exp(-(sds - 0.2) * 30.0))
        return Predictions("test-mean", ba, p, members, np.stack([p, p], axis=1), failures)


@attrs.define
class SexAwarePredictor:
    """Needs each case's sex (like the study's sex-specific models); records what it got."""

    sex_from_prediction: bool = False
    name = "test-sexaware"
    seen: list = attrs.field(factory=list)

    def predict(self, images, male=None) -> Predictions:
        if male is None or (None in male and not self.sex_from_prediction):
            raise BackendError("sex needed")
        self.seen.extend(male)
        ba = np.array([100.0 + (12.0 if m else 0.0) for m in male])
        return Predictions("test-sexaware", ba, None)


@hookimpl
def radinpaint_register_inpainters(register):
    register(
        "test-noise", NoiseInpainter, summary="test", capabilities=Capabilities(max_concurrency=2)
    )
    register(
        "test-bright",
        BrightenInpainter,
        summary="test",
        capabilities=Capabilities(deterministic=True, max_concurrency=2),
    )


@hookimpl
def radinpaint_register_predictors(register):
    register("test-mean", MeanPredictor, summary="test", capabilities=Capabilities(batch_size=32))
    register(
        "test-sexaware",
        SexAwarePredictor,
        summary="test",
        capabilities=lambda p: Capabilities(
            needs_sex=True, infers_sex=p.sex_from_prediction, batch_size=32
        ),
    )


@pytest.fixture
def test_plugin():
    """Register the test backends; returns the call counter (reset)."""
    from radinpaint import registry
    from radinpaint.plugins import get_plugin_manager

    module = types.ModuleType("radinpaint_test_backends")
    for name in ("radinpaint_register_inpainters", "radinpaint_register_predictors"):
        setattr(module, name, globals()[name])
    get_plugin_manager().register(module, name="radinpaint_test_backends")
    registry._clear_cache()
    CALLS.clear()
    return CALLS


@pytest.fixture(scope="session")
def phantoms():
    """Ten small phantoms with artifacts (non-empty masks), materialised once."""
    from radinpaint.datasets import make_phantoms

    cases = [c for c in make_phantoms(24, seed=3, size=96) if not c.artifact_mask.is_empty]
    assert len(cases) >= 10, "the phantom generator made too few cases with artifacts"
    return cases[:10]
