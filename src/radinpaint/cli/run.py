"""``radinpaint run``: run any evaluation from a JSON configuration file and/or flags.

Example::

    radinpaint run --config study.json --out runs/study
    radinpaint run --data /data/rsna/test.csv --inpainters identity,resample,telea \\
        --predictors "study-resnet50:weights_dir=/models/study" --out runs/real

See ``docs/evaluation.md`` for the configuration keys.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any


def split_list(text: str | None) -> list[str] | None:
    """Split a comma-separated list of backend specs, keeping option lists together.

    ``"identity,gan:compositing=raw,feather=4,telea"`` gives ``["identity",
    "gan:compositing=raw,feather=4", "telea"]``: a part holding ``=`` but no ``:`` continues
    the previous spec's options. Separate specs with ``;`` to avoid any doubt.
    """
    if text is None:
        return None
    if ";" in text:
        return [p.strip() for p in text.split(";") if p.strip()]
    out: list[str] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if out and ":" in out[-1] and "=" in part and ":" not in part and not _is_label(part):
            out[-1] += "," + part
        else:
            out.append(part)
    return out


def _is_label(part: str) -> bool:
    """``label=name`` (a labelled spec) rather than ``key=value`` (an option)."""
    from ..registry import KINDS, list_backends

    _, _, value = part.partition("=")
    names = {e.name for kind in KINDS for e in list_backends(kind)}
    return value in names


def add_common(parser: argparse.ArgumentParser) -> None:
    """Options ``run`` and ``bench`` share."""
    parser.add_argument("--out", type=Path, required=True, help="folder for the report")
    parser.add_argument("--cache", type=Path, default=None,
                        help="cache folder (default OUT/cache); reruns reuse it")  # fmt: skip
    parser.add_argument("--preset", choices=["study", "recommended"], default=None,
                        help="analysis protocol (default: recommended)")  # fmt: skip
    parser.add_argument("--geometry", choices=["restored", "as-returned"], default=None,
                        help="score outputs resized back to the original's shape, or as "
                        "the backend returned them (default: the preset's; study: "
                        "as-returned)")  # fmt: skip
    parser.add_argument("--n-resamples", type=int, default=None, help="bootstrap resamples")
    parser.add_argument("--workers", type=int, default=None, help="threads for backends")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.add_argument("--format", default="csv,json,md,html",
                        help="report formats (comma list of csv, json, md, html)")  # fmt: skip


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``run`` subcommand."""
    parser = subparsers.add_parser(
        "run",
        help="run an evaluation from a JSON config and/or flags",
        description="Run an evaluation (dataset x masks x inpainters x variants x "
        "predictors x metrics) and write its report.",
    )
    parser.add_argument("--config", type=Path, help="JSON configuration file")
    parser.add_argument("--data", help="dataset: an RSNA table, a folder, or phantom:N[:SIZE]")
    parser.add_argument("--inpainters", help="comma list of backend specs")
    parser.add_argument("--predictors", help="comma list of predictor specs")
    parser.add_argument("--mask-provider", default=None, help="mask provider spec")
    parser.add_argument("--variants", type=int, default=None)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--prompt", default=None)
    parser.add_argument("--limit", type=int, default=None, help="first N cases only")
    add_common(parser)
    parser.set_defaults(func=run)


def data_spec(text: str, *, size: int | None = None, seed: int | None = None) -> dict[str, Any]:
    """A dataset configuration from a command-line value (``phantom:N[:SIZE]`` or a path)."""
    if text.startswith("phantom"):
        parts = text.split(":")[1:]
        spec: dict[str, Any] = {"kind": "phantom", "n": int(parts[0]) if parts else 200}
        if len(parts) > 1:
            size = int(parts[1])
        if size is not None:
            spec["size"] = size
        if seed is not None:
            spec["seed"] = seed
        return spec
    return {"kind": "folder", "path": text}


def finish(result: Any, out: Path, formats: str, started: float, what: str) -> int:
    """Write the report, print the headline and the time; the exit code."""
    paths = result.write(out, formats=tuple(f.strip() for f in formats.split(",") if f.strip()))
    elapsed = time.perf_counter() - started
    print(result.summary_text())
    failures = result.failures
    if failures is not None and not failures.empty:
        print(f"\n{len(failures)} item(s) failed (every reason is in the report):")
        who = [c for c in ("inpainter", "predictor", "metric") if c in failures.columns]
        keys = ["stage", *who, "error"]
        grouped = failures.fillna("").groupby(keys, sort=False).size().reset_index(name="n")
        for _, row in grouped.head(15).iterrows():
            where = " ".join(f"{k}={row[k]}" for k in who if row[k])
            print(f"  [{row['stage']}] {where} x{row['n']}: {row['error']}")
    for label, err in result.metric_errors.items():
        print(f"metric {label} not computed: {err}")
    print(f"\nreport: {', '.join(str(p) for p in paths.values() if p.suffix in ('.md', '.html'))}")
    print(f"{what} finished in {elapsed:.1f} s")
    return 0


def run(args: argparse.Namespace) -> int:
    """Build the evaluation, run it, write the report."""
    from ..errors import InvalidInputError
    from ..evaluation import evaluation_from_config

    started = time.perf_counter()
    config: dict[str, Any] = {}
    if args.config is not None:
        try:
            config = json.loads(args.config.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InvalidInputError(
                f"cannot read the configuration: {exc}", input=str(args.config),
                fix="give a JSON file (see docs/evaluation.md)",
            ) from exc  # fmt: skip
    if args.data:
        config["dataset"] = data_spec(args.data, seed=args.seed)
    if args.limit is not None:
        dataset = config.get("dataset")
        if isinstance(dataset, str):
            dataset = {"kind": "folder", "path": dataset}
        if isinstance(dataset, dict):
            config["dataset"] = {**dataset, "limit": args.limit}
    overrides = {
        "inpainters": split_list(args.inpainters),
        "predictors": split_list(args.predictors),
        "mask_provider": args.mask_provider,
        "variants": args.variants,
        "seed": args.seed,
        "prompt": args.prompt,
        "preset": args.preset,
        "geometry": args.geometry,
        "n_resamples": args.n_resamples,
        "workers": args.workers,
        "cache_dir": str(args.cache or config.get("cache_dir") or args.out / "cache"),
        "progress": False if args.no_progress else None,
    }
    evaluation = evaluation_from_config(config, **overrides)
    result = evaluation.run()
    return finish(result, args.out, args.format, started, "run")
