"""The review page: a Flask application over a :class:`~.store.ReviewStore`.

Routes:

- ``GET /``: the rater's page when the server was started with ``--rater``, else a form
  asking for a rater id;
- ``GET /rate/<rater>``: the page (blinded: no backend, inpainter or case is shown);
- ``GET /api/<rater>/items``: the rater's items in their order (output hashes and their
  ratings) and where to resume;
- ``POST /api/<rater>/rating``: store one rating (JSON body, at most :data:`MAX_BODY`
  bytes, with the page's ``X-Review-Token`` header);
- ``GET /img/<output_hash>/<kind>.png``: ``output``, ``original`` or ``outline``.

Each rater's page carries a token (an HMAC of the rater id under a secret made when the
server starts); a rating posted without it, with another rater's or a forged one, is refused
(403), as is an unknown output (404), a bad field (400) or a body over :data:`MAX_BODY`
(413): the answer is JSON ``{"error": message}`` and nothing is written.

Serve it with :func:`serve` (waitress, bound to 127.0.0.1 by default).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInputError, MissingDependencyError
from .ratings import REASON_LABELS, REASONS

if TYPE_CHECKING:
    from flask import Flask

    from .store import ReviewStore

__all__ = [
    "LOOPBACK_HOSTS",
    "MAX_BODY",
    "MAX_COMMENT",
    "RATER_PATTERN",
    "create_app",
    "serve",
    "token_for",
]

MAX_BODY = 8192
"""Largest request body accepted, in bytes (a rating is a few hundred)."""

MAX_COMMENT = 2000
"""Longest comment accepted, in characters."""

RATER_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
"""Rater ids the page accepts: 1-64 letters, digits, ``.``, ``_`` or ``-``."""


def _flask() -> Any:
    try:
        import flask
    except ImportError as exc:
        raise MissingDependencyError(
            "the review page needs Flask and waitress",
            fix='pip install "radinpaint[review]"',
        ) from exc
    return flask


def token_for(secret: bytes, rater: str) -> str:
    """The token a rater's page sends with each rating: HMAC-SHA256 of the rater id."""
    return hmac.new(secret, f"rater:{rater}".encode(), hashlib.sha256).hexdigest()


LOOPBACK_HOSTS: tuple[str, ...] = ("127.0.0.1", "localhost", "::1", "[::1]")
"""Host names a server bound to this machine only answers to (a page of another site that
has its own name resolve to 127.0.0.1 is refused)."""


