"""A backend that declares ``max_concurrency=1`` is never entered from two threads by an
evaluation, however many threads its executor has; one that declares more is.

Every backend here records how many threads are inside it at once (a lock and a counter,
with a short pause inside so that overlapping calls would really overlap).
"""

from __future__ import annotations

import functools
import threading
import time
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import attrs
import numpy as np
import pytest

from radinpaint.capabilities import Capabilities
from radinpaint.datasets.phantom import PhantomDataset
from radinpaint.evaluation import Evaluation, LocalExecutor, get_preset
from radinpaint.evaluation.specs import BackendSpec
from radinpaint.hookspecs import hookimpl
from radinpaint.inpainters.base import PerImageInpainter
from radinpaint.records import InpaintRequest, Predictions

FAST = get_preset("recommended").with_resamples(30)
N_CASES = 6


@attrs.define
class Overlap:
    """How many threads were inside a backend at once, and how often it was entered."""

    active: int = 0
    most: int = 0
    calls: int = 0
    lock: threading.Lock = attrs.field(factory=threading.Lock)

    @contextmanager
    def entered(self, pause: float = 0.03) -> Iterator[None]:
        with self.lock:
            self.active += 1
            self.calls += 1
            self.most = max(self.most, self.active)
        try:
            time.sleep(pause)  # long enough for a second thread to come in if it may
            yield
        finally:
            with self.lock:
                self.active -= 1

    def wrap(self, method: Callable[..., Any], pause: float = 0.03) -> Callable[..., Any]:
        """``method`` recording its entries."""

        @functools.wraps(method)
        def recording(*args: Any, **kwargs: Any) -> Any:
            with self.entered(pause):
                return method(*args, **kwargs)

        return recording


RECORDS: dict[str, Overlap] = {}


def _record(name: str) -> Overlap:
    return RECORDS.setdefault(name, Overlap())


@attrs.define
class _Recording(PerImageInpainter):
    """Darkens the masked pixels; records concurrent entries under its name."""

    def inpaint(self, requests):
        with _record(self.name).entered():
            return super().inpaint(requests)

    def inpaint_one(self, request: InpaintRequest) -> np.ndarray:
        x = request.image.pixels
        return np.where(request.mask.array, 0.1 + 0.01 * request.variant, x).astype(np.float32)


@attrs.define
class OneAtATime(_Recording):
    name = "conc-one"


@attrs.define
class ThreeAtATime(_Recording):
    name = "conc-three"


@attrs.define
class _RecordingPredictor:
    """Bone age from the mean pixel; records concurrent entries under its name."""

    name = "conc-pred"

    def predict(self, images, male=None) -> Predictions:
        with _record(self.name).entered():
            means = np.array([float(im.pixels.mean()) for im in images])
            return Predictions(self.name, 50.0 + 300.0 * means, None)


@attrs.define
class PredictOneAtATime(_RecordingPredictor):
    name = "conc-pred-one"


@attrs.define
class PredictThreeAtATime(_RecordingPredictor):
    name = "conc-pred-three"


@hookimpl
def radinpaint_register_inpainters(register):
    register("conc-one", OneAtATime, capabilities=Capabilities(max_concurrency=1))
    register("conc-three", ThreeAtATime, capabilities=Capabilities(max_concurrency=3))


@hookimpl
def radinpaint_register_predictors(register):
    register("conc-pred-one", PredictOneAtATime, capabilities=Capabilities(max_concurrency=1))
    register("conc-pred-three", PredictThreeAtATime, capabilities=Capabilities(max_concurrency=3))


@pytest.fixture
def recorded():
    """Register the recording backends; returns the records (cleared)."""
    from radinpaint import registry
    from radinpaint.plugins import get_plugin_manager

    module = types.ModuleType("radinpaint_concurrency_backends")
    for name in ("radinpaint_register_inpainters", "radinpaint_register_predictors"):
        setattr(module, name, globals()[name])
    get_plugin_manager().register(module, name="radinpaint_concurrency_backends")
    registry._clear_cache()
    RECORDS.clear()
    yield RECORDS
    RECORDS.clear()


