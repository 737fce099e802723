"""``radinpaint bench``: the bundled bone-age study, offline, on phantoms or on real data.

Default: 200 phantoms (512 pixels high, RSNA-like aspect ratios), 3 variants, ground-truth
masks, the backends ``identity``, ``blur`` (a positive control: a known damage),
``resample`` (squash to 1024x1024 and back),
``study-geometry`` (the same squash, scored as the study's predictors read it, never
restored), ``telea``, ``navier-stokes``, ``biharmonic``, ``gan`` (pasting back) and
``gan-raw`` (the GAN's whole redrawn image), ``redraw`` (radinpaint's own small
diffusion model redrawing the whole image, SDEdit at its default strength: a different
redraw per variant, as gpt-image-1 in the study), plus ``diffusers`` when a model is
given (``--diffusers-model`` or ``RADINPAINT_DIFFUSERS_MODEL``) and ``openai`` when asked for
(``--openai``) with a key and the upload opt-in; the shipped ``phantom-ensemble`` predictor.

The same command with ``--data`` (an RSNA table or folder) and ``--predictor`` (a registered
predictor spec such as ``onnx:path=MODEL.onnx,targets=bone_age,preprocessing=study-320``,
or a folder of the study's weights) runs the real study. ``--data`` with the default
phantom-trained predictor runs, but warns (and the report says so first): its
predictions on real radiographs are meaningless.

Backends that are not registered (or not configured) are listed and left out; the run goes
on with the others. Without any usable predictor or backend it stops with a clear message.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from ._args import at_least
from .run import add_common, data_spec, finish, report_formats, split_list

DEFAULT_BACKENDS: tuple[str, ...] = (
    "identity",
    "blur",
    "resample",
    "study-geometry=resample:restore=false",
    "telea",
    "navier-stokes",
    "biharmonic",
    "gan",
    "gan-raw=gan:compositing=raw",
    "redraw=diffusion:mode=redraw",
)
"""The bench's default backend specs (see the module docs)."""

