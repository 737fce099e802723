"""A local stand-in for the OpenAI images API, for tests and benchmarks.

It serves ``POST /v1/images/edits`` and ``GET /v1/models/{model}`` on 127.0.0.1 (random
port) from a thread. Each edit request is parsed as multipart form data and checked (fields,
image and mask sizes, mask alpha, PNG chunks, file names); the answer is real base64 PNGs:
the input image with a bright square inside the area the mask's alpha marks for editing
(or, with a fully opaque mask, the whole image brightened a little, as a redraw would),
plus a ``usage`` block, in ``latency`` seconds from the request's arrival (the answer is
made within that time). Failures can be injected: a queue of HTTP errors (429 with
``Retry-After``, 500, 404 model_not_found) and delays longer than the client's timeout.

The server keeps its own books of what it generated (``generated``: one entry per answered
call with its ``n``, the request's fingerprint and the usage), so tests count what was
really produced rather than what the client believes. Images are generated at the end of a
request's latency, and only for a client still connected: a request whose client timed out
or was killed while it waited is ``abandoned`` (nothing generated). ``hold_after`` holds
every request after that many generated calls until :meth:`FakeOpenAI.release` (so a test
can kill a client at a known point).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import select
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import attrs
import numpy as np
from PIL import Image

KNOWN_MODELS = {"gpt-image-1.5", "gpt-image-1-mini", "gpt-image-2", "gpt-image-2.5-sunburst"}
RETIRED_MODELS = {"gpt-image-1", "dall-e-2", "dall-e-3"}
OUTPUT_TOKENS = {"low": 272, "medium": 1056, "high": 4160, "auto": 4160}


def png_chunk_types(data: bytes) -> list[str]:
    """The chunk types of a PNG file, in order."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, out = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        out.append(data[pos + 4 : pos + 8].decode("ascii"))
        pos += 12 + length
    return out


@attrs.define
class EditRecord:
    """What the server received in one edit request."""

    fields: dict[str, str]
    filenames: dict[str, str | None]
    image: np.ndarray
    mask_alpha: np.ndarray | None
    image_chunks: list[str]
    mask_chunks: list[str]
    headers: dict[str, str]
    problems: list[str]
    body: bytes = b""
    arrived: float = 0.0  # time.monotonic() when the request arrived


@attrs.define
class FakeOpenAI:
    """The server's state: what it received and what it should do next.

    Attributes:
        latency: seconds every edit takes.
        failures: queue of ``(status, headers, body)`` answers served before normal ones.
        delays: queue of extra delays (seconds) for the next requests (to cause timeouts).
        edits: every edit request received (including failed ones).
        model_gets: models asked about through ``GET /v1/models/{model}``.
    """

    latency: float = 0.0
    failures: list[tuple[int, dict[str, str], dict[str, Any]]] = attrs.field(factory=list)
    delays: list[float] = attrs.field(factory=list)
    edits: list[EditRecord] = attrs.field(factory=list)
    model_gets: list[str] = attrs.field(factory=list)
    requests_total: int = 0
    generated: list[dict[str, Any]] = attrs.field(factory=list)
    abandoned: int = 0
    hold_after: int | None = None
    held: threading.Event = attrs.field(factory=threading.Event)
    gate: threading.Event = attrs.field(factory=threading.Event)
    lock: threading.Lock = attrs.field(factory=threading.Lock)

    @property
    def images_generated(self) -> int:
        """Images the server generated (answered calls' ``n``, summed)."""
        return sum(g["n"] for g in self.generated)

    def release(self) -> None:
        """Let held requests go on (each then checks that its client is still there)."""
        self.hold_after = None
        self.gate.set()

    in_flight: int = 0
    max_in_flight: int = 0
    base_url: str = ""

    def reset(self) -> None:
        """Wait for requests still being answered (abandoned by a client timeout), then
        forget everything received and every injected failure."""
        deadline = time.monotonic() + 10.0
        while self.in_flight and time.monotonic() < deadline:
            time.sleep(0.05)
        with self.lock:
            self.latency = 0.0
            self.failures.clear()
            self.delays.clear()
            self.edits.clear()
            self.model_gets.clear()
            self.requests_total = 0
            self.max_in_flight = 0
            self.generated.clear()
            self.abandoned = 0
            self.hold_after = None
            self.held.clear()
            self.gate.clear()

    @property
    def edit_count(self) -> int:
        """Edit requests received."""
        return len(self.edits)

    def fail_next(self, status: int, *, retry_after: float | None = None, code: str = "") -> None:
        """Answer the next request with ``status`` (optionally with ``Retry-After``)."""
        headers = {} if retry_after is None else {"retry-after": str(retry_after)}
        body = {
            "error": {
                "message": f"injected {status}",
                "type": "rate_limit_error" if status == 429 else "server_error",
                "code": code or None,
                "param": None,
            }
        }
        self.failures.append((status, headers, body))


