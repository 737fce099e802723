"""Stage 2 of a run: every inpainter on every case and variant of a chunk."""

from __future__ import annotations

import time
from collections.abc import Sequence

from ..inpaint_calls import is_dry_run
from ..records import InpaintRequest
from .backends import InpainterSlot
from .chunk import Chunk, Output
from .core import case_seed
from .executor import Executor
from .tally import Tally

__all__ = ["inpaint_chunk"]


def inpaint_chunk(
    chunk: Chunk,
    inps: Sequence[InpainterSlot],
    *,
    variants: int,
    seed: int,
    prompt: str | None,
    executor: Executor,
    tally: Tally,
) -> None:
    """Every inpainter on the chunk, through its calls (cache first, each call cached)."""
    for inp in inps:
        if inp.error is None and inp.calls is not None:
            t = time.perf_counter()
            _inpaint_one(inp, chunk, variants, seed, prompt, executor, tally)
            tally.timed(f"inpaint[{inp.label}]_s", t)
        chunk.inpainter_errors[inp.label] = inp.error


def _inpaint_one(
    inp: InpainterSlot,
    chunk: Chunk,
    variants: int,
    seed: int,
    prompt: str | None,
    executor: Executor,
    tally: Tally,
) -> None:
    """One inpainter over the chunk; stops the backend when every request fails."""
    assert inp.calls is not None
    k = 1 if inp.deterministic else variants
    requests = [
        InpaintRequest(
            case.image,
            chunk.masks[case.id],
            prompt=prompt,
            seed=case_seed(seed, case),
            variant=v,
            case_id=case.id,
        )
        for case in chunk.cases
        for v in range(k)
    ]
    for _, outcome in inp.calls.stream(requests, executor):
        request = outcome.request
        key = (inp.label, str(request.case_id), request.variant)
        tally.advance("inpaint")
        res = outcome.result
        error, counter = None, ""
        if res is None:
            error = outcome.failure.error if outcome.failure else "no result"
            counter = "inpaint_failed"
        elif is_dry_run(res):
            # nothing was sent: the input came back as a stand-in, which is no output to
            # score, count as computed or keep (InpaintCalls never caches it)
            error = (
                f"not computed: dry run (backend {inp.label} was built with dry_run=True and "
                "sent nothing; build it without dry_run to compute this output)"
            )
            counter = "inpaint_dry_run"
        if error is not None or res is None:
            error = error or "no result"
            chunk.outputs[key] = Output(error=error)
            tally.count(counter)
            tally.fail(
                "inpaint",
                case_id=request.case_id,
                inpainter=inp.label,
                variant=request.variant,
                error=error,
            )
            continue
        tally.count("inpaint_cached" if outcome.cached else "inpaint_computed")
        tally.count("cost_usd_total", res.cost_usd)
        if not outcome.cached:
            tally.count("inpaint_seconds_spent", res.seconds)
            if inp.capabilities.ledger is None:  # a paid backend's ledger is read at the end
                tally.count("cost_usd_spent", res.cost_usd)
        if res.prompt:
            tally.prompt(res.prompt)
        chunk.outputs[key] = Output(res, cached=outcome.cached)
    stopped = inp.calls.stopped
    if stopped and inp.error is None:
        # A failure said every further call would fail too (missing weights, no key, budget
        # spent): this inpainter is not called again in this run; a rerun retries.
        inp.error = f"backend stopped: {stopped}"
        tally.fail("backend", inpainter=inp.label, error=inp.error)
