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
from typing import NoReturn

from ..errors import RadinpaintError

__all__ = ["UsageError", "build_parser", "main"]


class UsageError(RadinpaintError):
    """The command line itself is wrong: an unknown flag or command, a bad value."""

    def __init__(self, prog: str, message: str) -> None:
        self.prog = prog
        message, _, fix = message.partition(" Fix: ")  # an argument type that names its fix
        super().__init__(message, fix=fix.rstrip(".") or f"see '{prog} --help' for the usage")


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Help with every option's default, and descriptions as written, in plain text."""

    def _format_text(self, text: str) -> str:
        return super()._format_text(text.replace("``", ""))

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if "default" in text.lower() or text.rstrip().endswith(")"):
            return text  # the help already says it (e.g. "cases (default 200)")
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors come back to :func:`main` (one line, no usage dump),
    and whose help states every option's default, in plain text (no reStructuredText)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def error(self, message: str) -> NoReturn:
        raise UsageError(self.prog, message)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every discovered subcommand (their parsers are the same
    class, so a bad argument of any command is reported by :func:`main` in one line)."""
    from .. import __version__

    parser = _Parser(
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
    """Run the command line; returns the exit code.

    2 for a bad command line or a :class:`~radinpaint.errors.RadinpaintError` (one line on
    stderr: what is wrong, with which input, and the fix), 130 when interrupted; a command
    that isolates bad items returns 1 when any failed.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        print(f"{exc.prog}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    name = f"radinpaint {args.command}"
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()
        return code
    except BrokenPipeError:  # the reader went away (radinpaint plugins | head -1): not an error
        _silence_stdout()
        return 0
    except RadinpaintError as exc:
        print(f"{name}: error: {_one_line(exc, name)}", file=sys.stderr)
        return 2
    except OSError as exc:  # a folder that cannot be written, a disk that is full
        where = f" Input: {exc.filename}." if exc.filename else ""
        print(
            f"{name}: error: {exc.strerror or exc}.{where} Fix: check the path, its "
            "permissions and the free space",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return 130


def _silence_stdout() -> None:
    """Point stdout at the null device, so the interpreter's final flush to a closed pipe
    raises nothing."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _one_line(exc: RadinpaintError, command: str = "radinpaint") -> str:
    """The error's message on one line, with a pointer to the help when it names no fix."""
    text = " ".join(str(exc).split())
    if exc.fix:
        return text
    return f"{text.rstrip('.')}. Fix: see '{command} --help' and docs/ for the accepted values."


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
