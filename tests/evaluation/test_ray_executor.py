"""The Ray executor on a local Ray instance: the same tables as the local executor, one
cluster-wide rate limit and budget for an API backend, resume after a killed driver, and a
failing item reported while the rest complete."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import attrs
import numpy as np
import pytest

from radinpaint.datasets.phantom import PhantomDataset
from radinpaint.errors import BackendError
from radinpaint.evaluation import Evaluation, LocalExecutor
from radinpaint.inpainters.base import PerImageInpainter
from radinpaint.inpainters.openai.backend import OpenAIInpainter
from radinpaint.inpainters.openai.pricing import cost_from_usage, estimate_call_usd, price_for
from radinpaint.records import InpaintRequest

from ..inpainters.fake_openai_server import FakeOpenAI, serve

ray = pytest.importorskip("ray", reason="ray is not installed (pip install radinpaint[ray])")

from radinpaint.evaluation.ray_executor import RayExecutor  # noqa: E402

MODEL = "gpt-image-1.5"
# columns that say how a row was obtained (wall time, read from a cache), not what it holds
HOW = ("seconds", "cached")


@attrs.define
class FailOnCase(PerImageInpainter):
    """Fills the mask with the image mean; refuses the cases in ``fail_cases``."""

    fail_cases: tuple[str, ...] = ()
    compositing: str = "paste-back"

    name = "test-fail-on-case"

    def inpaint_one(self, request: InpaintRequest) -> np.ndarray:
        if request.case_id in self.fail_cases:
            raise BackendError("refused on purpose", input=request.case_id)
        x = request.image.pixels
        return np.where(request.mask.array, np.float32(x.mean()), x).astype(np.float32)


@pytest.fixture(scope="module")
def cluster():
    """A local Ray instance with two CPUs for this module's tests."""
    # the test backend above travels to the workers by value
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    if started:
        ray.shutdown()


def _evaluation(executor, cache=None, **kw):
    defaults = dict(
        inpainters=["identity", "resample", "telea", "navier-stokes"],
        predictors=["phantom-ensemble"],
        variants=2,
        chunk_size=4,
        progress=False,
        seed=11,
    )
    defaults.update(kw)
    return Evaluation(
        PhantomDataset(7, size=96, seed=4), executor=executor, cache_dir=cache, **defaults
    )


def _what(table):
    return table[[c for c in table.columns if c not in HOW]]


def test_tables_identical_to_local_executor_and_images_put_once(cluster, tmp_path, monkeypatch):
    import pandas as pd

    local = _evaluation(LocalExecutor(2)).run()
    puts: list[str] = []
    real_put = ray.put

    def counting_put(value, *a, **k):
        puts.append(type(value).__name__)
        return real_put(value, *a, **k)

    monkeypatch.setattr(ray, "put", counting_put)
    executor = RayExecutor()
    remote = _evaluation(executor, tmp_path / "cache").run()
    monkeypatch.undo()

    assert remote.manifest["counts"]["inpaint_computed"] > 0
    assert remote.table["error"].isna().all()
    pd.testing.assert_frame_equal(_what(local.table), _what(remote.table), check_exact=True)
    # every case's image and mask went to the object store once, whatever number of
    # backends and batches used them (specs: one per backend and predictor)
    cases, masks = puts.count("Radiograph"), puts.count("Mask")
    assert masks == 7
    assert cases >= 7  # the originals, then the distinct view images for the predictor
    assert len(executor._refs) > 0
    # the workers cached every computed result where the driver's rerun finds it
    again = _evaluation(RayExecutor(), tmp_path / "cache").run()
    assert again.manifest["counts"].get("inpaint_computed", 0) == 0
    pd.testing.assert_frame_equal(_what(local.table), _what(again.table), check_exact=True)
    executor.shutdown()


def test_failing_item_reported_while_the_rest_complete(cluster):
    ids = [PhantomDataset(7, size=96, seed=4)[i].id for i in range(7)]
    bad = ids[2]
    result = _evaluation(
        RayExecutor(), inpainters=[FailOnCase(fail_cases=(bad,)), "telea"], variants=1
    ).run()
    table = result.table
    failed = table[(table["inpainter"] == "test-fail-on-case") & (table["case_id"] == bad)]
    assert len(failed) > 0
    assert failed["error"].str.contains("refused on purpose").all()
    rest = table[~((table["inpainter"] == "test-fail-on-case") & (table["case_id"] == bad))]
    assert rest["error"].isna().all()
    assert set(rest["case_id"]) == set(ids)
    assert bad in set(result.failures["case_id"])


