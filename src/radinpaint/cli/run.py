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

from ._args import at_least, output_folder


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
    parser.add_argument("--out", type=output_folder, required=True,
                        help="folder for the report (created if missing)")  # fmt: skip
    parser.add_argument("--cache", type=Path, default=None,
                        help="cache folder (default OUT/cache); reruns reuse it")  # fmt: skip
    parser.add_argument("--preset", choices=["study", "recommended"], default=None,
                        help="analysis protocol (default: recommended)")  # fmt: skip
    parser.add_argument("--geometry", choices=["restored", "as-returned"], default=None,
                        help="score outputs resized back to the original's shape, or as "
                        "the backend returned them (default: the preset's; study: "
                        "as-returned)")  # fmt: skip
    parser.add_argument("--n-resamples", type=int, default=None, help="bootstrap resamples")
    parser.add_argument("--add-metrics", default=None,
                        help="metric specs run besides the preset's, e.g. generative (FID, "
                        "KID, precision/recall/density/coverage); default: none")  # fmt: skip
    parser.add_argument("--workers", type=int, default=None, help="threads for backends")
    parser.add_argument("--executor", choices=["local", "serial", "ray"], default=None,
                        help="where the work runs: threads here (local, default), "
                        "one at a time (serial), or a Ray cluster (ray; needs "
                        "radinpaint[ray])")  # fmt: skip
    parser.add_argument("--ray-address", default=None,
                        help="the Ray cluster to join with --executor ray (e.g. auto, "
                        "ray://HOST:10001; default: start one on this machine)")  # fmt: skip
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
    parser.add_argument(
        "--variants",
        type=int,
        default=None,
        help="outputs per case and inpainter (default: the config's, else 3)",
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="the run's seed (default: the config's, else 0)"
    )
    parser.add_argument(
        "--prompt", default=None, help="prompt for prompted backends (default: each backend's own)"
    )
    parser.add_argument("--limit", type=int, default=None, help="first N cases only")
    add_common(parser)
    parser.set_defaults(func=run)


def load_cases(text: str, *, seed: int | None = None) -> list[Any]:
    """The cases of a dataset named on the command line (see :func:`data_spec`)."""
    from ..evaluation.config import dataset_from_config

    return list(dataset_from_config(data_spec(text, seed=seed)))


def data_spec(text: str, *, size: int | None = None, seed: int | None = None) -> dict[str, Any]:
    """A dataset configuration from a command-line value (``phantom:N[:SIZE]`` or a path).

    A path that exists is always a path (a folder named ``phantoms`` too).
    """
    from ..errors import InvalidInputError

    accepted = "an RSNA label table, a folder of images, or phantom:N[:SIZE]"
    if (text == "phantom" or text.startswith("phantom:")) and not Path(text).exists():
        parts = text.split(":")[1:]
        try:
            numbers = [int(p) for p in parts]
        except ValueError:
            numbers = []
        if len(numbers) != len(parts) or len(parts) > 2:
            raise InvalidInputError(
                f"--data {text!r} is not phantom:N or phantom:N:SIZE with whole numbers",
                input=text,
                fix="write e.g. --data phantom:200 or --data phantom:200:512",
            )
        from ..datasets.phantom import MIN_SIZE

        n = numbers[0] if numbers else 200
        if n < 1 or (len(numbers) > 1 and numbers[1] < MIN_SIZE):
            raise InvalidInputError(
                f"--data {text!r}: phantom:N[:SIZE] needs N >= 1 and SIZE >= {MIN_SIZE}",
                input=text,
                fix=f"write e.g. --data phantom:200 or --data phantom:200:{max(512, MIN_SIZE)}",
            )
        spec: dict[str, Any] = {"kind": "phantom", "n": n}
        if len(numbers) > 1:
            size = numbers[1]
        if size is not None:
            spec["size"] = size
        if seed is not None:
            spec["seed"] = seed
        return spec
    if not Path(text).expanduser().exists():
        raise InvalidInputError(
            f"--data {text!r}: no such file or folder",
            input=text,
            fix=f"check the path; --data takes {accepted}",
        )
    return {"kind": "folder", "path": text}


