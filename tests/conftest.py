"""Shared test configuration: offline, no third-party plugins, real samples when present."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Installed third-party plugins never load in tests (set before radinpaint loads plugins).
os.environ["RADINPAINT_PLUGINS"] = ""
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.pop("RADINPAINT_ALLOW_EXTERNAL_UPLOAD", None)

REPO_ROOT = Path(__file__).resolve().parents[1]
RSNA_SAMPLES = REPO_ROOT.parent / "shared" / "data" / "rsna-samples"


@pytest.fixture(scope="session")
def rsna_samples() -> Path:
    """The folder of 41 real RSNA radiographs beside the checkout (skip when absent)."""
    if not (RSNA_SAMPLES / "labels.csv").exists():
        pytest.skip(f"real RSNA samples not found at {RSNA_SAMPLES} (they live in ../shared)")
    return RSNA_SAMPLES


@pytest.fixture(autouse=True)
def _fresh_plugins():
    """Each test starts with the plugin manager as the environment defines it."""
    from radinpaint.plugins import reset_plugins

    yield
    reset_plugins()


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip GPU tests without a GPU and API tests without a key, each with its reason."""
    gpu_items = [i for i in items if "gpu" in i.keywords]
    if gpu_items and not _cuda_available():
        skip = pytest.mark.skip(reason="needs a CUDA GPU; none is available here")
        for item in gpu_items:
            item.add_marker(skip)
    if not (os.environ.get("OPENAI_API_KEY") and os.environ.get("RADINPAINT_RUN_API_TESTS")):
        skip = pytest.mark.skip(
            reason="needs OPENAI_API_KEY and RADINPAINT_RUN_API_TESTS=1 (real, paid API calls)"
        )
        for item in items:
            if "api" in item.keywords:
                item.add_marker(skip)