def _openai(server, **options):
    base = {
        "preset": "recommended",
        "model": MODEL,
        "n": 1,
        "size": "256x256",
        "base_url": server.base_url,
        "api_key": "sk-test-not-a-key",
        "allow_external_upload": True,
        "max_concurrency": 2,
        "timeout": 20.0,
        "max_retries": 2,
    }
    base.update(options)
    return {"name": "openai", "options": base, "label": "openai"}


@pytest.mark.slow
def test_eight_api_workers_keep_one_rate_limit_and_one_budget(cluster, tmp_path):
    rate = 120.0  # images a minute: two a second, a burst of two
    with serve(FakeOpenAI()) as server:
        server.latency = 0.2
        first = _evaluation(
            RayExecutor(api_actors=8),
            tmp_path / "cache",
            inpainters=[_openai(server, images_per_minute=rate)],
            variants=2,
        ).run()
        arrivals = sorted(e.arrived for e in server.edits)
        n_first = len(server.generated)
        # a budget for about half of what a second set of cases would take (at a standard
        # size the estimate a call reserves is at least what the server bills)
        price = price_for(MODEL, None)
        sized = _openai(server, size="1024x1024", quality="low")
        probe = OpenAIInpainter(**sized["options"])
        per_call = estimate_call_usd(
            price,
            n=1,
            size="1024x1024",
            quality="low",
            input_fidelity=probe.input_fidelity,
            prompt=str(probe.prompt),
        )
        cap = 5.5 * per_call
        sized["options"]["max_usd"] = cap
        second = Evaluation(
            PhantomDataset(6, size=96, seed=99),
            inpainters=[sized],
            predictors=["phantom-ensemble"],
            variants=2,
            chunk_size=6,
            progress=False,
            executor=RayExecutor(api_actors=8),
            cache_dir=tmp_path / "cache-2",
        ).run()
        spent_server = sum(cost_from_usage(price, g["usage"]) for g in server.generated[n_first:])
        max_in_flight = server.max_in_flight

    assert first.table["error"].isna().all()
    assert len(arrivals) >= 10 and max_in_flight > 1  # the workers did send in parallel
    # token bucket: at most burst + rate x window in any one-second window, counted by the
    # server (half a second of slack for the way from the limiter to the server); sixteen
    # calls in flight without the shared limit would arrive in a fraction of a second
    per_second = rate / 60
    for i, t in enumerate(arrivals):
        in_window = sum(1 for u in arrivals[i:] if u - t < 1.0)
        assert in_window <= 2 + per_second * 1.5, (i, in_window, arrivals)
    assert arrivals[-1] - arrivals[0] >= (len(arrivals) - 2) / per_second * 0.9
    # budget: never above the cap, and the run went as far as it allowed
    assert spent_server <= cap + 1e-12
    assert spent_server > 0
    assert second.table["error"].notna().any()
    assert second.manifest["counts"]["cost_usd_spent"] == pytest.approx(spent_server, rel=1e-9)


DRIVER = textwrap.dedent(
    """
    import json, sys
    from radinpaint.datasets.phantom import PhantomDataset
    from radinpaint.evaluation import Evaluation
    from radinpaint.evaluation.ray_executor import RayExecutor

    address, base_url, cache, out = sys.argv[1:5]
    spec = {"name": "openai", "label": "openai", "options": {
        "preset": "recommended", "model": "MODEL_NAME", "n": 2, "size": "256x256",
        "base_url": base_url, "api_key": "sk-test-not-a-key", "allow_external_upload": True,
        "max_concurrency": 2, "timeout": 20.0, "max_retries": 2,
        "spend_ledger": cache + "/spend/openai.jsonl"}}
    ev = Evaluation(
        PhantomDataset(12, size=96, seed=8), inpainters=[spec], predictors=["phantom-ensemble"],
        variants=2, chunk_size=4, progress=False, cache_dir=cache,
        executor=RayExecutor(address=address, api_actors=3),
    )
    result = ev.run()
    with open(out, "w") as fh:
        json.dump(result.manifest["counts"], fh)
    """
).replace("MODEL_NAME", MODEL)


