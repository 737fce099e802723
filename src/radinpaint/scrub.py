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
    r"|auth_header|^key$|(^|[_-])sig$|(^|[_-])signature$|private[_-]?key|access[_-]?key)",
    re.IGNORECASE,
)
"""Option names that are treated as secrets whatever the backend declares.

``key`` counts only as a whole name (``?key=...``): names such as ``cache_key`` are not
secrets. ``sig``/``signature`` are the signatures of pre-signed URLs."""

_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.\-]*://")
_USERINFO = re.compile(r"^(?P<scheme>[a-zA-Z][a-zA-Z0-9+.\-]*://)[^/]*@")


def is_secret_name(name: str, declared: Iterable[str] = ()) -> bool:
    """Whether an option called ``name`` must never be recorded."""
    return bool(SECRET_NAME.search(str(name))) or str(name) in set(declared)


def redact_url(url: str) -> str:
    """``url`` without ``user:password@`` and with secret-looking query values masked.

    A URL that does not parse (a bad port, a broken IPv6 host) is still cut: everything
    between ``://`` and the last ``@`` before the first ``/`` goes, and its query is masked.
    """
    try:
        parts = urlsplit(url)
        username, password = parts.username, parts.password
        port = parts.port
    except ValueError:
        return _redact_unparsed(url)
    host = parts.netloc
    if username is not None or password is not None:
        host = parts.hostname or ""
        if port:
            host = f"{host}:{port}"
    return urlunsplit((parts.scheme, host, parts.path, _mask_query(parts.query), parts.fragment))


def _mask_query(query: str) -> str:
    """``query`` with the values of secret-looking names replaced by ``REDACTED``."""
    if not query:
        return query
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(is_secret_name(k) for k, _ in pairs):
        return query
    return urlencode([(k, "REDACTED" if is_secret_name(k) else v) for k, v in pairs])


def _redact_unparsed(url: str) -> str:
    """:func:`redact_url` for a URL that :func:`urlsplit` cannot take apart."""
    url = _USERINFO.sub(lambda m: m.group("scheme"), url, count=1)
    rest, hash_sign, fragment = url.partition("#")
    base, question, query = rest.partition("?")
    if question:
        rest = f"{base}?{_mask_query(query)}"
    return rest + hash_sign + fragment


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
