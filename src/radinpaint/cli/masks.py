"""``radinpaint masks``: find artifact masks in image files with any mask provider.

::

    radinpaint masks scans/*.png --provider markers --out masks/
    radinpaint masks scans/ --provider markers --option dilate=4 --out masks/
    radinpaint masks a.dcm --provider union --option providers='["markers","ocr"]' --out m/
    radinpaint masks a.png --provider union --option providers=markers+ocr --out m/

For each image ``<stem>`` it writes ``<out>/<stem>_mask.png`` (8-bit, 0 and 255, the image's
own size; the name the ``ground-truth`` provider and ``radinpaint inpaint --masks`` look for)
and ``<out>/<stem>_mask.json`` with the components found (box, kind, score) for review.
A file that fails is reported and the others still run; the exit code is then 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ._args import (
    UNREADABLE_FILE,
    expand_images,
    failure_text,
    output_folder,
    parse_options,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``masks`` subcommand."""
    parser = subparsers.add_parser(
        "masks",
        help="find artifact masks (markers, text) in image files",
        description="Write one 0/255 PNG mask and one JSON list of components per image.",
    )
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files or folders")
    parser.add_argument(
        "--provider", default="markers", help="mask provider name (default: markers)"
    )
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a provider option (repeatable; values parse as JSON when they can: dilate=4)",
    )
    parser.add_argument("--out", required=True, metavar="DIR", type=output_folder,
                        help="output folder (created if missing)")  # fmt: skip
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Find and write the masks; returns 1 when any file failed."""
    from ..errors import RadinpaintError
    from ..io import read_image, write_mask
    from ..registry import get_mask_provider

    options = parse_options(args.option)
    provider = get_mask_provider(args.provider, **options)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    failed = empty = 0
    files = expand_images(args.images)
    for path in files:
        try:
            image = read_image(path)
            (mask,) = provider.masks([image])
            write_mask(out / f"{path.stem}_mask.png", mask)
            record = {
                "image": str(path),
                "shape": list(mask.shape),
                "provider": args.provider,
                "options": options,
                "fraction": mask.fraction,
                "components": [c.to_dict() for c in mask.components],
            }
            (out / f"{path.stem}_mask.json").write_text(json.dumps(record, indent=2) + "\n")
            empty += mask.is_empty
            kinds = ", ".join(c.kind for c in mask.components) or "nothing"
            print(f"{path}: {len(mask.components)} found ({kinds}), {100 * mask.fraction:.2f}%")
        except (RadinpaintError, OSError) as exc:
            failed += 1
            print(
                f"{path}: failed: {failure_text(exc, UNREADABLE_FILE)}",
                file=sys.stderr,
            )
    found = len(files) - failed - empty
    print(
        f"{len(files)} image(s): {found} with something masked, {empty} with nothing found, "
        f"{failed} failed; masks written to {out}"
    )
    return 1 if failed else 0
