"""``radinpaint inpaint``: inpaint image files with any registered backend.

::

    radinpaint inpaint scans/*.png --backend telea --masks masks/ --out out/
    radinpaint inpaint a.dcm b.dcm --backend openai --prompt "..." --variants 3 --seed 7 \\
        --option model=gpt-image-1 --out edits/

Each output is written at the input's bit depth as ``<out>/<stem>_<backend>_v<k>.png`` with a
JSON sidecar (``.json``) saying what produced it: the input file, the mask, the backend,
its options, seed, prompt, timings, cost and the cache key. Results go through a
:class:`~radinpaint.cache.ResultCache` (default ``<out>/cache``, as for ``run`` and
``bench``), so running the same
command again computes, and pays for, nothing new. A file that fails is reported and the
others still run; the exit code is then 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ._args import (
    UNREADABLE_FILE,
    at_least,
    expand_images,
    failure_text,
    output_folder,
    parse_options,
)

__all__ = ["parse_options", "register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``inpaint`` subcommand."""
    parser = subparsers.add_parser(
        "inpaint",
        help="inpaint image files with a registered backend",
        description="Inpaint radiographs; outputs keep the bit depth and get a JSON sidecar.",
    )
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files or folders")
    parser.add_argument("--backend", required=True, help="inpainter name (radinpaint plugins)")
    masks = parser.add_mutually_exclusive_group()
    masks.add_argument("--masks", metavar="DIR", help="folder of mask files named like the images")
    masks.add_argument(
        "--mask-provider",
        metavar="NAME",
        help="mask provider name (default: ground-truth: a <stem>_mask.png beside each image, "
        "or masks/<stem>.png below its folder, as radinpaint phantoms writes them)",
    )
    parser.add_argument(
        "--mask-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an option of the mask provider (repeatable; values parse as JSON when they can)",
    )
    parser.add_argument("--prompt", default=None, help="prompt for prompted backends")
    parser.add_argument("--variants", type=int, default=1, metavar="K", help="outputs per image")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="seed (default 0)")
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a backend option (repeatable; values parse as JSON when they can: radius=5)",
    )
    cache = parser.add_mutually_exclusive_group()
    cache.add_argument("--cache", metavar="DIR", help="result cache folder (default OUT/cache)")
    cache.add_argument("--no-cache", action="store_true", help="compute everything again")
    parser.add_argument("--out", required=True, metavar="DIR", type=output_folder,
                        help="output folder (created if missing)")  # fmt: skip
    parser.set_defaults(func=run)


def _unique_stems(files: list[Path]) -> list[str]:
    seen: dict[str, int] = {}
    stems = []
    for f in files:
        n = seen.get(f.stem, 0) + 1
        seen[f.stem] = n
        stems.append(f.stem if n == 1 else f"{f.stem}-{n}")
    return stems


def run(args: argparse.Namespace) -> int:
    """Inpaint every image; returns 1 if any failed, else 0."""
    from .. import __version__
    from ..cache import ResultCache
    from ..errors import InvalidInputError, RadinpaintError
    from ..evaluation.executor import LocalExecutor
    from ..inpaint_calls import InpaintCalls
    from ..io import read_image, write_image
    from ..records import Case, InpaintRequest
    from ..registry import build_backend, get_mask_provider

    at_least(args.variants, "--variants", 1)
    options = parse_options(args.option)
    built = build_backend("inpainter", args.backend, **options)
    mask_options = parse_options(args.mask_option, "--mask-option")
    if args.masks:
        provider = get_mask_provider("ground-truth", directory=args.masks, **mask_options)
    else:
        provider = get_mask_provider(args.mask_provider or "ground-truth", **mask_options)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cache = None if args.no_cache else ResultCache(args.cache or out / "cache")

    failures: list[tuple[str, str]] = []
    jobs: list[tuple[Path, str, Any, list[InpaintRequest]]] = []
    files = expand_images(args.images)
    if not files:
        raise InvalidInputError("no image files given", fix="pass image files or folders")
    for path, stem in zip(files, _unique_stems(files), strict=True):
        try:
            image = read_image(path)
            (mask,) = provider.masks([Case(id=stem, image=image)])
            requests = [
                InpaintRequest(image, mask, args.prompt, args.seed, k, stem)
                for k in range(args.variants)
            ]
        except (RadinpaintError, OSError) as exc:
            failures.append((str(path), failure_text(exc, UNREADABLE_FILE)))
            continue
        jobs.append((path, stem, mask, requests))

    # Call by call through the cache: each call's results are stored as it returns, only
    # failed requests are sent again, and one bad input does not sink the others.
    calls = InpaintCalls(built.backend, built.capabilities, cache, options)
    everything = [r for *_, reqs in jobs for r in reqs]
    outcomes = iter(calls.run(everything, LocalExecutor()))
    results: dict[str, list[Any]] = {}
    for path, stem, _, reqs in jobs:
        for outcome in [next(outcomes) for _ in reqs]:
            if outcome.result is not None:
                results.setdefault(stem, []).append(outcome.result)
            else:
                error = outcome.failure.error if outcome.failure else "no result"
                failures.append((f"{path} (variant {outcome.request.variant})", error))

    written = 0
    for path, stem, mask, _ in jobs:
        for result in results.get(stem, []):
            name = f"{stem}_{args.backend}_v{result.variant}"
            try:
                write_image(out / f"{name}.png", result.image)
                sidecar = {
                    "radinpaint": __version__,
                    "input": str(path),
                    "output": f"{name}.png",
                    "mask": {
                        "source": mask.source,
                        "fraction": mask.fraction,
                        "sha256": mask.content_hash(),
                    },
                    "cache_key": result.extra.get("cache_key"),
                    "result": result.to_record(),
                }
                (out / f"{name}.json").write_text(json.dumps(sidecar, indent=2) + "\n")
            except (RadinpaintError, OSError, TypeError, ValueError) as exc:
                failures.append((str(path), f"writing {name}: {exc}"))
                continue
            written += 1
            print(f"{path} -> {out / name}.png ({', '.join(result.flags) or 'ok'})")
    for failed, message in failures:
        print(f"radinpaint inpaint: failed: {failed}: {message}", file=sys.stderr)
    print(f"{written} output(s) written to {out}; {len(failures)} failure(s)")
    return 1 if failures else 0
