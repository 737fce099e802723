"""The openai inpainter's geometry on real RSNA radiographs with lead markers (fake API)."""

from __future__ import annotations

import numpy as np
import pytest

from radinpaint import InpaintRequest, get_inpainter
from radinpaint.io import read_image
from radinpaint.records import Mask

from .fake_openai_server import FakeOpenAI, serve


def marker_mask(pixels: np.ndarray) -> Mask:
    """The brightest pixels (lead plates are the densest thing in the frame), grown a little."""
    return Mask(pixels >= np.quantile(pixels, 0.995), "brightest").dilate(3)


@pytest.mark.parametrize("name", ["10186.png"])
def test_real_radiographs_round_trip(rsna_samples, name):
    image = read_image(rsna_samples / "with-markers" / name)
    mask = marker_mask(image.pixels)
    reqs = [InpaintRequest(image, mask, seed=0, variant=v, case_id=name) for v in range(2)]
    with serve(FakeOpenAI()) as server:
        options = {"base_url": server.base_url, "api_key": "sk-x", "allow_external_upload": True}
        recommended = get_inpainter("openai", quality="low", **options).inpaint(reqs)
        study = get_inpainter("openai", preset="study", model="gpt-image-1.5", **options)
        redrawn = study.inpaint(reqs)
        sizes = [e.fields["size"] for e in server.edits]
        assert all(not e.problems for e in server.edits)
    assert sizes[1] == "1024x1024" and sizes[0] in ("1024x1024", "1536x1024", "1024x1536")
    for r in recommended:
        assert r.image.shape == image.shape and r.image.bit_depth == image.bit_depth
        assert np.array_equal(r.image.to_uint()[~mask.array], image.to_uint()[~mask.array])
    for r in redrawn:
        assert r.image.shape == image.shape and r.compositing == "raw"
        assert "squash" in r.flags
