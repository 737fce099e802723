"""How close the openai inpainter gets to ideal API throughput, alone and in an evaluation.

Starts the fake OpenAI images API of the test suite
(``tests/inpainters/fake_openai_server``, on 127.0.0.1; nothing leaves the machine) in
another process (``--server thread``: in this one), which answers every edit after
``--latency`` seconds, and sends ``--calls`` study-preset calls (``preset="study"``, ``n`` =
``--variants`` images per call, a full mask so that every case is sent) with
``--concurrency`` calls in flight, twice over the same backend object:

(a) directly: ``backend.inpaint(requests)`` on every request at once;
(b) through :class:`radinpaint.evaluation.Evaluation` on as many phantom cases, with
    ``variants=--variants``, a mask provider that marks the whole image, a cheap
    image-statistics predictor and a :class:`~radinpaint.evaluation.LocalExecutor` with
    ``--workers`` threads.

For each it prints the wall time, the ideal time (calls x latency / concurrency), the ratio
ideal/actual in %, and what the server counted: edit calls received, images asked for (the
sum of ``n``) and the most calls it had in flight at once. A phase that fails is reported
and the next one still runs.

The study sends 1024x1024 images; ``--api-size`` defaults to 256x256 so that PNG encoding
on a small CPU is not what gets measured (pass ``--api-size 1024x1024`` for the study's).
The study's model, gpt-image-1, is shut down (the fake API refuses it as OpenAI does), so
``--model`` defaults to gpt-image-1.5.

Usage::

    python benchmarks/bench_api_throughput.py                      # 98 calls, 1 s each
    python benchmarks/bench_api_throughput.py --latency 0.5 --calls 40
    python benchmarks/bench_api_throughput.py --phase direct --concurrency 8
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "inpainters"))


class FullMasks:
    """Mask provider marking every pixel, so that the study preset sends every case."""

    name = "bench-full"

    def masks(self, items: Sequence[Any]) -> list[Any]:
        from radinpaint.records import Mask

        return [Mask.full(getattr(item, "image", item).shape) for item in items]


class MeanPredictor:
    """A cheap deterministic predictor: bone age and sex from image mean and spread."""

    name = "bench-mean"

    def predict(self, images: Sequence[Any], male: Sequence[bool] | None = None) -> Any:
        from radinpaint.records import Predictions

        means = np.array([float(im.pixels.mean()) for im in images])
        sds = np.array([float(im.pixels.std()) for im in images])
        p_male = 1.0 / (1.0 + np.exp(-(sds - 0.2) * 30.0))
        return Predictions(self.name, 40.0 + 400.0 * means, p_male)


def server_stats(base_url: str, *, reset: bool = False) -> dict[str, Any]:
    """The fake server's own counts (``GET <base>/_stats``), wherever it runs."""
    import json
    import urllib.request

    url = f"{base_url}/_stats" + ("?reset=1" if reset else "")
    with urllib.request.urlopen(url, timeout=10) as answer:  # 127.0.0.1 only
        return dict(json.loads(answer.read()))


