"""A small results folder to review: three phantoms, three classical backends, two variants."""

from __future__ import annotations

from pathlib import Path

import pytest

from radinpaint.cli import main


@pytest.fixture(scope="session")
def results_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder written by ``radinpaint run`` on phantoms (identity, telea, blur)."""
    out = tmp_path_factory.mktemp("review-run") / "run"
    code = main(
        [
            "run",
            "--data",
            "phantom:3:128",
            "--inpainters",
            "identity,telea,blur",
            "--predictors",
            "phantom-ensemble",
            "--variants",
            "2",
            "--n-resamples",
            "20",
            "--no-progress",
            "--format",
            "csv,json",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    return out


@pytest.fixture
def live_server():
    """Start the review page for a store on 127.0.0.1 (waitress, a free port) in a thread;
    yields a function ``start(store, secret=None) -> base URL``; stops them all after."""
    pytest.importorskip("flask", reason="the review page needs flask (the test extra has it)")
    waitress = pytest.importorskip("waitress", reason="the review page is served by waitress")
    import threading

    from radinpaint.review.app import create_app

    servers = []

    def start(store, secret: bytes | None = None) -> str:
        app = create_app(store, secret=secret)
        server = waitress.create_server(app, host="127.0.0.1", port=0, threads=8)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        servers.append((server, thread))
        return f"http://127.0.0.1:{server.effective_port}"

    yield start
    for server, thread in servers:
        server.close()
        thread.join(timeout=10)