def _cached_openai(cache: Path) -> int:
    n = 0
    for path in (cache / "inpaint").glob("??/*.json"):
        result = json.loads(path.read_text())["result"]
        n += result["backend"] == "openai" and "empty-mask" not in result["flags"]
    return n


def _worker_pids() -> set[int]:
    """Processes of the alive actors that hold a backend (any driver's)."""
    from ray._private import state  # the actor table, without the dashboard

    return {
        int(a["Pid"])
        for a in state.actors().values()
        if a.get("State") == "ALIVE" and "_Worker" in str(a.get("ActorClassName", ""))
    }


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _driver(script, address, server, cache, out):
    env = {**os.environ, "RADINPAINT_PLUGINS": "", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, str(script), address, server.base_url, str(cache), str(out)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


@pytest.mark.slow
def test_resume_after_killed_driver_generates_nothing_twice(cluster, tmp_path):
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    cache = tmp_path / "cache"
    with serve(FakeOpenAI()) as server:
        server.latency = 0.05
        server.hold_after = 4  # calls: hold every request after the 4th answered call
        before = _worker_pids()  # this process's own, from the tests before
        first = _driver(script, cluster, server, cache, tmp_path / "counts-1.json")
        assert server.held.wait(timeout=180), first.communicate()[0].decode()[-3000:]
        deadline = time.monotonic() + 60
        while _cached_openai(cache) < server.images_generated:  # the workers cache at once
            assert time.monotonic() < deadline, "answered calls were not cached as they returned"
            time.sleep(0.05)
        theirs = _worker_pids() - before
        assert theirs, "the driver's actors are not in the actor table"
        first.kill()
        first.wait(timeout=30)
        # Ray stops the killed driver's actors shortly after; the held requests are let go
        # once their processes are gone, to find their client gone (as after a local kill)
        deadline = time.monotonic() + 60
        while any(_running(pid) for pid in theirs):
            assert time.monotonic() < deadline, "the killed driver's actors stayed alive"
            time.sleep(0.2)
        killed_at = server.images_generated
        server.release()
        time.sleep(1.0)  # held requests find their client gone: nothing generated for them

        second = _driver(script, cluster, server, cache, tmp_path / "counts-2.json")
        output = second.communicate(timeout=300)[0].decode()
        assert second.returncode == 0, output[-3000:]
        generated = list(server.generated)

    counts = json.loads((tmp_path / "counts-2.json").read_text())
    fingerprints = [g["request"] for g in generated]
    assert len(fingerprints) == len(set(fingerprints))  # no request generated twice
    assert sum(g["n"] for g in generated) == _cached_openai(cache)
    assert 0 < killed_at < _cached_openai(cache)
    assert counts["inpaint_cached"] >= killed_at
    assert counts.get("inpaint_computed", 0) == _cached_openai(cache) - killed_at


def test_configuration_selects_the_executor():
    from radinpaint.errors import InvalidInputError
    from radinpaint.evaluation import SerialExecutor, evaluation_from_config

    base = {
        "dataset": {"kind": "phantom", "n": 2, "size": 64},
        "inpainters": ["identity"],
        "predictors": ["phantom-ensemble"],
    }
    ray_ev = evaluation_from_config(base, executor="ray", ray_address="ray://head:10001")
    assert isinstance(ray_ev.executor, RayExecutor)
    assert ray_ev.executor.address == "ray://head:10001"
    assert isinstance(evaluation_from_config(base, executor="serial").executor, SerialExecutor)
    local = evaluation_from_config(base, executor="local", workers=3).executor
    assert isinstance(local, LocalExecutor) and local.max_workers == 3
    with pytest.raises(InvalidInputError, match="unknown executor 'dask'"):
        evaluation_from_config(base, executor="dask")


def test_bench_command_runs_on_ray(cluster, tmp_path):
    from radinpaint.cli import main

    out = tmp_path / "out"
    code = main(["bench", "--out", str(out), "--n", "3", "--size", "96", "--variants", "1",
                 "--backends", "identity,telea", "--executor", "ray", "--no-progress",
                 "--format", "json"])  # fmt: skip
    assert code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["evaluation"]["executor"]["type"] == "RayExecutor"
