"""A fork server for ``radinpaint run``: imports the heavy libraries once, then forks one
child per job, each running ``radinpaint.cli.main(argv)`` in its own session (so a test can
SIGKILL its whole process group), exactly as ``python -m radinpaint run ...`` would.

Run as ``python tests/faults/_zygote.py``. Protocol (JSON lines): it prints
``{"ready": true}`` once the imports are done; each line read from standard input is a job
``{"argv": [...], "log": PATH, "env": {...}}``, answered with ``{"pid": PID}`` when the
child is forked and ``{"pid": PID, "rc": CODE}`` when it ends (``-9``: killed by SIGKILL).
Jobs run one at a time. The server stops when its standard input closes.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys
import time
import traceback

PRELOAD = (
    "numpy",
    "pandas",
    "scipy.stats",
    "scipy.ndimage",
    "cv2",
    "skimage",
    "torch",
    "safetensors.torch",
    "PIL.Image",
    "openai",
    "httpx",
    "radinpaint.cli",
    "radinpaint.cli.run",
    "radinpaint.evaluation",
    "radinpaint.evaluation.runner",
    "radinpaint.cache",
    "radinpaint.inpaint_calls",
    "radinpaint.inpainters.classical",
    "radinpaint.inpainters.gan.inference",
    "radinpaint.inpainters.gan.model",
    "radinpaint.inpainters.openai.backend",
    "radinpaint.inpainters.openai.client",
    "radinpaint.predictors",
    "radinpaint.metrics",
    "radinpaint.report",
)


def _child(job: dict) -> int:
    os.setsid()
    fd = os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    os.environ.update(job.get("env") or {})
    from radinpaint.cli import main

    started = time.monotonic()
    rc = main(job["argv"])
    print(f"\nchild wall {time.monotonic() - started:.2f} s", flush=True)
    return rc


def main() -> None:
    for name in PRELOAD:
        # a missing optional library: the child imports what it needs
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    from radinpaint.cli import build_parser

    build_parser()  # every command module, imported once: children see one version of them
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        job = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            code = 3
            try:
                code = _child(job)
            except BaseException:
                traceback.print_exc()
            finally:
                try:
                    sys.stdout.flush()
                    sys.stderr.flush()
                finally:
                    os._exit(code)
        print(json.dumps({"pid": pid}), flush=True)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"pid": pid, "rc": os.waitstatus_to_exitcode(status)}), flush=True)


if __name__ == "__main__":
    main()
