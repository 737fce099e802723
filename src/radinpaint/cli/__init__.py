"""The ``radinpaint`` command.

Each subcommand is a module in this package with a ``register(subparsers)`` function that
adds its parser and sets ``func`` (called with the parsed arguments, returning an exit code).
Modules are discovered, so adding a command touches no shared file. Command modules import
heavy libraries inside ``func`` only, so ``radinpaint --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from ..errors import RadinpaintError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every discovered subcommand."""
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="radinpaint",
        description="Measure whether inpainting radiographs changes what AI models read.",
    )
    parser.add_argument("--version", action="version", version=f"radinpaint {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (2 for a RadinpaintError)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        return int(args.func(args) or 0)
    except RadinpaintError as exc:
        print(f"radinpaint {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"radinpaint {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
