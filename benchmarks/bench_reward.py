"""The feedback loop on phantoms, with a simulated rater standing in for the expert.

Ratings come from :class:`radinpaint.reward.SimulatedRater` (defaults: rejects an output
whose in-mask fine-detail SD differs from the ring's by more than a factor 2, or whose
marker outline contrast exceeds 10 grey levels of 8 bits) applied to outputs of telea,
navier-stokes, telea without grain (``telea-plain``), the blur controls (whole image
sigma 1.5, mask only sigma 3), identity, gan, diffusion redraw (2 variants) and diffusion
RePaint on marked phantoms (256 px high). It then measures:

1. the reward model's cross-validated accuracy and AUC (folds by case) on the training
   cases, and its AUC against the rule on held-out cases (other phantom seeds);
2. best-of-4 (``best-of:inner=diffusion:mode=redraw,n=4``) on the held-out cases: the
   rule's acceptance rate of the chosen output vs. that of a random pick among the same 4
   candidates (the mean of their verdicts), with percentile bootstrap CIs over cases and
   for the paired difference;
3. the GAN before and after reward-weighted fine-tuning
   (:func:`radinpaint.inpainters.gan.finetune.finetune_gan` from the shipped weights, on the
   training phantoms; the default options, a control with uniform weights and no reward
   term, and a strong reward term, ``reward_weight=0.5``): the rule's acceptance rate and
   the reward model's plausibility on the held-out cases.

With ``--diffusion``, parts 2 and 3 are replaced by:

4. the diffusion model before and after reward-weighted fine-tuning
   (:func:`radinpaint.inpainters.diffusion.finetune.finetune_diffusion` from the shipped
   weights: samples of ``diffusion:mode=redraw`` on the training phantoms, scored by the
   reward model, the denoising loss weighted by ``exp(P/beta)``, AdamW at
   ``--diffusion-lr``; and a control with
   uniform weights, the same samples' plain continued training): the rule's acceptance
   rate and the reward model's plausibility of ``diffusion:mode=redraw`` on the held-out
   cases (``--diffusion-variants`` outputs per case, averaged per case), with bootstrap
   CIs over cases and for the paired difference after - before; and, per model, the mean
   absolute change from the original outside the mask and the median of the rule's
   texture measure.

Run (about 10 minutes on one CPU thread each; ``--reuse`` skips making the rated outputs
again when ``--out`` holds them from a run with the same cases)::

    OMP_NUM_THREADS=1 python benchmarks/bench_reward.py --out /tmp/bench_reward
    OMP_NUM_THREADS=1 python benchmarks/bench_reward.py --out /tmp/bench_reward --reuse \
        --diffusion
"""

from __future__ import annotations

import argparse
import json
import pickle
import time
from pathlib import Path
from typing import Any

import numpy as np


