"""``radinpaint predict``: bone age, P(male) and member spread for image files."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from ..errors import InvalidInputError
from ..records import parse_sex
from ._args import UNREADABLE_FILE, failure_text, parse_options


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``predict`` subcommand."""
    parser = subparsers.add_parser(
        "predict",
        help="predict bone age and sex for radiographs",
        description="Predict bone age (months) and P(male) for each image with a predictor.",
    )
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files (PNG, DICOM...)")
    parser.add_argument(
        "--predictor",
        default="phantom-ensemble",
        help="predictor name or spec, e.g. onnx:path=m.onnx,targets=bone_age,"
        "preprocessing=study-320 (default phantom-ensemble: phantoms only)",
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
    """Predict and print one line (or JSON object) per image; 1 if any image failed.

    An image that cannot be read, or that the predictor cannot read, is reported on stderr
    (``radinpaint predict: failed: IMAGE: why``) and the others are still predicted; the
    exit code is then 1. An error that stops the predictor itself (no weights, a missing
    package), or that every image meets alike (no sex for a model that needs it), stops the
    command (exit code 2).
    """
    from ..errors import RadinpaintError
    from ..io import read_image
    from ..registry import build_backend

    male = _male_values(args.male, len(args.images))
    from ..evaluation import BackendSpec
    from ..predictors.provenance import print_training_warning

    spec = BackendSpec.parse(args.predictor)  # a name, or NAME:KEY=VALUE,... as in run/bench
    built = build_backend("predictor", spec.name, **{**spec.options, **parse_options(args.option)})
    predictor = built.backend
    failures: dict[int, str] = {}
    readable: list[tuple[int, Any]] = []
    for i, path in enumerate(args.images):
        try:
            readable.append((i, read_image(path)))
        except (RadinpaintError, OSError) as exc:
            failures[i] = failure_text(exc, UNREADABLE_FILE)
    found = _predict(predictor, readable, male, failures)
    for i, path in enumerate(args.images):
        if i in found:
            _print_row(path, *found[i], male[i] if male is not None else None, args.json)
    if found:  # after the predictions, so that an error stays the one line it is
        trained_on = built.capabilities.trained_on
        print_training_warning("radinpaint predict", args.predictor, trained_on, None, stderr=True)
    for i, why in sorted(failures.items()):
        print(f"radinpaint predict: failed: {args.images[i]}: {why}", file=sys.stderr)
    if failures:
        print(
            f"radinpaint predict: {len(found)} of {len(args.images)} image(s) predicted; "
            f"{len(failures)} failure(s)",
            file=sys.stderr,
        )
    return 1 if failures else 0


_UNREADABLE = "check the image (or leave it out); the predictor read the others"


def _male_values(text: str | None, n: int) -> list[bool] | None:
    """``--male``: one value for all images or one per image, or None."""
    if text is None:
        return None
    parsed = [parse_sex(v, where="--male") for v in text.split(",")]
    values = [v for v in parsed if v is not None]
    if len(values) != len(parsed):
        raise InvalidInputError(
            f"--male value {text!r} is not understood", input="--male", fix="use true or false"
        )
    if len(values) == 1:
        values = values * n
    if len(values) != n:
        raise InvalidInputError(
            f"--male has {len(values)} values for {n} images",
            input="--male",
            fix="give one value for all images or one per image",
        )
    return values


def _predict(
    predictor: Any,
    readable: list[tuple[int, Any]],
    male: list[bool] | None,
    failures: dict[int, str],
) -> dict[int, tuple[Any, int]]:
    """Predict the readable images: index -> (their Predictions, position in them).

    One call for all; when it fails, each image alone, so that one image the predictor
    cannot read does not sink the others. Failures land in ``failures`` (index -> why).
    """
    from ..errors import BackendError, is_fatal
    from ..records import Predictions

    def call(items: list[tuple[int, Any]]) -> Any:
        sexes = None if male is None else [male[i] for i, _ in items]
        pred = predictor.predict([image for _, image in items], male=sexes)
        if not isinstance(pred, Predictions) or len(pred) != len(items):
            raise BackendError(
                f"predictor {getattr(predictor, 'name', predictor)!r} returned "
                f"{type(pred).__name__} of the wrong size for {len(items)} image(s)",
                input="--predictor",
                fix="a predictor's predict() returns one Predictions entry per image",
            )
        return pred

    if not readable:
        return {}
    try:
        batches = [(readable, call(readable))]
    except Exception as exc:
        if is_fatal(exc):
            raise
        batches, errors = [], []
        for item in readable if len(readable) > 1 else []:
            try:
                batches.append(([item], call([item])))
            except Exception as one:
                if is_fatal(one):
                    raise
                errors.append((item[0], one))
        if len(readable) == 1:
            errors = [(readable[0][0], exc)]
        _unless_the_predictor_failed(predictor, errors, len(readable), exc)
        for i, err in errors:
            failures[i] = failure_text(err, _UNREADABLE)
    found: dict[int, tuple[Any, int]] = {}
    for items, pred in batches:
        for k, (i, _) in enumerate(items):
            why = pred.failures.get(k)
            if why is None:
                found[i] = (pred, k)
            else:
                failures[i] = failure_text(why, _UNREADABLE)
    return found


def _unless_the_predictor_failed(
    predictor: Any, errors: Sequence[tuple[int, BaseException]], n: int, first: BaseException
) -> None:
    """Raise when every image failed alike: the predictor or its options are wrong (no sex
    given to a model that needs it, a device that does not exist...), not the images.

    ``first`` (the error of the call with every image) is raised as it is when it is a
    RadinpaintError, otherwise wrapped in one that names the options.
    """
    from ..errors import BackendError, RadinpaintError, error_text

    texts = {error_text(e) for _, e in errors}
    if len(errors) < n or len(texts) != 1:
        return
    if isinstance(first, RadinpaintError):
        raise first
    name = getattr(predictor, "name", type(predictor).__name__)
    raise BackendError(
        f"predictor {name!r} failed on every image: {texts.pop()}",
        input="--predictor / --option",
        fix="check the predictor's options (radinpaint plugins lists the predictors)",
    ) from first


def _print_row(path: str, pred: Any, k: int, male: bool | None, as_json: bool) -> None:
    """One image's prediction, as text or as a JSON line."""
    spread = pred.member_spread()
    row: dict[str, Any] = {"image": path, "predictor": pred.predictor}
    if pred.bone_age_months is not None:
        row["bone_age_months"] = round(float(pred.bone_age_months[k]), 3)
        row["bone_age_member_sd"] = round(float(spread["bone_age_months"][k]), 3)
    if pred.p_male is not None:
        row["p_male"] = round(float(pred.p_male[k]), 4)
        row["p_male_member_sd"] = round(float(spread["p_male"][k]), 4)
    if male is not None:
        row["male_given"] = male
    if as_json:
        print(json.dumps(row))
        return
    parts = [path]
    if "bone_age_months" in row:
        parts.append(
            f"bone age {row['bone_age_months']:.1f} months "
            f"(member SD {row['bone_age_member_sd']:.1f})"
        )
    if "p_male" in row:
        parts.append(f"P(male) {row['p_male']:.3f} (member SD {row['p_male_member_sd']:.3f})")
    print("  ".join(parts))
