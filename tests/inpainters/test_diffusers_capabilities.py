"""The diffusers inpainter: one pipeline call at a time, and what it declares about itself."""

from __future__ import annotations

import functools
import shutil
import threading
import time

import numpy as np
import pytest

pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from radinpaint import InpaintRequest, get_inpainter
from radinpaint.inpainters.diffusers.backend import DiffusersInpainter

from ._helpers import box_mask, radiograph


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    import torch

    from radinpaint.inpainters.diffusers.tiny import save_random_inpaint_pipeline

    torch.set_num_threads(1)
    return str(save_random_inpaint_pipeline(tmp_path_factory.mktemp("tiny-sd-inpaint")))


def _backend(model, **options):
    options = {"steps": 2, "size": 64, "prompt": "hand x-ray", "device": "cpu", **options}
    return get_inpainter("diffusers", model=model, **options)


def test_two_threads_never_enter_the_pipeline_together(tiny_model, monkeypatch) -> None:
    backend = _backend(tiny_model, batch_size=1)
    image = radiograph((64, 64), 16)
    mask = box_mask(image.shape, (8, 40, 8, 40))
    requests = [InpaintRequest(image, mask, seed=s, case_id=f"c{s}") for s in range(4)]
    alone = [backend.inpaint([r])[0] for r in requests]  # loads the shared pipeline

    pipe_cls = type(backend._loaded().pipe)
    original = pipe_cls.__call__
    state = {"active": 0, "most": 0, "calls": 0}
    guard = threading.Lock()

    @functools.wraps(original)
    def recording(self, *args, **kwargs):
        with guard:
            state["active"] += 1
            state["calls"] += 1
            state["most"] = max(state["most"], state["active"])
        try:
            time.sleep(0.2)  # long enough for another thread to come in if it can
            return original(self, *args, **kwargs)
        finally:
            with guard:
                state["active"] -= 1

    monkeypatch.setattr(pipe_cls, "__call__", recording)
    start = threading.Barrier(2)
    results: dict[int, list] = {}
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            start.wait()
            results[k] = [backend.inpaint([r])[0] for r in requests[k::2]]
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert state["calls"] == 4
    assert state["most"] == 1
    for k in range(2):
        for got, want in zip(results[k], alone[k::2], strict=True):
            assert np.array_equal(got.image.pixels, want.image.pixels)


def test_capabilities_of_a_local_folder_follow_its_files(tiny_model, tmp_path) -> None:
    folder = shutil.copytree(tiny_model, tmp_path / "model")
    caps = DiffusersInpainter(model=str(folder), device="cpu", batch_size=3).capabilities()
    assert not caps.deterministic and caps.max_concurrency == 1
    assert caps.batch_size == 3 and caps.device == "cpu"
    same = DiffusersInpainter(model=tiny_model).capabilities().fingerprint
    assert same == caps.fingerprint  # the same files elsewhere

    weights = sorted(folder.rglob("*.safetensors"))[0]
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01
    weights.write_bytes(bytes(data))
    assert DiffusersInpainter(model=str(folder)).capabilities().fingerprint != caps.fingerprint


def test_capabilities_of_a_hub_model_follow_the_revision_asked_for(tmp_path, monkeypatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    backend = DiffusersInpainter(model="radinpaint-tests/tiny-inpaint")
    missing = backend.capabilities().fingerprint
    refs = tmp_path / "models--radinpaint-tests--tiny-inpaint" / "refs"
    refs.mkdir(parents=True)
    (refs / "main").write_text("a" * 40)
    downloaded = backend.capabilities().fingerprint
    assert downloaded == missing  # the first download does not orphan the first run's results
    main = DiffusersInpainter(model="radinpaint-tests/tiny-inpaint", revision="main")
    assert main.capabilities().fingerprint == missing
    pinned = {
        DiffusersInpainter(model="radinpaint-tests/tiny-inpaint", revision=c * 40)
        .capabilities()
        .fingerprint
        for c in "ab"
    }
    assert len(pinned | {missing}) == 3
    other = DiffusersInpainter(model="radinpaint-tests/other").capabilities().fingerprint
    assert other != missing


def test_auto_device_is_resolved_without_loading() -> None:
    import torch

    caps = DiffusersInpainter(model="/nonexistent/never-loaded").capabilities()
    assert caps.device == ("cuda" if torch.cuda.is_available() else "cpu")
    assert DiffusersInpainter(model="x/y", device="cuda:1").capabilities().device == "cuda:1"