DIFFUSERS_ENV = "RADINPAINT_DIFFUSERS_MODEL"
"""Environment variable naming a local diffusers inpainting model for the bench."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``bench`` subcommand."""
    parser = subparsers.add_parser(
        "bench",
        help="run the bundled bone-age study (phantoms by default) and write its report",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    parser.add_argument("--n", type=int, default=200, help="cases (default 200)")
    parser.add_argument("--variants", type=int, default=3, help="variants per case (3)")
    parser.add_argument("--size", type=int, default=512, help="phantom height in pixels (512)")
    parser.add_argument("--seed", type=int, default=0, help="dataset and inpainting seed")
    parser.add_argument("--backends", default=None,
                        help="comma list of backend specs (default: the bundled set)")  # fmt: skip
    parser.add_argument("--predictor", default="phantom-ensemble",
                        help="predictor spec, or a folder of study weights")  # fmt: skip
    parser.add_argument("--data", default=None,
                        help="real data: an RSNA table or folder (default: phantoms)")  # fmt: skip
    parser.add_argument("--mask-provider", default="ground-truth", help="mask provider spec")
    parser.add_argument("--diffusers-model", default=os.environ.get(DIFFUSERS_ENV),
                        help=f"local diffusers inpainting model (or ${DIFFUSERS_ENV})")  # fmt: skip
    parser.add_argument("--openai", choices=["study", "recommended"], default=None,
                        help="add the openai backend with this preset (paid; needs "
                        "OPENAI_API_KEY and RADINPAINT_ALLOW_EXTERNAL_UPLOAD=1)")  # fmt: skip
    parser.add_argument("--openai-model", default=None,
                        help="openai image model (default: the preset's)")  # fmt: skip
    parser.add_argument("--max-usd", type=float, default=None, help="openai budget")
    parser.add_argument("--pixel-detail", type=int, default=2,
                        help="cases with per-output SSIM/KS detail (default 2)")  # fmt: skip
    add_common(parser)
    parser.set_defaults(func=run)


def _predictor_spec(value: str) -> str:
    path = Path(value).expanduser()
    if path.is_dir():
        return f"study-resnet50:weights_dir={path}"
    return value


def available_backends(
    specs: list[str], diffusers_model: str | None, openai: str | None, max_usd: float | None,
    cache: Path, openai_model: str | None = None,
) -> tuple[list[Any], list[str]]:  # fmt: skip
    """The backend specs that can run here, and a note for each left out."""
    from ..evaluation import BackendSpec
    from ..inpainters.openai.presets import ALLOW_UPLOAD_ENV, upload_allowed
    from ..registry import list_inpainters

    names = {e.name for e in list_inpainters()}
    parsed = [BackendSpec.parse(s) for s in specs]
    if diffusers_model:
        parsed.append(BackendSpec("diffusers", {"model": diffusers_model}, "diffusers"))
    if openai:
        missing = [
            what
            for what, ok in (
                ("OPENAI_API_KEY", bool(os.environ.get("OPENAI_API_KEY"))),
                (f"{ALLOW_UPLOAD_ENV}=1", upload_allowed(False)),  # the backend's own rule
            )
            if not ok
        ]
        if missing:
            return [], [f"openai: not configured (set {' and '.join(missing)})"]
        # the spend ledger in the cache makes --max-usd hold across reruns
        ledger = cache / "spend" / f"openai-{openai}.jsonl"
        options: dict[str, Any] = {"preset": openai, "spend_ledger": str(ledger)}
        if max_usd is not None:
            options["max_usd"] = max_usd
        if openai_model:
            options["model"] = openai_model
        parsed.append(BackendSpec("openai", options, f"openai-{openai}"))
    keep, notes = [], []
    for spec in parsed:
        if spec.name in names:
            keep.append(spec)
        else:
            notes.append(f"{spec.label}: backend {spec.name!r} is not registered here")
    return keep, notes


def run(args: argparse.Namespace) -> int:
    """Run the bench and write its report."""
    from ..datasets.phantom import MIN_SIZE
    from ..errors import InvalidInputError, UnknownPluginError
    from ..evaluation import evaluation_from_config
    from ..plugins import plugin_errors
    from ..registry import list_predictors

    started = time.perf_counter()
    formats = report_formats(args.format)  # before the run, not after it
    at_least(args.n, "--n", 1)
    at_least(args.variants, "--variants", 1)
    if not args.data:
        at_least(args.size, "--size", MIN_SIZE)
    at_least(args.workers, "--workers", 1)
    at_least(args.n_resamples, "--n-resamples", 1)
    at_least(args.max_usd, "--max-usd", 0)
    at_least(args.pixel_detail, "--pixel-detail", 0)
    cache = args.cache or args.out / "cache"
    specs = split_list(args.backends) or list(DEFAULT_BACKENDS)
    if args.backends:  # asked for by name: an unknown name or option stops the bench now
        from ..errors import RadinpaintError
        from ..evaluation import BackendSpec
        from ..registry import check_spec

        for text in specs:
            spec = BackendSpec.parse(text)
            try:
                check_spec("inpainter", spec.name, spec.options)
            except RadinpaintError as exc:
                raise type(exc)(
                    f"--backends {text!r}: {exc.what}",
                    input=exc.input,
                    fix=exc.fix,
                    available=exc.available,
                ) from exc
    inpainters, notes = available_backends(
        specs, args.diffusers_model, args.openai, args.max_usd, cache, args.openai_model
    )
    if args.openai and not any(s.name == "openai" for s in inpainters):
        raise InvalidInputError(notes[-1], fix="configure it, or drop --openai")
    predictor = _predictor_spec(args.predictor)
    pred_name = predictor.split(":", 1)[0]
    known = sorted(e.name for e in list_predictors())
    for note in notes:
        print(f"bench: left out {note}")
    for failure in plugin_errors():
        print(f"bench: plugin {failure.plugin} failed to load: {failure.error}")
    if pred_name not in known:
        raise UnknownPluginError(
            f"the bench's predictor {pred_name!r} is not registered here",
            available=known,
            fix="install the package that provides it, or pass --predictor",
        )
    try:  # fail early and clearly when the predictor cannot be built (e.g. no weights)
        from ..evaluation import BackendSpec

        declared = BackendSpec.parse(predictor).build_declared("predictor").capabilities
    except Exception as exc:
        what = getattr(exc, "what", None) or str(exc)
        raise InvalidInputError(
            f"the bench's predictor {predictor!r} cannot be built: {what}",
            input=getattr(exc, "input", None),
            fix=getattr(exc, "fix", None) or "install its weights, or pass --predictor",
        ) from exc
    if not inpainters:
        raise InvalidInputError(
            f"none of the bench's backends is available ({'; '.join(notes)})",
            input="--backends",
            fix="pass --backends with registered names (radinpaint plugins lists them)",
        )
    if args.data:
        dataset: dict[str, Any] = data_spec(args.data)
        dataset["limit"] = args.n
    else:
        dataset = {"kind": "phantom", "n": args.n, "seed": args.seed, "size": args.size}
    config = {
        "dataset": dataset,
        "mask_provider": args.mask_provider,
        "inpainters": [s.to_dict() for s in inpainters],
        "predictors": [predictor],
        "variants": args.variants,
        "seed": args.seed,
        "preset": args.preset or "recommended",
        "geometry": args.geometry,
        "n_resamples": args.n_resamples,
        "workers": args.workers or 2,
        "executor": args.executor,
        "ray_address": args.ray_address,
        "cache_dir": str(cache),
        "progress": not args.no_progress,
        "pixel_detail_cases": args.pixel_detail,
        "add_metrics": split_list(args.add_metrics),
    }
    config = {k: v for k, v in config.items() if v is not None}
    for spec in config["inpainters"]:  # keep options the secret filter would drop
        spec["options"] = next(s for s in inpainters if s.label == spec["label"]).options
    labels = ", ".join(s.label for s in inpainters)
    evaluation = evaluation_from_config(config)
    n_cases = len(evaluation.dataset)  # the cases there are, not the --n asked for
    from ..predictors.provenance import print_training_warning

    print_training_warning("bench", predictor, declared.trained_on, evaluation.dataset)
    print(f"bench: {n_cases} cases x {args.variants} variants; backends: {labels}; "
          f"predictor: {predictor}")  # fmt: skip
    result = evaluation.run()
    return finish(result, args.out, formats, started, "bench")
