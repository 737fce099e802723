"""Check that every extra except ``timm`` and ``fidelity`` resolves beside the README's CPU torch.

For each extra, ``pip install --dry-run`` resolves ``torch==2.13.0 -e ".[EXTRA]"`` and the
check fails when the resolution would install another torch or any torchvision: PyPI's
torchvision does not load beside the CPU build of torch (``operator torchvision::nms does
not exist``) and then breaks transformers, so the diffusers backend too. ``timm`` needs
torchvision, so it is documented with the torch/torchvision pairs that go together and is
not part of ``all``; so does ``fidelity`` (torch-fidelity, for the standard InceptionV3
features of the ``generative`` metric).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

EXTRAS = ("openai", "diffusers", "ocr", "onnx", "review", "saliency", "ray", "all")
FORBIDDEN = ("torch", "torchvision", "torchaudio")


def resolve(extra: str) -> list[str]:
    """The distributions pip would install for ``extra`` beside torch==2.13.0."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet",
             "--disable-pip-version-check", "--report", str(report),
             "torch==2.13.0", f".[{extra}]"],
            check=True, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        data = json.loads(report.read_text())
    return [str(item["metadata"]["name"]).lower() for item in data["install"]]


def main() -> int:
    """Resolve every extra; print and fail on a torch or torchvision it would pull."""
    bad = 0
    for extra in EXTRAS:
        pulled = [n for n in resolve(extra) if n in FORBIDDEN]
        print(f"extra {extra}: " + (f"would install {', '.join(pulled)}" if pulled else "ok"))
        bad += bool(pulled)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
