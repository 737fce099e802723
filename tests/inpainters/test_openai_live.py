"""One real, paid call to the OpenAI image edits API (skipped unless asked for)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from radinpaint import get_inpainter
from radinpaint.records import InpaintRequest, Mask, Radiograph

pytestmark = [
    pytest.mark.api,
    pytest.mark.skipif(
        not (
            os.environ.get("OPENAI_API_KEY")
            and os.environ.get("RADINPAINT_ALLOW_EXTERNAL_UPLOAD") == "1"
            and os.environ.get("RADINPAINT_PAID_TESTS") == "1"
        ),
        reason="a paid call: needs OPENAI_API_KEY, RADINPAINT_ALLOW_EXTERNAL_UPLOAD=1 and "
        "RADINPAINT_PAID_TESTS=1 (about $0.01 at quality=low, 1024x1024)",
    ),
]


def test_one_study_edit_comes_back_priced_and_placed():
    rng = np.random.default_rng(0)
    image = Radiograph.from_float(rng.uniform(0.2, 0.8, (96, 72)).astype(np.float32), 8)
    backend = get_inpainter(
        "openai", preset="study", model="gpt-image-1.5", quality="low", n=1, max_usd=0.5
    )
    (result,) = backend.inpaint([InpaintRequest(image, Mask.full(image.shape), case_id="live")])
    assert result.image.shape == image.shape
    assert result.returned is not None and result.returned.shape == (1024, 1024)
    assert result.cost_usd > 0
