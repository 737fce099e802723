"""How long `import radinpaint` takes, and proof that it imports no heavy library.

Run: python benchmarks/bench_import.py

Each measurement is a fresh interpreter (median of several), so nothing is cached in-process.
The baseline is a bare interpreter start in the same run.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

HEAVY = ("torch", "diffusers", "openai", "transformers", "cv2", "pandas", "matplotlib")
REPEATS = 7


def _time(code: str) -> float:
    samples = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    """Print import figures and assert that no heavy module is imported."""
    probe = (
        "import sys, radinpaint\n"
        f"loaded = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print(','.join(loaded))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True
    ).stdout.strip()
    bare = _time("pass")
    with_pkg = _time("import radinpaint")
    in_process = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import radinpaint"],
        check=True,
        capture_output=True,
        text=True,
    ).stderr.splitlines()
    cumulative = next(
        int(line.split("|")[1]) for line in reversed(in_process) if line.endswith("| radinpaint")
    )
    print(f"interpreter start (baseline):      {bare * 1000:7.1f} ms")
    print(f"interpreter + import radinpaint:   {with_pkg * 1000:7.1f} ms")
    print(
        f"import radinpaint alone:           {(with_pkg - bare) * 1000:7.1f} ms (wall difference)"
    )
    print(f"import radinpaint (-X importtime): {cumulative / 1000:7.1f} ms cumulative")
    print(f"heavy modules imported:            {loaded or 'none'}")
    assert not {"torch", "diffusers", "openai"} & set(filter(None, loaded.split(","))), loaded


if __name__ == "__main__":
    main()