def _parse_multipart(content_type: str, body: bytes) -> tuple[dict, dict, dict]:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    msg = BytesParser(policy=HTTP).parsebytes(head + body)
    fields: dict[str, str] = {}
    files: dict[str, bytes] = {}
    names: dict[str, str | None] = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        filename = part.get_filename()
        payload = part.get_payload(decode=True) or b""
        if filename is not None or name in ("image", "image[]", "mask"):
            key = "image" if name in ("image", "image[]") else name
            files[key] = payload
            names[key] = filename
        else:
            fields[name] = payload.decode("utf-8")
    return fields, files, names


def _edited(image: np.ndarray, alpha: np.ndarray | None, size: tuple[int, int]) -> np.ndarray:
    out = image.copy()
    edit = None if alpha is None else alpha == 0
    if edit is None or not edit.any():
        out = np.clip(out.astype(np.int16) + 12, 0, 255).astype(np.uint8)  # a "redraw"
        h, w = out.shape[:2]
        out[h // 3 : h // 3 + max(1, h // 8), w // 3 : w // 3 + max(1, w // 8)] = 250
    else:
        ys, xs = np.nonzero(edit)
        cy, cx = int(ys.mean()), int(xs.mean())
        out[edit] = 240
        out[max(0, cy - 2) : cy + 3, max(0, cx - 2) : cx + 3] = 255
    w, h = size
    if out.shape[1] != w or out.shape[0] != h:
        out = np.asarray(Image.fromarray(out).resize((w, h), Image.BILINEAR))
    return out


def _fingerprint(image: np.ndarray, fields: dict[str, str]) -> str:
    """What identifies one edit request: its pixels, prompt and model."""
    digest = hashlib.sha256(np.ascontiguousarray(image).tobytes())
    digest.update(f"{fields.get('prompt')}|{fields.get('model')}".encode())
    return digest.hexdigest()[:16]


def _error_body(status: int, message: str, code: str | None = None) -> tuple[int, dict, dict]:
    error = {"message": message, "type": "invalid_request_error", "code": code}
    error["param"] = "model" if code else None
    return status, {"error": error}, {}


def _make_handler(state: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def _send(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def _error(self, status: int, message: str, code: str | None = None) -> None:
            self._send(
                status,
                {
                    "error": {
                        "message": message,
                        "type": "invalid_request_error",
                        "code": code,
                        "param": "model" if code else None,
                    }
                },
            )

        def do_GET(self) -> None:
            if self.path.split("?")[0].endswith("/_stats"):  # for a client in another process
                with state.lock:
                    stats = {
                        "edit_n": [int(e.fields.get("n", "1")) for e in state.edits],
                        "images_generated": state.images_generated,
                        "max_in_flight": state.max_in_flight,
                    }
                    if self.path.endswith("?reset=1"):
                        state.max_in_flight = 0
                self._send(200, stats)
                return
            prefix = "/v1/models/"
            if not self.path.startswith(prefix):
                self._error(404, "no such route")
                return
            model = self.path[len(prefix) :]
            with state.lock:
                state.model_gets.append(model)
            if model in KNOWN_MODELS:
                self._send(200, {"id": model, "object": "model", "created": 0, "owned_by": "x"})
            else:
                self._error(404, f"The model '{model}' does not exist", "model_not_found")

        def do_POST(self) -> None:
            started = time.monotonic()
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            if self.path != "/v1/images/edits":
                self._error(404, "no such route")
                return
            with state.lock:
                state.requests_total += 1
                state.in_flight += 1
                state.max_in_flight = max(state.max_in_flight, state.in_flight)
                failure = state.failures.pop(0) if state.failures else None
                delay = state.delays.pop(0) if state.delays else 0.0
            try:
                answer = self._edit(body, failure, delay, started)
            finally:
                with state.lock:  # done before answering, so a client never sees it pending
                    state.in_flight -= 1
            self._send(*answer)

        def _client_gone(self) -> bool:
            """Whether the client closed the connection while its request waited."""
            try:
                readable, _, _ = select.select([self.connection], [], [], 0)
                return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
            except OSError:
                return True

        def _edit(
            self, body: bytes, failure: Any, delay: float, started: float
        ) -> tuple[int, dict, dict]:
            fields, files, names = _parse_multipart(self.headers["Content-Type"], body)
            problems: list[str] = []
            image_bytes = files.get("image", b"")
            img = Image.open(io.BytesIO(image_bytes))
            image = np.asarray(img.convert("RGB"))
            alpha = None
            mask_chunks: list[str] = []
            if "mask" in files:
                mask_img = Image.open(io.BytesIO(files["mask"]))
                if mask_img.mode != "RGBA":
                    problems.append(f"mask mode {mask_img.mode}, expected RGBA")
                alpha = np.asarray(mask_img.convert("RGBA"))[..., 3]
                if alpha.shape != image.shape[:2]:
                    problems.append(f"mask {alpha.shape} vs image {image.shape[:2]}")
                mask_chunks = png_chunk_types(files["mask"])
            record = EditRecord(
                fields=fields,
                filenames=names,
                image=image,
                mask_alpha=alpha,
                image_chunks=png_chunk_types(image_bytes),
                mask_chunks=mask_chunks,
                headers={k.lower(): v for k, v in self.headers.items()},
                problems=problems,
                body=body,
                arrived=started,
            )
            with state.lock:
                state.edits.append(record)
                hold = state.hold_after is not None and len(state.generated) >= state.hold_after

            def prepare() -> tuple[Any, ...]:
                model = fields.get("model", "")
                if model in RETIRED_MODELS:
                    return _error_body(
                        404,
                        f"The model '{model}' has been shut down. Use gpt-image-2.5-sunburst.",
                        "model_not_found",
                    )
                if model not in KNOWN_MODELS:
                    return _error_body(
                        404, f"The model '{model}' does not exist", "model_not_found"
                    )
                n = int(fields.get("n", "1"))
                size = fields.get("size", "auto")
                if problems or not 1 <= n <= 10:
                    return _error_body(400, "; ".join(problems) or f"bad n {n}")
                if size == "auto":
                    wh = (image.shape[1], image.shape[0])
                else:
                    wh = tuple(int(v) for v in size.split("x"))
                    if wh != (image.shape[1], image.shape[0]):
                        problems.append(
                            f"size {size} but image is {image.shape[1]}x{image.shape[0]}"
                        )
                data = []
                for k in range(n):
                    out = _edited(image, alpha, wh)  # type: ignore[arg-type]
                    out = np.clip(out.astype(np.int16) + k, 0, 255).astype(np.uint8)
                    buf = io.BytesIO()
                    Image.fromarray(out).save(buf, format="PNG", compress_level=1)
                    data.append({"b64_json": base64.b64encode(buf.getvalue()).decode()})
                quality = fields.get("quality", "auto")
                out_tokens = n * OUTPUT_TOKENS.get(quality, 4160)
                text_tokens = max(1, len(fields.get("prompt", "")) // 4)
                usage = {
                    "input_tokens": text_tokens + 323,
                    "input_tokens_details": {"text_tokens": text_tokens, "image_tokens": 323},
                    "output_tokens": out_tokens,
                    "total_tokens": text_tokens + 323 + out_tokens,
                }
                payload = {
                    "created": int(time.time()),
                    "data": data,
                    "usage": usage,
                    "size": size,
                    "quality": None if quality == "auto" else quality,
                    "output_format": "png",
                }
                return 200, payload, {"x-request-id": f"req_{len(state.edits)}"}, n, usage

            # the answer is made within the latency: a call takes ``latency`` seconds in all
            answer = None if failure is not None else prepare()
            time.sleep(max(0.0, started + state.latency + delay - time.monotonic()))
            if hold:
                state.held.set()
                state.gate.wait(timeout=60)
            if failure is None and self._client_gone():
                with state.lock:
                    state.abandoned += 1
                return _error_body(499, "client closed the request")
            if failure is not None:
                status, headers, err = failure
                return status, err, headers
            assert answer is not None
            if answer[0] != 200:
                return answer[:3]
            status, payload, headers, n, usage = answer
            with state.lock:
                state.generated.append(
                    {
                        "n": n,
                        "request": _fingerprint(image, fields),
                        "usage": usage,
                    }
                )
            return status, payload, headers

    return Handler


@contextmanager
def serve(state: FakeOpenAI | None = None) -> Iterator[FakeOpenAI]:
    """Run the fake API on 127.0.0.1 (random port) in a thread; ``state.base_url`` is set."""
    state = state or FakeOpenAI()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def main(argv: list[str] | None = None) -> None:
    """Serve in this process until standard input closes (for a client in another process).

    Prints the base URL on the first line of standard output. ``GET <base>/_stats`` answers
    what was received (``edit_n``: each edit's ``n``), generated, and the most requests in
    flight (``?reset=1`` starts that count afresh).
    """
    import argparse
    import sys

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds every edit takes")
    args = parser.parse_args(argv)
    with serve(FakeOpenAI(latency=args.latency)) as state:
        print(state.base_url, flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()