def check_config_file(config: Any, where: str) -> None:
    """Refuse a configuration file that is not a JSON object or holds unknown keys."""
    from ..errors import InvalidInputError
    from ..evaluation.config import CONFIG_KEYS

    if not isinstance(config, dict):
        raise InvalidInputError(
            f"the configuration is a JSON {type(config).__name__}, not an object",
            input=where,
            fix='write a JSON object such as {"dataset": ..., "inpainters": [...], '
            '"predictors": [...]} (see docs/evaluation.md)',
        )
    unknown = sorted(set(config) - set(CONFIG_KEYS))
    if unknown:
        raise InvalidInputError(
            f"unknown configuration key(s) {', '.join(unknown)}",
            input=where,
            available=CONFIG_KEYS,
            fix="correct or remove them (docs/evaluation.md lists the keys)",
        )


def check_config(config: dict[str, Any], overrides: dict[str, Any]) -> None:
    """Refuse, before anything runs, what :func:`evaluation_from_config` would refuse only
    late or not at all: missing keys, a bad ``limit``, and backends that are not registered
    or do not take the options given."""
    from ..errors import InvalidInputError

    merged = {**config, **{k: v for k, v in overrides.items() if v is not None}}
    flags = {"dataset": "--data", "inpainters": "--inpainters", "predictors": "--predictors"}
    for key, flag in flags.items():
        if not merged.get(key):
            raise InvalidInputError(
                f"no {key} given",
                input=f"{flag} / '{key}' in the configuration",
                fix=f"pass {flag} or put '{key}' in the --config file",
            )
    dataset = merged["dataset"]
    limit = dataset.get("limit") if isinstance(dataset, dict) else None
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise InvalidInputError(
            f"the dataset's limit must be a whole number >= 1, got {limit!r}",
            input="--limit / 'limit' in the dataset",
            fix="pass --limit N with N >= 1, or leave it out for every case",
        )
    check_backends(merged)


def check_backends(config: dict[str, Any]) -> None:
    """Every inpainter, predictor, metric and mask provider named is registered and takes its
    options.

    A backend that is registered but cannot be built here (no weights, no key) is still
    reported by the run itself, in its failures.
    """
    from .. import registry
    from ..evaluation.specs import BackendSpec, parse_specs

    kinds = (("inpainters", "inpainter"), ("predictors", "predictor"),
             ("metrics", "metric"), ("add_metrics", "metric"))  # fmt: skip
    named = [(kind, spec) for key, kind in kinds for spec in parse_specs(config.get(key), key)]
    if config.get("mask_provider") is not None:
        named.append(("mask_provider", BackendSpec.parse(config["mask_provider"])))
    for kind, spec in named:
        if spec.instance is not None:
            continue
        registry.check_spec(kind, spec.name, spec.options)


def report_formats(text: str) -> tuple[str, ...]:
    """The report formats of ``--format`` (a comma list), checked before anything runs."""
    from ..errors import InvalidInputError
    from ..report import FORMATS

    formats = tuple(dict.fromkeys(f.strip().lower() for f in text.split(",") if f.strip()))
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        what = f"unknown report format(s) {', '.join(unknown)}" if unknown else "no format"
        raise InvalidInputError(
            f"--format {text!r}: {what}",
            input="--format",
            available=FORMATS,
            fix=f"give a comma list of {', '.join(FORMATS)}, e.g. --format csv,html",
        )
    return formats


def finish(result: Any, out: Path, formats: tuple[str, ...], started: float, what: str) -> int:
    """Write the report, print the headline and the time; the exit code."""
    paths = result.write(out, formats=formats)
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
    print(_disk_line(result, out))
    print(f"{what} finished in {elapsed:.1f} s")
    return _nothing_measured(result, what)


