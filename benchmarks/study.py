"""Run the bundled bone-age study (``radinpaint bench``) and print how long it took.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/study.py --out /tmp/bench-full          # 200 phantoms
    python benchmarks/study.py --out /tmp/bench-small --n 20 --size 256
    python benchmarks/study.py --out /tmp/bench-rerun   # run twice: the 2nd run is all cache

Every argument is passed to ``radinpaint bench``. With ``--twice`` the bench runs a second
time into the same folder and the ratio of the two wall times is printed: the second run
must find every inpainting result and prediction in the cache.
"""

from __future__ import annotations

import sys
import time


def main(argv: list[str]) -> int:
    """Run the bench (twice with ``--twice``) and print wall times."""
    from radinpaint.cli import main as cli

    twice = "--twice" in argv
    args = [a for a in argv if a != "--twice"]
    if "--out" not in args:
        args += ["--out", "/tmp/radinpaint-bench"]
    times = []
    for _ in range(2 if twice else 1):
        start = time.perf_counter()
        rc = cli(["bench", *args])
        times.append(time.perf_counter() - start)
        if rc:
            return rc
    print(f"study: first run {times[0]:.1f} s")
    if twice:
        ratio = times[1] / times[0]
        print(f"study: rerun {times[1]:.1f} s (all cached); rerun/first = {ratio:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
