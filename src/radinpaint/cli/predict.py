"""``radinpaint predict``: bone age, P(male) and member spread for image files."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..errors import InvalidInputError
from ..records import parse_sex
from ._args import parse_options


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``predict`` subcommand."""
    parser = subparsers.add_parser(
        "predict",
        help="predict bone age and sex for radiographs",
        description="Predict bone age (months) and P(male) for each image with a predictor.",
    )
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files (PNG, DICOM...)")
    parser.add_argument(
        "--predictor", default="phantom-ensemble", help="predictor name (radinpaint plugins)"
    )
    parser.add_argument(
        "--option",
        "-o",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="predictor option, e.g. weights_dir=/models or device=cpu (repeatable)",
    )
    parser.add_argument(
        "--male",
        default=None,
        metavar="true|false[,...]",
        help="sex of the images: one value for all, or one per image, comma-separated",
    )
    parser.add_argument("--json", action="store_true", help="print JSON lines")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Predict and print one line (or JSON object) per image."""
    from ..io import read_image
    from ..registry import get_predictor

    male = None
    if args.male is not None:
        parsed = [parse_sex(v, where="--male") for v in args.male.split(",")]
        values = [v for v in parsed if v is not None]
        if len(values) != len(parsed):
            raise InvalidInputError(
                f"--male value {args.male!r} is not understood", fix="use true or false"
            )
        if len(values) == 1:
            values = values * len(args.images)
        if len(values) != len(args.images):
            raise InvalidInputError(
                f"--male has {len(values)} values for {len(args.images)} images",
                fix="give one value for all images or one per image",
            )
        male = values
    predictor = get_predictor(args.predictor, **parse_options(args.option))
    images = [read_image(path) for path in args.images]
    pred = predictor.predict(images, male=male)
    spread = pred.member_spread()
    for i, path in enumerate(args.images):
        row: dict[str, Any] = {"image": path, "predictor": pred.predictor}
        if pred.bone_age_months is not None:
            row["bone_age_months"] = round(float(pred.bone_age_months[i]), 3)
            row["bone_age_member_sd"] = round(float(spread["bone_age_months"][i]), 3)
        if pred.p_male is not None:
            row["p_male"] = round(float(pred.p_male[i]), 4)
            row["p_male_member_sd"] = round(float(spread["p_male"][i]), 4)
        if male is not None:
            row["male_given"] = male[i]
        if args.json:
            print(json.dumps(row))
        else:
            parts = [path]
            if "bone_age_months" in row:
                parts.append(
                    f"bone age {row['bone_age_months']:.1f} months "
                    f"(member SD {row['bone_age_member_sd']:.1f})"
                )
            if "p_male" in row:
                parts.append(
                    f"P(male) {row['p_male']:.3f} (member SD {row['p_male_member_sd']:.3f})"
                )
            print("  ".join(parts))
    return 0