def _folder_bytes(folder: Path) -> int:
    """Bytes of the files below ``folder`` (0 when it does not exist)."""
    total = 0
    for path in folder.rglob("*"):
        try:
            if path.is_file():
                total += path.stat().st_size
        except OSError:
            continue
    return total


def _disk_line(result: Any, out: Path) -> str:
    """What the run left on disk: the report folder and the cache (outside it or not)."""
    cache = (result.manifest.get("evaluation") or {}).get("cache_dir")
    report = _folder_bytes(out)
    text = f"disk: {report / 1e6:.1f} MB in {out}"
    if cache:
        cache_path = Path(cache)
        inside = out.resolve() in cache_path.resolve().parents
        size = _folder_bytes(cache_path)
        where = "of it" if inside else "more"
        text += f" ({size / 1e6:.1f} MB {where} in the cache {cache_path})"
    return text


def _nothing_measured(result: Any, what: str) -> int:
    """1 (and one line on stderr) when no row has a prediction: the run measured nothing."""
    import sys

    table = result.table
    if not table.empty and table["error"].isna().any():
        return _unusable_backends(result, what)
    failures = result.failures
    first = ""
    if failures is not None and not failures.empty:
        row = failures.iloc[0]
        first = f"; the first of {len(failures)} failure(s): [{row['stage']}] {row['error']}"
    cases = "no case was loaded" if table.empty else f"all {len(table)} row(s) failed"
    line = " ".join(f"nothing was measured: {cases}{first}".split()).rstrip(".")
    if "Fix:" in line:  # the first failure says how to fix it
        line += " (every failure is in the report)."
    else:
        line += ". Fix: correct the inputs the failures name (all are in the report)."
    print(f"radinpaint {what}: error: {line}", file=sys.stderr)
    return 1


def _unusable_backends(result: Any, what: str) -> int:
    """1 (and one line per backend on stderr) when a requested backend could not be built:
    the run measured the others, but not what was asked for."""
    import sys

    failures = result.failures
    if failures is None or failures.empty or "stage" not in failures.columns:
        return 0
    built = failures[failures["stage"] == "build"]
    if built.empty:
        return 0
    who = [c for c in ("inpainter", "predictor", "mask_provider") if c in built.columns]
    for _, row in built.drop_duplicates(subset=[*who, "error"]).iterrows():
        name = next((f"{k.replace('_', ' ')} {row[k]}" for k in who if row[k]), "a backend")
        line = " ".join(f"{name} could not be used: {row['error']}".split())
        print(f"radinpaint {what}: error: {line}", file=sys.stderr)
    return 1


def run(args: argparse.Namespace) -> int:
    """Build the evaluation, run it, write the report."""
    from ..errors import InvalidInputError
    from ..evaluation import evaluation_from_config

    started = time.perf_counter()
    formats = report_formats(args.format)  # before the run, not after it
    at_least(args.variants, "--variants", 1)
    at_least(args.limit, "--limit", 1)
    at_least(args.workers, "--workers", 1)
    at_least(args.n_resamples, "--n-resamples", 1)
    config: Any = {}
    if args.config is not None:
        try:
            config = json.loads(args.config.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InvalidInputError(
                f"cannot read the configuration: {exc}", input=str(args.config),
                fix="give a JSON file (see docs/evaluation.md)",
            ) from exc  # fmt: skip
        check_config_file(config, str(args.config))
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
        "executor": args.executor,
        "ray_address": args.ray_address,
        "cache_dir": str(args.cache or config.get("cache_dir") or args.out / "cache"),
        "progress": False if args.no_progress else None,
        "add_metrics": split_list(args.add_metrics),
    }
    check_config(config, overrides)
    evaluation = evaluation_from_config(config, **overrides)
    from ..predictors.provenance import evaluation_warnings

    for warning in evaluation_warnings(evaluation):  # a phantom-trained model on real data
        print(f"run: warning: {warning}")
    result = evaluation.run()
    return finish(result, args.out, formats, started, "run")
