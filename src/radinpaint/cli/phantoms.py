"""``radinpaint phantoms``: write synthetic hand radiographs, their masks and labels to disk.

Layout written under ``--out``::

    <id>.png          the radiograph with burned-in artifacts (8- or 16-bit PNG)
    clean/<id>.png    the same radiograph without artifacts
    masks/<id>.png    the artifact mask (0/255, 8-bit)
    labels.csv        id,boneage,male  (the RSNA training layout; male as True/False)

``--phantom-version 2`` (the default) draws RSNA-like shapes: ``--size`` pixels high, mostly
portrait, each phantom with its own width; ``--phantom-version 1`` draws the square
``size x size`` phantoms of generator version 1.
"""

from __future__ import annotations

import argparse

from ._args import output_folder


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``phantoms`` subcommand."""
    parser = subparsers.add_parser(
        "phantoms",
        help="write synthetic hand radiographs with known labels and artifact masks",
        description="Write N synthetic hand radiographs, their artifact-free versions, "
        "their artifact masks and a labels.csv in the RSNA training layout.",
    )
    parser.add_argument("--n", type=int, required=True, help="number of phantoms (>= 1)")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    parser.add_argument(
        "--size",
        type=int,
        default=512,
        help="image height in pixels (>= 64); the width too with --phantom-version 1",
    )
    parser.add_argument(
        "--bit-depth", type=int, default=16, help="PNG bit depth: 8 or 16 (default 16)"
    )
    parser.add_argument(
        "--no-artifacts", action="store_true", help="draw the phantoms without artifacts"
    )
    parser.add_argument(
        "--phantom-version",
        default=None,
        help="phantom generator version: 2 (default; RSNA-like, mostly portrait shapes) or 1 "
        "(square size x size phantoms, as generator version 1 drew them)",
    )
    parser.add_argument("--out", required=True, type=output_folder,
                        help="output folder (created if missing)")  # fmt: skip
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the phantoms; returns 0."""
    import csv
    from pathlib import Path

    from ..datasets.phantom import MIN_SIZE, PHANTOM_VERSION, PhantomDataset
    from ..errors import InvalidInputError
    from ..io import write_image, write_mask
    from ._args import at_least

    at_least(args.n, "--n", 1)
    at_least(args.size, "--size", MIN_SIZE)
    if args.bit_depth not in (8, 16):
        raise InvalidInputError(
            f"--bit-depth must be 8 or 16, got {args.bit_depth}",
            available=["8", "16"],
            fix="pass --bit-depth 8 or --bit-depth 16",
        )
    dataset = PhantomDataset(
        args.n,
        seed=args.seed,
        size=args.size,
        artifacts=not args.no_artifacts,
        bit_depth=args.bit_depth,
        version=PHANTOM_VERSION if args.phantom_version is None else args.phantom_version,
    )
    out = Path(args.out)
    for sub in (out, out / "masks", out / "clean"):
        sub.mkdir(parents=True, exist_ok=True)
    rows = []
    widths = set()
    for case in dataset:
        # a phantom always carries its clean image and its artifact mask
        assert case.clean_image is not None and case.artifact_mask is not None
        write_image(out / f"{case.id}.png", case.image)
        write_image(out / "clean" / f"{case.id}.png", case.clean_image)
        write_mask(out / "masks" / f"{case.id}.png", case.artifact_mask)
        widths.add(case.image.shape[1])
        rows.append((case.id, f"{case.bone_age_months:.2f}", "True" if case.male else "False"))
    tmp = out / "labels.csv.tmp"
    with tmp.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "boneage", "male"])
        w.writerows(rows)
    tmp.replace(out / "labels.csv")
    shape = (
        f"{args.size}x{min(widths)}"
        if len(widths) == 1
        else f"{args.size} high, {min(widths)} to {max(widths)} wide"
    )
    print(
        f"wrote {len(rows)} phantoms (generator version {dataset.version}, {shape}, "
        f"{args.bit_depth}-bit) to {out}"
    )
    return 0