class ServerWindow:
    """What the fake server received between :meth:`open` and :meth:`close`."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.first = 0
        self.calls = 0
        self.images = 0
        self.max_in_flight = 0

    def open(self) -> None:
        self.first = len(server_stats(self.base_url, reset=True)["edit_n"])

    def close(self) -> None:
        stats = server_stats(self.base_url)
        edits = stats["edit_n"][self.first :]
        self.max_in_flight = int(stats["max_in_flight"])
        self.calls = len(edits)
        self.images = sum(edits)


@contextlib.contextmanager
def fake_server(latency: float, where: str) -> Iterator[str]:
    """The fake API's base URL, served from another process (``where="process"``: the
    service's own work does not take this process's CPU, as a real service's would not)
    or from a thread of this one."""
    if where == "thread":
        from fake_openai_server import FakeOpenAI, serve

        with serve(FakeOpenAI(latency=latency)) as state:
            yield state.base_url
        return
    script = ROOT / "tests" / "inpainters" / "fake_openai_server.py"
    proc = subprocess.Popen(
        [sys.executable, str(script), "--latency", str(latency)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        if proc.stdin is not None:
            proc.stdin.close()  # the server stops when its standard input closes
        proc.wait(timeout=30)


def timed_phase(label: str, base_url: str, ideal: float, run: Callable[[], str]) -> dict[str, Any]:
    """Run one phase, print its figures, return them (``error`` set if it failed)."""
    window = ServerWindow(base_url)
    window.open()
    start = time.perf_counter()
    error = None
    detail = ""
    try:
        detail = run()
    except Exception as exc:  # report and go on with the next phase
        error = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    wall = time.perf_counter() - start
    window.close()
    ratio = 100.0 * ideal / wall if wall > 0 else float("nan")
    print(f"\n[{label}]")
    if error:
        print(f"  FAILED: {error}")
    if detail:
        print(f"  {detail}")
    print(f"  wall time: {wall:.2f} s")
    print(f"  ideal:     {ideal:.2f} s")
    print(f"  ideal/actual: {ratio:.1f} %")
    print(
        f"  server: {window.calls} edit call(s), {window.images} image(s) asked for, "
        f"at most {window.max_in_flight} in flight"
    )
    return {
        "label": label,
        "wall": wall,
        "ratio": ratio,
        "calls": window.calls,
        "images": window.images,
        "error": error,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures; exit status 1 if a phase failed."""

    from radinpaint import InpaintRequest, get_inpainter
    from radinpaint.datasets.phantom import PhantomDataset
    from radinpaint.evaluation import Evaluation, LocalExecutor
    from radinpaint.records import InpaintResult, Mask

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=98, help="API calls (= phantom cases)")
    p.add_argument("--variants", type=int, default=3, help="images per case (= n per call)")
    p.add_argument("--latency", type=float, default=1.0, help="seconds per call at the server")
    p.add_argument(
        "--server",
        choices=("process", "thread"),
        default="process",
        help="run the fake server in another process (default) or in a thread of this one",
    )
    p.add_argument("--concurrency", type=int, default=4, help="backend max_concurrency")
    p.add_argument("--workers", type=int, default=None, help="evaluation executor threads")
    p.add_argument("--image-size", type=int, default=128, help="phantom side in pixels")
    p.add_argument("--api-size", default="256x256", help="size sent to the API")
    p.add_argument("--model", default="gpt-image-1.5")
    p.add_argument("--chunk-size", type=int, default=None, help="Evaluation chunk_size")
    p.add_argument("--phase", choices=("both", "direct", "evaluation"), default="both")
    args = p.parse_args(argv)
    if args.calls < 1 or args.variants < 1 or args.concurrency < 1:
        p.error("--calls, --variants and --concurrency must be >= 1")
    if args.latency < 0:
        p.error("--latency must be >= 0")
    if args.variants > 10:
        p.error("--variants is n per call: at most 10")
    workers = args.workers or max(2 * args.concurrency, 8)

    total_calls = args.calls  # one call of n=variants images per case
    ideal = total_calls * args.latency / args.concurrency
    # built before any clock starts, so that neither phase times phantom generation
    cases = list(PhantomDataset(args.calls, size=args.image_size))
    requests = [
        InpaintRequest(case.image, Mask.full(case.image.shape), seed=i, variant=v, case_id=case.id)
        for i, case in enumerate(cases)
        for v in range(args.variants)
    ]
    import openai  # noqa: F401  (imported here so that neither phase times the SDK import)

    print(
        f"{args.calls} case(s) x {args.variants} variant(s) = {total_calls} study-preset "
        f"call(s) of n={args.variants}; server latency {args.latency:.2f} s per call; "
        f"max_concurrency={args.concurrency}; evaluation executor: LocalExecutor({workers}); "
        f"phantoms {args.image_size} px sent as {args.api_size}, model {args.model}"
    )
    rounds = -(-total_calls // args.concurrency)
    floor = rounds * args.latency
    print(
        f"ideal = {total_calls} x {args.latency:.2f} s / {args.concurrency} = {ideal:.2f} s "
        f"per phase (whole rounds of calls cannot beat {floor:.2f} s"
        + (f", {100.0 * ideal / floor:.1f} % of ideal)" if floor > 0 else ")")
    )

    outcomes = []
    with fake_server(args.latency, args.server) as base_url:
        backend = get_inpainter(
            "openai",
            preset="study",
            model=args.model,
            size=args.api_size,
            n=args.variants,
            max_concurrency=args.concurrency,
            allow_external_upload=True,
            api_key="sk-benchmark-dummy",
            base_url=base_url,
        )

        def direct() -> str:
            results = backend.inpaint(requests)
            ok = sum(isinstance(r, InpaintResult) for r in results)
            return f"{len(requests)} request(s): {ok} result(s), {len(results) - ok} failure(s)"

        def evaluation() -> str:
            run = Evaluation(
                cases,
                inpainters=[backend],
                predictors=[MeanPredictor()],
                mask_provider=FullMasks(),
                variants=args.variants,
                executor=LocalExecutor(workers),
                progress=False,
                pixel_detail_cases=0,
                n_samples=0,
                metrics=[],  # the statistics after the run are not what this measures
                **({} if args.chunk_size is None else {"chunk_size": args.chunk_size}),
            )
            result = run.run()
            timings = result.manifest["timings_s"]
            print(
                "  stage seconds (stages overlap): "
                + ", ".join(f"{k} {v:.2f}" for k, v in timings.items())
            )
            table = result.table
            errors = int(table["error"].notna().sum()) if "error" in table else 0
            failures = getattr(result, "failures", None)
            failed = 0 if failures is None else len(failures)
            return (
                f"{len(table)} table row(s), {errors} with an error; {failed} failure(s) recorded"
            )

        if args.phase in ("both", "direct"):
            outcomes.append(
                timed_phase("(a) backend.inpaint, all requests at once", base_url, ideal, direct)
            )
        if args.phase in ("both", "evaluation"):
            outcomes.append(timed_phase("(b) Evaluation", base_url, ideal, evaluation))

    print("\nsummary:")
    for o in outcomes:
        status = "FAILED" if o["error"] else "ok"
        print(
            f"  {o['label']}: {o['wall']:.2f} s, ideal/actual {o['ratio']:.1f} %, "
            f"{o['calls']} call(s), {o['images']} image(s) [{status}]"
        )
    return 1 if any(o["error"] for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
