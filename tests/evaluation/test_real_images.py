"""An evaluation on real RSNA radiographs (skipped when the samples are absent)."""

from __future__ import annotations

import numpy as np

from radinpaint.evaluation import Evaluation, SerialExecutor, get_preset
from radinpaint.records import Mask, Predictions


class _CornerMasks:
    """Marks a fixed box near the top-left corner, where lead plates often sit."""

    name = "corner"

    def masks(self, items):
        out = []
        for item in items:
            h, w = item.image.shape
            m = np.zeros((h, w), bool)
            m[h // 20 : h // 6, w // 20 : w // 6] = True
            out.append(Mask(m, "corner"))
        return out


class _Stats:
    name = "stats"

    def predict(self, images, male=None):
        means = np.array([float(im.pixels.mean()) for im in images])
        return Predictions("stats", 40 + 400 * means, np.clip(means, 0, 1))


def test_real_radiographs_run_end_to_end(rsna_samples, tmp_path):
    from radinpaint.datasets import open_dataset

    data = open_dataset(rsna_samples / "labels.csv")
    cases = [data[i] for i in range(len(data)) if "with-markers" in str(data[i].image.source)]
    cases = cases[:3]
    res = Evaluation(
        cases,
        inpainters=["identity", "telea"],
        predictors=[_Stats()],
        mask_provider=_CornerMasks(),
        variants=2,
        preset=get_preset("study").with_resamples(20),
        executor=SerialExecutor(),
        progress=False,
        cache_dir=tmp_path / "cache",
        pixel_detail_cases=0,
    ).run()
    t = res.table
    assert t["error"].isna().all(), t["error"].dropna().tolist()
    assert set(t["true_bone_age"]) == {c.bone_age_months for c in cases}
    ident = t[t["inpainter"] == "identity"]
    assert (ident["pred_bone_age"] == ident["orig_pred_bone_age"]).all()
    px = res.pixels.summary().set_index("inpainter")
    assert px.loc["telea", "change_out_of_mask"] == 0.0
    assert px.loc["telea", "change_in_mask"] > 0.0
    assert res.manifest["inputs"][cases[0].id]["image"] == cases[0].image.content_hash()
