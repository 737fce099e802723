"""``radinpaint plugins``: every registered backend, its kind and the plugin it came from."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``plugins`` subcommand."""
    parser = subparsers.add_parser("plugins", help="list registered backends")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """List backends of every kind."""
    from ..plugins import plugin_errors
    from ..registry import KINDS, list_backends

    rows = [
        {"kind": e.kind, "name": e.name, "plugin": e.plugin, "summary": e.summary}
        for kind in KINDS
        for e in list_backends(kind)
    ]
    failures = [{"plugin": f.plugin, "error": f.error} for f in plugin_errors()]
    if args.json:
        print(json.dumps({"backends": rows, "failed_plugins": failures}, indent=2))
        return 0
    widths = [max(len(str(r[k])) for r in [*rows, dict.fromkeys(rows[0], "")]) for k in rows[0]]
    header = ["KIND", "NAME", "PLUGIN", "SUMMARY"]
    widths = [max(w, len(h)) for w, h in zip(widths, header, strict=True)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
    for r in rows:
        print("  ".join(str(v).ljust(w) for v, w in zip(r.values(), widths, strict=True)).rstrip())
    for f in failures:
        print(f"failed to load plugin {f['plugin']}: {f['error']}")
    return 0