def create_app(
    store: ReviewStore,
    *,
    rater: str | None = None,
    secret: bytes | None = None,
    trusted_hosts: Sequence[str] | None = None,
) -> Flask:
    """The review application.

    Args:
        store: the opened results folder.
        rater: the rater ``/`` opens (else ``/`` asks for one).
        secret: the key of the page tokens (default: 32 random bytes; a restarted server
            makes a new one, and open pages ask to be reloaded).
        trusted_hosts: the only ``Host`` names answered (any other: HTTP 400); None
            answers any.

    Raises:
        MissingDependencyError: Flask is not installed.
        InvalidInputError: ``rater`` is not a valid rater id.
    """
    flask = _flask()
    from werkzeug.exceptions import HTTPException

    if rater is not None and not RATER_PATTERN.fullmatch(rater):
        raise InvalidInputError(
            f"bad rater id {rater!r}",
            fix="use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
        )
    key = secret if secret is not None else secrets.token_bytes(32)
    app = flask.Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    app.config["JSON_SORT_KEYS"] = False
    if trusted_hosts is not None:
        app.config["TRUSTED_HOSTS"] = list(trusted_hosts)

    def check_rater(name: str) -> str:
        if not RATER_PATTERN.fullmatch(name):
            flask.abort(400, f"bad rater id {name!r}: use 1-64 letters, digits, '.', '_' or '-'")
        return name

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        message = exc.description or exc.name
        if exc.code == 413:
            message = f"request body too large (at most {MAX_BODY} bytes)"
        if flask.request.path.startswith("/api/"):
            return flask.jsonify(error=message), exc.code
        return flask.Response(f"{exc.code} {exc.name}: {message}\n", exc.code,
                              mimetype="text/plain")  # fmt: skip

    @app.after_request
    def headers(response: Any) -> Any:
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; "
            "frame-ancestors 'none'"
        )
        if flask.request.path.startswith("/api/"):
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.get("/")
    def index() -> Any:
        asked = flask.request.args.get("rater")
        if asked is not None:
            return flask.redirect(flask.url_for("page", rater_id=check_rater(asked.strip())))
        if rater is not None:
            return flask.redirect(flask.url_for("page", rater_id=rater))
        return flask.render_template("start.html")

    @app.get("/rate/<rater_id>")
    def page(rater_id: str) -> Any:
        check_rater(rater_id)
        return flask.render_template(
            "review.html",
            rater=rater_id,
            token=token_for(key, rater_id),
            reasons=[(i + 1, r, REASON_LABELS[r]) for i, r in enumerate(REASONS)],
            total=len(store.items),
        )

    @app.get("/api/<rater_id>/items")
    def items(rater_id: str) -> Any:
        check_rater(rater_id)
        rated = store.ratings(rater_id)
        order = store.order(rater_id)
        listed = []
        for item in order:
            r = rated.get(item.output_hash)
            listed.append(
                {
                    "hash": item.output_hash,
                    "rating": None
                    if r is None
                    else {
                        "acceptable": r.acceptable,
                        "reasons": list(r.reasons),
                        "comment": r.comment,
                        "updated": r.updated.isoformat(),
                    },
                }
            )
        resume = next((i for i, e in enumerate(listed) if e["rating"] is None), 0)
        return flask.jsonify(items=listed, resume=resume, rated=len(rated), total=len(listed))

    @app.post("/api/<rater_id>/rating")
    def rate(rater_id: str) -> Any:
        check_rater(rater_id)
        sent = flask.request.headers.get("X-Review-Token", "")
        if not sent:
            flask.abort(403, "missing review token: reload the page")
        if not hmac.compare_digest(sent, token_for(key, rater_id)):
            flask.abort(403, "bad review token (the server restarted?): reload the page")
        body = flask.request.get_json(silent=True)
        if not isinstance(body, dict):
            flask.abort(400, "the body must be a JSON object")
        unknown = sorted(set(body) - {"output_hash", "acceptable", "reasons", "comment"})
        if unknown:
            flask.abort(400, f"unknown field(s): {', '.join(unknown)}")
        output_hash = body.get("output_hash")
        if not isinstance(output_hash, str) or output_hash not in store.by_hash:
            flask.abort(404, "no output of this review has that content hash")
        acceptable = body.get("acceptable")
        if not isinstance(acceptable, bool):
            flask.abort(400, "'acceptable' must be true or false")
        reasons = body.get("reasons", [])
        if not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons):
            flask.abort(400, "'reasons' must be a list of reason names")
        bad = [r for r in reasons if r not in REASONS]
        if bad:
            flask.abort(400, f"unknown reason(s) {', '.join(map(repr, bad))}; "
                        f"known: {', '.join(REASONS)}")  # fmt: skip
        comment = body.get("comment", "")
        if not isinstance(comment, str) or len(comment) > MAX_COMMENT:
            flask.abort(400, f"'comment' must be text of at most {MAX_COMMENT} characters")
        try:
            stored = store.save(rater_id, output_hash, acceptable=acceptable,
                                reasons=reasons, comment=comment)  # fmt: skip
        except InvalidInputError as exc:
            flask.abort(400, str(exc))
        done = len(store.ratings(rater_id))
        return flask.jsonify(
            saved={
                "hash": stored.output_hash,
                "acceptable": stored.acceptable,
                "reasons": list(stored.reasons),
                "comment": stored.comment,
                "updated": stored.updated.isoformat(),
            },
            rated=done,
            total=len(store.items),
        )

    @app.get("/img/<output_hash>/<kind>.png")
    def image(output_hash: str, kind: str) -> Any:
        if output_hash not in store.by_hash:
            flask.abort(404, "no output of this review has that content hash")
        if kind not in ("output", "original", "outline"):
            flask.abort(404, f"unknown image {kind!r}: output, original or outline")
        try:
            png = store.png(output_hash, kind)
        except InvalidInputError as exc:
            flask.abort(409, str(exc))
        response = flask.Response(png, mimetype="image/png")
        response.headers["Cache-Control"] = "private, max-age=3600"
        return response

    return app


def serve(
    store: ReviewStore,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    rater: str | None = None,
    threads: int = 8,
) -> None:
    """Serve the review page with waitress until interrupted (Ctrl-C). Bound to this
    machine (the default), it answers only requests addressed to :data:`LOOPBACK_HOSTS`.

    Raises:
        MissingDependencyError: Flask or waitress is not installed.
    """
    local = host in LOOPBACK_HOSTS
    app = create_app(store, rater=rater, trusted_hosts=LOOPBACK_HOSTS if local else None)
    try:
        import waitress
    except ImportError as exc:
        raise MissingDependencyError(
            "the review page is served by waitress", fix='pip install "radinpaint[review]"'
        ) from exc
    waitress.serve(app, host=host, port=port, threads=threads, ident="radinpaint-review")