def _run(inpainters, predictors, *, variants=2, **kw) -> Any:
    kw.setdefault("dataset", PhantomDataset(N_CASES, size=64, seed=2))
    ev = Evaluation(
        kw.pop("dataset"),
        inpainters=inpainters,
        predictors=predictors,
        variants=variants,
        preset=FAST,
        executor=LocalExecutor(8),
        inpaint_batch_size=1,
        predict_batch_size=1,
        pixel_detail_cases=0,
        progress=False,
        **kw,
    )
    result = ev.run()
    errors = result.table["error"].dropna()
    assert errors.empty, errors.unique()[:3]
    return result


@pytest.mark.parametrize("handed_in", [False, True], ids=["by-name", "instance"])
def test_a_one_at_a_time_inpainter_is_never_entered_twice(recorded, test_plugin, handed_in):
    one: Any = OneAtATime() if handed_in else "conc-one"  # an instance gets its registration
    three: Any = ThreeAtATime() if handed_in else "conc-three"
    result = _run([one, three], ["test-mean"])

    calls = N_CASES * 2  # one call per request (batch size 1), every variant computed
    assert recorded["conc-one"].calls == calls
    assert recorded["conc-one"].most == 1
    # the same run does enter a backend that allows it from several threads at once, so a
    # missing guard on the first one would have been seen
    assert recorded["conc-three"].calls == calls
    assert 2 <= recorded["conc-three"].most <= 3
    caps = {b["label"]: b["capabilities"] for b in result.manifest["backends"]["inpainters"]}
    assert caps["conc-one"]["max_concurrency"] == 1
    assert caps["conc-three"]["max_concurrency"] == 3


def test_a_one_at_a_time_predictor_is_never_entered_twice(recorded, test_plugin):
    result = _run(["test-noise"], ["conc-pred-one", "conc-pred-three"])
    counts = result.manifest["counts"]
    images = counts["predict_computed"] // 2  # every distinct image, once per predictor
    assert images > N_CASES
    assert recorded["conc-pred-one"].calls == images  # batches of one image
    assert recorded["conc-pred-one"].most == 1
    assert recorded["conc-pred-three"].calls == images
    assert 2 <= recorded["conc-pred-three"].most <= 3


def test_the_gan_is_never_entered_twice(recorded, test_plugin, monkeypatch):
    pytest.importorskip("torch")
    from radinpaint.inpainters.gan.inference import GanInpainter

    inpaint = _record("gan")
    generator = _record("gan-generator")
    monkeypatch.setattr(GanInpainter, "inpaint", inpaint.wrap(GanInpainter.inpaint))
    monkeypatch.setattr(
        GanInpainter, "run_generator", generator.wrap(GanInpainter.run_generator, pause=0.0)
    )
    # every variant computed (the gan declares itself deterministic), one request per call
    _run(
        [BackendSpec("gan", {"device": "cpu"})],
        ["test-mean"],
        replicate_seed_independent=False,
    )
    assert inpaint.calls == N_CASES * 2
    assert inpaint.most == 1
    assert generator.calls >= 1 and generator.most == 1


@pytest.fixture(scope="module")
def tiny_pipeline(tmp_path_factory) -> str:
    pytest.importorskip("diffusers")
    pytest.importorskip("transformers")
    import torch

    from radinpaint.inpainters.diffusers.tiny import save_random_inpaint_pipeline

    torch.set_num_threads(1)
    return str(save_random_inpaint_pipeline(tmp_path_factory.mktemp("tiny-sd-inpaint")))


def test_the_diffusers_pipeline_is_never_entered_twice(
    recorded, test_plugin, tiny_pipeline, monkeypatch
):
    from radinpaint.inpainters.diffusers.backend import DiffusersInpainter

    inpaint = _record("diffusers")
    monkeypatch.setattr(DiffusersInpainter, "inpaint", inpaint.wrap(DiffusersInpainter.inpaint))
    options = {
        "model": tiny_pipeline,
        "steps": 2,
        "size": 64,
        "prompt": "hand x-ray",
        "device": "cpu",
        "batch_size": 1,
    }
    _run(
        [BackendSpec("diffusers", options)],
        ["test-mean"],
        dataset=PhantomDataset(4, size=64, seed=2),
    )
    assert inpaint.calls == 4 * 2
    assert inpaint.most == 1