def _ci(values: np.ndarray, *, seed: int, other: np.ndarray | None = None) -> dict[str, float]:
    from radinpaint.metrics.bootstrap import bootstrap_ci

    def mean(x: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.asarray(np.mean(x, axis=axis))

    def diff(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.asarray(np.mean(a - b, axis=axis))

    if other is None:
        est = bootstrap_ci(values, statistic=mean, n_resamples=2000, seed=seed)
        value = float(values.mean())
    else:
        est = bootstrap_ci(values, other, statistic=diff, n_resamples=2000, seed=seed)
        value = float((values - other).mean())
    return {
        "value": round(value, 4),
        "ci_low": round(est.ci_low, 4),
        "ci_high": round(est.ci_high, 4),
    }


def _inpainters() -> dict[str, Any]:
    from radinpaint.registry import get_inpainter

    return {
        "telea": get_inpainter("telea"),
        "navier-stokes": get_inpainter("navier-stokes"),
        "telea-plain": get_inpainter("telea", grain=False, edge_guard=False),
        "blur": get_inpainter("blur", sigma=1.5),
        "blur-mask": get_inpainter("blur", sigma=3.0, region="mask"),
        "identity": get_inpainter("identity"),
        "gan": get_inpainter("gan"),
        "diffusion-redraw": get_inpainter("diffusion", mode="redraw"),
        "diffusion-inpaint": get_inpainter("diffusion", mode="inpaint"),
    }


def _samples(cases: list[Any], rater: Any, seed: int) -> list[Any]:
    from radinpaint.reward import simulated_samples

    inps = _inpainters()
    redraw = {"diffusion-redraw": inps.pop("diffusion-redraw")}
    out = simulated_samples(cases, inps, rater, seed=seed)
    return out + simulated_samples(cases, redraw, rater, variants=2, seed=seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train-cases", type=int, default=96)
    parser.add_argument("--test-cases", type=int, default=40)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--n", type=int, default=4, help="best-of n")
    parser.add_argument("--finetune-steps", type=int, default=80)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--diffusion",
        action="store_true",
        help="measure the diffusion fine-tuning instead of best-of-n and the GAN",
    )
    parser.add_argument("--diffusion-rounds", type=int, default=2)
    parser.add_argument("--diffusion-steps", type=int, default=100, help="steps per round")
    parser.add_argument("--diffusion-variants", type=int, default=2, help="held-out outputs")
    parser.add_argument("--diffusion-lr", type=float, default=5e-4)
    parser.add_argument("--diffusion-beta", type=float, default=0.1)
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench_reward"))
    parser.add_argument(
        "--reuse", action="store_true", help="reuse the rated outputs saved in --out by a run"
    )
    args = parser.parse_args()

    import torch
    from sklearn.metrics import roc_auc_score

    from radinpaint.datasets.phantom import make_phantoms
    from radinpaint.inpainters.gan.finetune import finetune_gan
    from radinpaint.records import InpaintRequest
    from radinpaint.registry import get_inpainter
    from radinpaint.reward import (
        BestOfInpainter,
        RatedSample,
        SimulatedRater,
        TrainOptions,
        cross_validate,
        train_reward,
    )

    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}}
    t0 = time.perf_counter()
    rater = SimulatedRater()
    report["rater"] = rater.describe()
    train_cases = make_phantoms(args.train_cases, seed=1000 + args.seed, size=args.size)
    test_cases = make_phantoms(args.test_cases, seed=2000 + args.seed, size=args.size)
    stored = args.out / "samples.pkl"
    recipe = [args.train_cases, args.test_cases, args.size, args.seed, rater.describe()]
    if args.reuse and stored.is_file():
        with stored.open("rb") as fh:
            saved = pickle.load(fh)
    else:
        saved = {}
    if saved.get("recipe") == recipe:
        train, test = saved["train"], saved["test"]
    else:
        train = _samples(train_cases, rater, args.seed)
        test = _samples(test_cases, rater, args.seed)
        with stored.open("wb") as fh:
            pickle.dump({"recipe": recipe, "train": train, "test": test}, fh)
    rates = {}
    for label in sorted({s.inpainter for s in train}):
        verdicts = [s.accepted for s in train + test if s.inpainter == label]
        rates[label] = round(float(np.mean(verdicts)), 3)
    report["ratings"] = {
        "train_outputs": len(train),
        "train_acceptable": int(sum(bool(s.accepted) for s in train)),
        "test_outputs": len(test),
        "test_acceptable": int(sum(bool(s.accepted) for s in test)),
        "acceptance_by_inpainter": rates,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    print(json.dumps(report["ratings"], indent=1), flush=True)

    t = time.perf_counter()
    options = TrainOptions(epochs=args.epochs, seed=args.seed)
    cv = cross_validate(train, folds=args.folds, options=options)
    model = train_reward(
        train, options=options, cv=cv, data={"source": "bench_reward.py simulated rater"}
    )
    weights = model.save(args.out / "reward.safetensors")
    p_test = model.predict(test)
    y_test = np.array([bool(s.accepted) for s in test])
    report["reward_model"] = {
        "cv": cv.to_dict(),
        "held_out_auc": round(float(roc_auc_score(y_test, p_test)), 4),
        "held_out_accuracy": round(float(((p_test >= 0.5) == y_test).mean()), 4),
        "seconds": round(time.perf_counter() - t, 1),
    }
    print(json.dumps(report["reward_model"], indent=1), flush=True)

    if args.diffusion:
        report["diffusion_finetune"] = _diffusion_part(args, train_cases, test_cases, weights)
        _finish(args, report, t0)
        return

    t = time.perf_counter()
    inner_spec = "diffusion:mode=redraw"
    best = BestOfInpainter(inner=inner_spec, reward=str(weights), n=args.n)
    inner = get_inpainter("diffusion", mode="redraw")
    chosen_ok, random_ok, oracle_ok, agree = [], [], [], 0
    for case in test_cases:
        assert case.artifact_mask is not None
        request = InpaintRequest(
            image=case.image, mask=case.artifact_mask, seed=args.seed, variant=0, case_id=case.id
        )
        result = best.inpaint([request])[0]
        record = result.extra["best_of"]  # type: ignore[union-attr]
        candidates = inner.inpaint(
            [
                InpaintRequest(
                    image=case.image, mask=case.artifact_mask, seed=request.variant_seed, variant=j
                )
                for j in range(args.n)
            ]
        )
        verdicts = [rater.accepts(c.image.pixels, case.artifact_mask.array) for c in candidates]
        scores = model.predict(
            [
                RatedSample(
                    output=c.image.pixels,
                    original=case.image.pixels,
                    mask=case.artifact_mask.array,
                )
                for c in candidates
            ]
        )
        agree += int(int(np.argmax(scores)) == record["chosen"])
        chosen_ok.append(float(rater.accepts(result.image.pixels, case.artifact_mask.array)))  # type: ignore[union-attr]
        random_ok.append(float(np.mean(verdicts)))
        oracle_ok.append(float(any(verdicts)))
    c, r = np.array(chosen_ok), np.array(random_ok)
    report["best_of"] = {
        "inner": inner_spec,
        "n": args.n,
        "cases": len(c),
        "best_of_acceptance": _ci(c, seed=args.seed),
        "random_pick_acceptance": _ci(r, seed=args.seed),
        "difference": _ci(c, seed=args.seed, other=r),
        "oracle_acceptance": round(float(np.mean(oracle_ok)), 4),
        "choice_matches_argmax": f"{agree}/{len(c)}",
        "seconds": round(time.perf_counter() - t, 1),
    }
    print(json.dumps(report["best_of"], indent=1), flush=True)

    t = time.perf_counter()
    # the default, a control without the reward (plain continued training), and a strong
    # reward term
    settings: dict[str, dict[str, Any]] = {
        "after": {},
        "after_uniform_no_reward_term": {"weighting": "uniform", "reward_weight": 0.0},
        "after_reward_weight_0.5": {"reward_weight": 0.5},
    }
    gans = {"before": get_inpainter("gan")}
    for label, extra in settings.items():
        tuned = finetune_gan(
            train_cases,
            reward=weights,
            out=args.out / f"gan-{label}.safetensors",
            steps=args.finetune_steps,
            seed=args.seed,
            progress=False,
            num_threads=1,
            **extra,
        )
        gans[label] = get_inpainter("gan", weights=str(tuned))
    gan_report: dict[str, Any] = {"steps": args.finetune_steps, "settings": settings}
    requests = [
        InpaintRequest(image=k.image, mask=k.artifact_mask, seed=args.seed, case_id=k.id)
        for k in test_cases
        if k.artifact_mask is not None
    ]
    for label, gan in gans.items():
        results = gan.inpaint(requests)
        ok = np.array(
            [
                float(rater.accepts(res.image.pixels, q.mask.array))  # type: ignore[union-attr]
                for q, res in zip(requests, results, strict=True)
            ]
        )
        p = model.predict(
            [
                RatedSample(output=res.image.pixels, original=q.image.pixels, mask=q.mask.array)  # type: ignore[union-attr]
                for q, res in zip(requests, results, strict=True)
            ]
        )
        gan_report[label] = {
            "acceptance": _ci(ok, seed=args.seed),
            "plausibility": _ci(p, seed=args.seed),
        }
    gan_report["seconds"] = round(time.perf_counter() - t, 1)
    report["gan_finetune"] = gan_report
    print(json.dumps(gan_report, indent=1), flush=True)
    _finish(args, report, t0)


def _finish(args: argparse.Namespace, report: dict[str, Any], t0: float) -> None:
    report["total_seconds"] = round(time.perf_counter() - t0, 1)
    name = "bench_reward_diffusion.json" if args.diffusion else "bench_reward.json"
    (args.out / name).write_text(json.dumps(report, indent=2) + "\n", "utf-8")
    print(f"total {report['total_seconds']} s; wrote {args.out / name}")


def _diffusion_part(
    args: argparse.Namespace, train_cases: list[Any], test_cases: list[Any], reward: Path
) -> dict[str, Any]:
    """Part 4: the diffusion redraw before and after reward-weighted fine-tuning."""
    from radinpaint.inpainters.diffusion.finetune import finetune_diffusion
    from radinpaint.records import InpaintRequest
    from radinpaint.registry import get_inpainter
    from radinpaint.reward import RatedSample, SimulatedRater, load_reward

    t = time.perf_counter()
    rater = SimulatedRater()
    model = load_reward(reward)
    settings: dict[str, dict[str, Any]] = {
        "after_rwr": {"weighting": "rwr"},
        "after_uniform_control": {"weighting": "uniform"},
    }
    common = {
        "rounds": args.diffusion_rounds,
        "steps": args.diffusion_steps,
        "variants": 4,
        "batch_size": 16,
        "lr": args.diffusion_lr,
        "beta": args.diffusion_beta,
        "mode": "redraw",
    }
    part: dict[str, Any] = {"options": common, "settings": settings, "train_seconds": {}}
    weights: dict[str, str | None] = {"before": None}
    for label, extra in settings.items():
        t1 = time.perf_counter()
        path = finetune_diffusion(
            train_cases,
            reward=reward,
            out=args.out / f"diffusion-{label}.safetensors",
            seed=args.seed,
            progress=False,
            num_threads=1,
            **common,
            **extra,
        )
        weights[label] = str(path)
        config = json.loads(path.with_suffix(".json").read_text("utf-8"))
        history = config["training"]["finetune"]["history"]
        part["train_seconds"][label] = round(time.perf_counter() - t1, 1)
        part[f"{label}_rounds"] = history
    requests = [
        InpaintRequest(
            image=k.image, mask=k.artifact_mask, seed=args.seed + 7, variant=j, case_id=k.id
        )
        for k in test_cases
        if k.artifact_mask is not None
        for j in range(args.diffusion_variants)
    ]
    per_case: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for label, path in weights.items():
        inp = get_inpainter("diffusion", mode="redraw", weights=path)
        results = inp.inpaint(requests)
        ok = np.array(
            [
                float(rater.accepts(res.image.pixels, q.mask.array))  # type: ignore[union-attr]
                for q, res in zip(requests, results, strict=True)
            ]
        )
        p = model.predict(
            [
                RatedSample(output=res.image.pixels, original=q.image.pixels, mask=q.mask.array)  # type: ignore[union-attr]
                for q, res in zip(requests, results, strict=True)
            ]
        )
        v = args.diffusion_variants
        per_case[label] = (ok.reshape(-1, v).mean(1), p.reshape(-1, v).mean(1))
        # how far the redraw moved from the original outside the mask, and the rule's
        # texture measure (in-mask fine detail over the ring's)
        moved = [
            float(np.abs(res.image.pixels - q.image.pixels)[~q.mask.array].mean())  # type: ignore[union-attr]
            for q, res in zip(requests, results, strict=True)
        ]
        ratio = [
            rater.measure(res.image.pixels, q.mask.array)["detail_ratio"]  # type: ignore[union-attr]
            for q, res in zip(requests, results, strict=True)
        ]
        part[f"{label}_fidelity"] = {
            "mae_outside_mask": round(float(np.mean(moved)), 4),
            "detail_ratio_median": round(float(np.median(ratio)), 3),
        }
    ok0, p0 = per_case["before"]
    for label, (ok, p) in per_case.items():
        row: dict[str, Any] = {
            "acceptance": _ci(ok, seed=args.seed),
            "plausibility": _ci(p, seed=args.seed),
        }
        if label != "before":
            row["acceptance_change"] = _ci(ok, seed=args.seed, other=ok0)
            row["plausibility_change"] = _ci(p, seed=args.seed, other=p0)
        part[label] = row
    part["held_out_cases"] = len(ok0)
    part["held_out_variants"] = args.diffusion_variants
    part["seconds"] = round(time.perf_counter() - t, 1)
    print(json.dumps(part, indent=1), flush=True)
    return part


if __name__ == "__main__":
    main()
