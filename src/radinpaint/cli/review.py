"""``radinpaint review``: a local web page where radiologists rate a run's inpainted outputs.

Example::

    radinpaint bench --n 20 --backends identity,telea,blur --out runs/bench
    radinpaint review runs/bench --rater jd            # open http://127.0.0.1:8765/
    radinpaint review runs/bench --export ratings.csv  # every rating so far, as CSV

See ``docs/review.md``.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``review`` subcommand."""
    parser = subparsers.add_parser(
        "review",
        help="rate a run's inpainted outputs in a local web page (or export the ratings)",
        description="Serve a page where raters mark each output of a run acceptable or "
        "not, blinded to the backend; ratings go to RESULTS_DIR/review/ratings.sqlite.",
    )
    parser.add_argument("results_dir", type=Path, metavar="RESULTS_DIR",
                        help="a folder written by radinpaint run or bench --out")  # fmt: skip
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1, this machine)")  # fmt: skip
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    parser.add_argument("--rater", default=None,
                        help="rater id the page opens with (else it asks)")  # fmt: skip
    parser.add_argument("--data", default=None,
                        help="the dataset the run used, as radinpaint run --data takes it "
                        "(not needed for phantoms)")  # fmt: skip
    parser.add_argument("--cache", type=Path, default=None,
                        help="the run's cache folder, when it has moved")  # fmt: skip
    parser.add_argument("--db", type=Path, default=None,
                        help="ratings file (default DIR/review/ratings.sqlite)")  # fmt: skip
    parser.add_argument("--export", type=Path, default=None, metavar="CSV",
                        help="write every rating to CSV and exit (no page is served)")  # fmt: skip
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Serve the page until Ctrl-C, or export the ratings; returns 0."""
    from ..errors import InvalidInputError

    results = Path(args.results_dir).expanduser()
    if args.export is not None:
        from ..review.ratings import export_csv, read_ratings

        db = args.db if args.db is not None else results / "review" / "ratings.sqlite"
        if not results.is_dir():
            raise InvalidInputError(
                "no such results folder", input=results, fix="give the folder you reviewed"
            )
        out = export_csv(db, args.export)
        print(f"{len(read_ratings(out))} rating(s) written to {out}")
        return 0
    if not 0 < args.port < 65536:
        raise InvalidInputError(f"--port {args.port} is not a port", fix="use 1-65535")
    from ..review.app import RATER_PATTERN, create_app, serve
    from ..review.store import ReviewStore

    if args.rater is not None and not RATER_PATTERN.fullmatch(args.rater):
        raise InvalidInputError(
            f"bad --rater {args.rater!r}",
            fix="use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
        )
    store = ReviewStore.open(results, data=args.data, cache=args.cache, db=args.db)
    create_app(store, rater=args.rater)  # Flask present and the page builds, before serving
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: listening on {args.host}: anyone who can reach it can rate", flush=True)
    print(
        f"reviewing {len(store.items)} output(s) of {results}; ratings go to {store.db_path}\n"
        f"open http://{args.host}:{args.port}/ (Ctrl-C stops)",
        flush=True,
    )
    serve(store, host=args.host, port=args.port, rater=args.rater)
    return 0
