"""Secrets never enter a record: one scrubbing rule for options everywhere.

:func:`scrub_options` is applied by the records themselves (an
:class:`~radinpaint.records.InpaintResult`'s options are scrubbed when it is built), by the
result cache's keys, and by every manifest entry, so no code path can record an API key.

What is removed or masked:

- an option whose name looks like a secret (``api_key``, ``token``, ``password``, ...) or
  that a backend declares secret (``Capabilities.secret_options``) is dropped;
- credentials inside a URL (``https://user:pass@host/``) are cut from the URL, and query
  parameters whose names look like secrets (``?api_key=...``) are masked;
- nested mappings and lists are scrubbed the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["SECRET_NAME", "is_secret_name", "redact_url", "scrub_options"]

SECRET_NAME = re.compile(
    r"(api[_-]?key|apikey|secret|(^|[_-])token$|password|passwd|credential|authorization"
    r"|auth_header)",
    re.IGNORECASE,
)
"""Option names that are treated as secrets whatever the backend declares."""

_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.\-]*://")


def is_secret_name(name: str, declared: Iterable[str] = ()) -> bool:
    """Whether an option called ``name`` must never be recorded."""
    return bool(SECRET_NAME.search(str(name))) or str(name) in set(declared)


def redact_url(url: str) -> str:
    """``url`` without ``user:password@`` and with secret-looking query values masked."""
    try:
        parts = urlsplit(url)
        username, password = parts.username, parts.password
        port = parts.port
    except ValueError:
        return url
    host = parts.netloc
    if username is not None or password is not None:
        host = parts.hostname or ""
        if port:
            host = f"{host}:{port}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(is_secret_name(k) for k, _ in pairs):
            query = urlencode([(k, "REDACTED" if is_secret_name(k) else v) for k, v in pairs])
    return urlunsplit((parts.scheme, host, parts.path, query, parts.fragment))


def _scrub_value(value: Any, declared: frozenset[str]) -> Any:
    if isinstance(value, str):
        return redact_url(value) if _URL.match(value) else value
    if isinstance(value, Mapping):
        return scrub_options(value, declared)
    if isinstance(value, (list, tuple)):
        return type(value)(_scrub_value(v, declared) for v in value)
    return value


def scrub_options(options: Mapping[str, Any], secret_names: Iterable[str] = ()) -> dict[str, Any]:
    """``options`` with secrets dropped and URL credentials cut (see the module docs)."""
    declared = frozenset(str(n) for n in secret_names)
    return {
        str(k): _scrub_value(v, declared)
        for k, v in options.items()
        if not is_secret_name(str(k), declared)
    }
