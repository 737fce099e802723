"""The openai inpainter inside a whole evaluation: the key never reaches any written file,
and a rerun over the same cache sends nothing."""

from __future__ import annotations

import attrs
import numpy as np

from radinpaint.datasets.phantom import PhantomDataset
from radinpaint.evaluation import Evaluation, SerialExecutor
from radinpaint.evaluation.specs import BackendSpec
from radinpaint.records import Mask

from .fake_openai_server import FakeOpenAI, serve

KEY = "sk-evaluation-SECRET-246813579"


def test_evaluation_writes_no_key_and_reruns_from_the_cache(tmp_path):
    with serve(FakeOpenAI()) as server:
        options = {
            "base_url": server.base_url,
            "api_key": KEY,
            "allow_external_upload": True,
            "size": "256x256",
        }

        def run(report: str) -> None:
            spec = BackendSpec("openai", options, label="openai")
            evaluation = Evaluation(
                PhantomDataset(2, size=128),
                inpainters=["identity", spec],
                predictors=["phantom-ensemble"],
                variants=2,
                cache_dir=tmp_path / "cache",
                executor=SerialExecutor(),
                progress=False,
            )
            evaluation.run().write(tmp_path / report)

        run("report")
        sent = server.edit_count
        assert sent == 2  # two cases, their two variants in one call each
        assert server.edits[0].headers["authorization"] == f"Bearer {KEY}"
        run("report-again")
        assert server.edit_count == sent

    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) > 10
    assert not [p for p in files if KEY.encode() in p.read_bytes()]


def _study_spec(server) -> BackendSpec:
    """The openai backend's study preset against ``server``, at 256x256."""
    options = {
        "preset": "study",
        "model": "gpt-image-1.5",
        "base_url": server.base_url,
        "api_key": KEY,
        "allow_external_upload": True,
        "size": "256x256",
    }
    return BackendSpec("openai", options, label="openai-study")


def test_study_preset_evaluation_sends_a_case_whose_mask_is_empty(tmp_path):
    """The evaluation hands an empty-mask case to the backend; the study preset sends it."""
    cases = list(PhantomDataset(2, size=96, seed=3))
    blank = attrs.evolve(
        cases[1], id=f"{cases[1].id}-blank", artifact_mask=Mask.empty(cases[1].image.shape)
    )
    with serve(FakeOpenAI()) as server:
        spec = _study_spec(server)
        result = Evaluation(
            [cases[0], blank],
            inpainters=[spec],
            predictors=["phantom-ensemble"],
            variants=2,
            cache_dir=tmp_path / "cache",
            executor=SerialExecutor(),
            progress=False,
        ).run()
        # the server's own books: both cases' two variants were generated, the blank too
        assert server.images_generated == 4 and len(server.generated) == 2

    table = result.table[result.table["view"] == "total"]
    assert table["error"].isna().all(), table["error"].dropna().unique()
    rows = table[table["case_id"] == blank.id]
    assert len(rows) > 0
    assert not rows["inpaint_flags"].str.contains("empty-mask").any()
    assert rows["inpaint_flags"].str.contains("whole-image-redrawn").all()


def test_the_study_preset_scores_the_squashed_outputs_as_returned(tmp_path):
    """As the study's predictors did: the 256x256 answers are scored, never resized back,
    and their effect is attributed to the squash and the redraw, adding up."""
    cases = list(PhantomDataset(3, size=96, seed=4))
    assert all(c.image.shape != (256, 256) for c in cases)
    with serve(FakeOpenAI()) as server:
        spec = _study_spec(server)
        kw = {
            "inpainters": [spec, "identity"],
            "predictors": ["phantom-ensemble"],
            "variants": 1,
            "cache_dir": tmp_path / "cache",
            "executor": SerialExecutor(),
            "progress": False,
        }
        study = Evaluation(cases, preset="study", **kw).run()
        restored = Evaluation(cases, preset="study", geometry="restored", **kw).run()
        assert server.images_generated == 3  # the second run came from the cache

    for result, frame in ((study, "as-returned"), (restored, "restored")):
        rows = result.table[result.table["inpainter"] == "openai-study"]
        assert rows["error"].isna().all() and set(rows["frame"]) == {frame}
        dec = result.decomposition.set_index(["inpainter", "part"])
        assert dec.loc[("openai-study", "residual"), "shift"] == 0.0
        assert dec.loc[("openai-study", "geometry"), "shift"] != 0.0
        assert (dec.loc["identity", "shift"] == 0.0).all()

    def totals(result):
        t = result.table
        return t[(t["view"] == "total") & (t["inpainter"] == "openai-study")]["pred_bone_age"]

    assert not np.array_equal(totals(study).to_numpy(), totals(restored).to_numpy())
