"""`import radinpaint` stays light."""

from __future__ import annotations

import subprocess
import sys


def test_import_does_not_pull_heavy_libraries():
    code = (
        "import sys, radinpaint, radinpaint.datasets, radinpaint.io\n"
        "radinpaint.list_inpainters(); radinpaint.list_predictors()\n"
        "radinpaint.list_mask_providers(); radinpaint.list_metrics()\n"
        "heavy = ('torch', 'diffusers', 'openai', 'transformers')\n"
        "heavy = [m for m in heavy if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""
