"""The fake OpenAI images API (``tests/inpainters/fake_openai_server.py``) in its own process,
with per-call books that outlive any client.

Run as ``python tests/faults/_fake_api.py``: prints the base URL on its first line and
serves until its standard input closes. Besides the fake server's routes:

- ``GET <base>/_books``: every call the server generated, in order (``request``: the fake
  server's fingerprint of the call's image, prompt and model; ``n``: images generated;
  ``sent``: whether the answer has been written back yet), plus ``in_flight`` (requests
  being answered) and ``delivering`` (generated answers not yet written back);
- ``GET <base>/_config?latency=S&deliver_delay=S``: seconds every edit takes before its
  images are generated, and seconds a generated answer then waits before it is written back
  (a window in which the images are paid but not delivered, as over a slow network).
"""

from __future__ import annotations

import sys
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "inpainters"))

from fake_openai_server import FakeOpenAI, _make_handler


class _Books(list):
    """The server's ``generated`` list, each entry stamped with the thread answering it."""

    def append(self, item: Any) -> None:
        item["thread"] = threading.get_ident()
        item["sent"] = False
        super().append(item)


def _handler(state: FakeOpenAI, config: dict[str, float]) -> type:
    base = _make_handler(state)

    class Handler(base):  # type: ignore[misc, valid-type]
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path.endswith("/_books"):
                with state.lock:
                    books = {
                        "generated": [
                            {"request": g["request"], "n": g["n"], "sent": g["sent"]}
                            for g in state.generated
                        ],
                        "in_flight": state.in_flight,
                        "delivering": int(config["delivering"]),
                        "abandoned": state.abandoned,
                    }
                self._send(200, books)
                return
            if parts.path.endswith("/_config"):
                query = parse_qs(parts.query)
                with state.lock:
                    if "latency" in query:
                        state.latency = float(query["latency"][0])
                    if "deliver_delay" in query:
                        config["deliver_delay"] = float(query["deliver_delay"][0])
                self._send(200, {"latency": state.latency, **config})
                return
            super().do_GET()

        def _send(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
            entry = None
            if self.command == "POST" and status == 200:
                me = threading.get_ident()
                with state.lock:
                    for g in reversed(state.generated):
                        if g["thread"] == me and not g["sent"]:
                            entry = g
                            config["delivering"] += 1
                            break
            try:
                if entry is not None and config["deliver_delay"] > 0:
                    time.sleep(config["deliver_delay"])
                super()._send(status, body, headers)
            finally:
                if entry is not None:
                    with state.lock:
                        entry["sent"] = True
                        config["delivering"] -= 1

    return Handler


def main() -> None:
    state = FakeOpenAI(generated=_Books())
    config = {"deliver_delay": 0.0, "delivering": 0}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state, config))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    print(f"http://127.0.0.1:{server.server_address[1]}/v1", flush=True)
    try:
        sys.stdin.read()
    finally:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    main()
