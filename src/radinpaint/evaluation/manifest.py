"""The manifest written with every result: what ran, on what, how long, at what cost.

It records package versions, the evaluation's options, backends and their options, seeds,
prompts, a content hash of every input image and mask, timings, counts of computed versus
cached work, money spent (from each paid backend's own ledger, billed failures included),
and the plugins loaded with their distribution versions. Secrets are scrubbed from every
option (names that look like secrets, declared secret options, credentials inside URLs),
and environment variables are never read into it.
"""

from __future__ import annotations

import platform
import sys
from datetime import UTC, datetime
from importlib import metadata
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from .runner import Runner

__all__ = ["PACKAGES", "build_manifest", "package_versions", "source_revision"]

PACKAGES: tuple[str, ...] = (
    "radinpaint",
    "numpy",
    "scipy",
    "pandas",
    "torch",
    "opencv-python-headless",
    "opencv-python",
    "scikit-image",
    "scikit-learn",
    "statsmodels",
    "matplotlib",
    "pydicom",
    "safetensors",
    "openai",
    "diffusers",
    "transformers",
    "timm",
)
"""Packages whose installed versions the manifest records (absent ones are left out)."""


def package_versions() -> dict[str, str]:
    """Installed versions of :data:`PACKAGES` (read from metadata; nothing is imported)."""
    out = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def source_revision() -> dict[str, Any] | None:
    """The git commit radinpaint runs from, when it runs from a git checkout (an editable
    install): ``{"commit", "dirty"}``; else the commit pip recorded for a VCS install, or
    None. Runs ``git`` at most twice, with a short timeout; never raises."""
    import json
    import subprocess
    from pathlib import Path

    package = Path(__file__).resolve().parent.parent  # src/radinpaint

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(package), *args], capture_output=True, text=True, timeout=5
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    try:
        commit = git("rev-parse", "HEAD")
        if commit:
            return {"commit": commit, "dirty": bool(git("status", "--porcelain", "--", "."))}
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        direct = metadata.distribution("radinpaint").read_text("direct_url.json")
        info = json.loads(direct or "{}").get("vcs_info") or {}
        if info.get("commit_id"):
            return {"commit": str(info["commit_id"]), "dirty": None}
    except (metadata.PackageNotFoundError, ValueError, AttributeError):
        pass
    return None


def build_manifest(runner: Runner, table: pd.DataFrame) -> dict[str, Any]:
    """The manifest of a finished run (JSON-ready)."""
    ev = runner.ev
    from ..plugins import plugin_versions
    from ..predictors.provenance import dataset_content

    errors = 0 if table.empty else int(table["error"].notna().sum())
    return {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "versions": package_versions(),
        "radinpaint_source": source_revision(),
        "command": list(sys.argv),
        "evaluation": {
            "n_cases": len(ev.dataset),
            "dataset": getattr(ev.dataset, "description", None) or type(ev.dataset).__name__,
            "dataset_content": dataset_content(ev.dataset),
            "variants": ev.variants,
            "seed": ev.seed,
            "prompt": ev.prompt,
            "views": list(ev.views),
            "mask_provider": ev.mask_provider.to_dict(runner.mask_secrets),
            "metrics": [m.to_dict() for m in ev.metric_specs()],
            "preset": ev.preset.to_dict(),
            "cache_dir": None if ev.cache_dir is None else str(ev.cache_dir),
            "executor": ev.executor.describe(),
            "chunk_size": ev.chunk_size,
            "predict_batch_size": ev.predict_batch_size,
            "inpaint_batch_size": ev.inpaint_batch_size,
        },
        "backends": runner.backend_records(),
        "plugins": plugin_versions(),
        "prompts_sent": sorted(runner.tally.prompts),
        "counts": {k: round(v, 6) for k, v in runner.tally.counts.items()}
        | {"rows": len(table), "rows_with_error": errors, "failures": len(runner.tally.failures)},
        "timings_s": {k: round(v, 3) for k, v in runner.tally.timings.items()},
        "inputs": runner.input_hashes,
    }
