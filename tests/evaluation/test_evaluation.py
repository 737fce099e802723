"""The Evaluation end to end on tiny phantoms with test backends."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from radinpaint.evaluation import (
    TABLE_COLUMNS,
    VIEWS,
    Evaluation,
    SerialExecutor,
    get_preset,
)

FAST = get_preset("recommended").with_resamples(30)
CORE = [*TABLE_COLUMNS]


def _ev(data, **kw):
    kw.setdefault("predictors", ["test-mean"])
    kw.setdefault("progress", False)
    kw.setdefault("preset", FAST)
    kw.setdefault("executor", SerialExecutor())
    kw.setdefault("pixel_detail_cases", 0)
    return Evaluation(data, **kw)


def test_table_has_one_row_per_case_inpainter_variant_predictor_view(test_plugin, phantoms):
    data = phantoms[:4]
    res = _ev(data, inpainters=["identity", "test-noise"], variants=2).run()
    t = res.table
    assert list(t.columns[: len(CORE)]) == CORE
    assert len(t) == 4 * 2 * 2 * 1 * len(VIEWS)
    assert t["error"].isna().all()
    assert set(t["view"]) == set(VIEWS)
    assert t.groupby(["case_id", "inpainter", "variant", "predictor", "view"]).size().max() == 1
    truth = {c.id: c.bone_age_months for c in data}
    assert (t["true_bone_age"] == t["case_id"].map(truth)).all()


def test_identity_control_has_exactly_zero_effect_on_every_metric(test_plugin, phantoms):
    res = _ev(phantoms, inpainters=["identity", "test-noise"], variants=2).run()
    ident = res.table[res.table["inpainter"] == "identity"]
    assert (ident["pred_bone_age"] == ident["orig_pred_bone_age"]).all()
    assert (ident["pred_p_male"] == ident["orig_pred_p_male"]).all()
    head = res.headline().set_index("inpainter")
    for col in ("delta_mae", "delta_auc", "mean_abs_shift", "flip_rate"):
        assert head.loc["identity", col] == 0.0
    assert head.loc["test-noise", "mean_abs_shift"] > 0  # the check can fail
    views = res.views[res.views["inpainter"] == "identity"]
    assert (views[["delta_mae", "delta_auc", "mean_abs_shift"]] == 0).all().all()
    dec = res.decomposition[res.decomposition["inpainter"] == "identity"]
    cols = ["shift", "shift_lo", "shift_hi", "p_male_shift", "p_male_shift_lo", "p_male_shift_hi"]
    assert (dec[cols] == 0.0).all().all() and (dec["shift_p"] == 1.0).all()
    assert not res.metric_errors
    reg = res.metrics["regression"].table
    orig_mae = reg[reg["inpainter"] == "original"]["mae"].iloc[0]
    assert (reg[reg["inpainter"] == "identity"]["mae"] == orig_mae).all()
    paired = res.metrics["paired"].table
    assert (paired[paired["inpainter"] == "identity"]["delta_mae"] == 0).all()
    cons = res.metrics["consistency"].table
    ident_cons = cons[cons["inpainter"] == "identity"]
    assert (ident_cons["mean_sd"] == 0).all() and (ident_cons["flip_rate"] == 0).all()
    px = res.pixels.summary().set_index("inpainter")
    assert px.loc["identity", "change_in_mask"] == 0.0
    assert px.loc["identity", "change_out_of_mask"] == 0.0


def test_rerun_computes_and_pays_nothing(test_plugin, phantoms, tmp_path):
    kw = {"inpainters": ["test-noise", "test-bright"], "variants": 3, "cache_dir": tmp_path}
    first = _ev(phantoms[:5], **kw).run()
    assert test_plugin["test-noise"] == 15 and test_plugin["test-mean"] > 0
    test_plugin.clear()
    second = _ev(phantoms[:5], **kw).run()
    assert test_plugin == {}  # no inpainting call, no prediction call
    assert second.table["cached"].all()
    assert second.manifest["counts"]["inpaint_computed"] == 0
    assert second.manifest["counts"]["predict_computed"] == 0
    pd.testing.assert_frame_equal(first.table[CORE], second.table[CORE])


def test_killed_run_resumes_where_it_stopped(test_plugin, phantoms, tmp_path):
    class Killing(SerialExecutor):
        """Dies (like Ctrl-C) on the third batch it is given."""

        seen = 0

        def map(self, fn, items, *, workers=None):
            for item in items:
                Killing.seen += 1
                if Killing.seen == 3:
                    raise KeyboardInterrupt
                yield from super().map(fn, [item])

    kw = {
        "inpainters": ["test-noise"],
        "variants": 2,
        "cache_dir": tmp_path,
        "chunk_size": 2,
        "inpaint_batch_size": 2,
    }
    with pytest.raises(KeyboardInterrupt):
        _ev(phantoms[:6], executor=Killing(), **kw).run()
    done = test_plugin["test-noise"]
    assert 0 < done < 12
    test_plugin.clear()
    resumed = _ev(phantoms[:6], **kw).run()
    assert test_plugin["test-noise"] == 12 - done  # only what was missing
    fresh = _ev(phantoms[:6], inpainters=["test-noise"], variants=2).run()
    pd.testing.assert_frame_equal(resumed.table[CORE], fresh.table[CORE])


def test_deterministic_backend_runs_one_variant_and_replicates(test_plugin, phantoms):
    res = _ev(phantoms[:4], inpainters=["test-bright"], variants=3).run()
    assert test_plugin["test-bright"] == 4
    t = res.table[res.table["view"] == "total"]
    assert t["replicated"].sum() == 8
    spread = t.groupby("case_id")["pred_bone_age"].nunique()
    assert (spread == 1).all()


def test_paste_back_outputs_are_predicted_once_not_three_times(test_plugin, phantoms):
    res = _ev(phantoms[:5], inpainters=["test-noise"], variants=1).run()
    assert (res.table["collapse"] == "paste-back").all()
    assert test_plugin["test-mean"] == 5 + 5  # originals + one per output
    t = res.table.pivot(index="case_id", columns="view", values="pred_bone_age")
    assert (t["in-mask"] == t["total"]).all()
    orig = res.table.groupby("case_id")["orig_pred_bone_age"].first()
    assert (t["out-of-mask"] == orig).all()


def test_raw_output_is_decomposed_and_resample_gives_geometry(test_plugin, phantoms):
    res = _ev(
        phantoms[:6],
        inpainters=["resample", "drift=test-noise:drift=0.3,compositing=raw"],
        variants=1,
    ).run()
    assert (res.table[res.table["inpainter"] == "drift"]["collapse"] == "none").all()
    d = res.decomposition
    parts = list(d[d["inpainter"] == "drift"]["part"])
    assert parts == ["total", "geometry", "redraw", "content", "residual"]
    drift = d[d["inpainter"] == "drift"].set_index("part")
    # the drift never resamples: no geometry, exactly; it changes more outside the mask
    assert drift.loc["geometry", "shift"] == 0.0 and drift.loc["residual", "shift"] == 0.0
    assert abs(drift.loc["redraw", "shift"]) > abs(drift.loc["content", "shift"])
    # the squash and back is geometry alone, exactly
    geo = d[d["inpainter"] == "resample"].set_index("part")
    assert geo.loc["geometry", "shift"] == geo.loc["total", "shift"] != 0.0
    assert geo.loc["redraw", "shift"] == geo.loc["content", "shift"] == 0.0


def test_failed_items_are_reported_and_the_rest_goes_on(test_plugin, phantoms):
    bad = phantoms[2].id
    res = _ev(
        phantoms[:5],
        inpainters=[
            {"name": "test-noise", "options": {"fail_cases": [bad]}, "label": "test-noise"},
            "identity",
        ],
        variants=2,
    ).run()
    t = res.table
    failed = t[t["error"].notna()]
    assert set(failed["case_id"]) == {bad}
    assert set(failed["inpainter"]) == {"test-noise"}
    assert failed["error"].str.contains("refused on purpose").all()
    assert t[t["case_id"] != bad]["error"].isna().all()
    f = res.failures
    assert set(f["stage"]) == {"inpaint"} and len(f) == 2  # two variants
    assert res.headline().set_index("inpainter").loc["test-noise", "n"] == 4


def test_prediction_failure_is_isolated_to_its_images(test_plugin, phantoms):
    res = _ev(
        phantoms[:4],
        inpainters=["identity", "bright=test-bright:everywhere=0.9,compositing=raw"],
        predictors=[{"name": "test-mean", "options": {"fail_above": 0.8}}],
        variants=1,
        views=("total",),
    ).run()
    t = res.table
    assert t[t["inpainter"] == "identity"]["error"].isna().all()
    assert t[t["inpainter"] == "bright"]["error"].str.contains("too bright").all()
    assert set(res.failures["stage"]) == {"predict"}


def test_a_predictor_reports_one_bad_image_and_keeps_its_neighbours(test_plugin, phantoms):
    res = _ev(
        phantoms[:4],
        inpainters=["identity", "bright=test-bright:everywhere=0.9,compositing=raw"],
        predictors=[{"name": "test-mean", "options": {"report_above": 0.8}}],
        variants=1,
        views=("total",),
        predict_batch_size=16,
    ).run()
    t = res.table
    assert t[t["inpainter"] == "identity"]["error"].isna().all()
    bright = t[t["inpainter"] == "bright"]
    assert bright["error"].str.contains("too bright for this model").all()
    assert set(res.failures["stage"]) == {"predict"} and len(res.failures) == 4
    # one call for the whole chunk: the good images were not predicted again one by one
    assert test_plugin["test-mean-calls"] == 1 and test_plugin["test-mean"] == 8
    assert res.manifest["counts"]["predict_computed"] == 4


def test_custom_executor_carries_all_the_work(test_plugin, phantoms):
    calls: list[tuple[int, object]] = []

    class Counting(SerialExecutor):
        def map(self, fn, items, *, workers=None):
            items = list(items)
            calls.append((len(items), workers))
            return super().map(fn, items, workers=workers)

    res = _ev(
        phantoms[:4],
        inpainters=["test-noise"],
        variants=2,
        executor=Counting(),
        inpaint_batch_size=4,
        chunk_size=4,
    ).run()
    assert res.table["error"].isna().all()
    sizes = [n for n, _ in calls]
    assert sizes[0] == 2  # 4 cases x 2 variants in calls of 4 requests
    assert sum(sizes) >= 3  # inpainting and prediction went through it
    assert res.manifest["evaluation"]["executor"]["type"] == "Counting"


def test_manifest_records_the_run_but_never_secrets(test_plugin, phantoms, tmp_path):
    secret = "sk-test-do-not-record-0123456789"
    res = _ev(
        phantoms[:3],
        inpainters=[{"name": "test-noise", "options": {"api_key": secret}, "label": "noise"}],
        variants=1,
        cache_dir=tmp_path / "cache",
        seed=5,
    ).run()
    paths = res.write(tmp_path / "out")
    m = res.manifest
    assert m["evaluation"]["seed"] == 5 and m["versions"]["numpy"]
    assert set(m["inputs"]) == {c.id for c in phantoms[:3]}
    assert "total_s" in m["timings_s"]
    assert m["command"] == list(__import__("sys").argv)  # the command line that ran it
    source = m["radinpaint_source"]  # tests run from the git checkout: its commit
    assert source is None or len(source["commit"]) == 40
    for path in [*paths.values(), *(tmp_path / "cache").rglob("*")]:
        if path.is_file() and path.suffix in (".json", ".jsonl", ".csv", ".md", ".html"):
            assert secret not in path.read_text(), path


def test_from_config_builds_and_runs(test_plugin, tmp_path):
    config = {
        "dataset": {"kind": "phantom", "n": 8, "seed": 1, "size": 64},
        "inpainters": ["identity", "noise=test-noise"],
        "predictors": ["test-mean"],
        "variants": 2,
        "preset": "study",
        "n_resamples": 20,
        "workers": 1,
        "progress": False,
    }
    ev = Evaluation.from_config(config)
    assert ev.preset.name == "study" and ev.preset.n_resamples == 20
    res = ev.run()
    assert len(res.table) == 8 * 2 * 2 * len(VIEWS)
    assert "study" in res.metrics and not res.metric_errors
    json.dumps(res.manifest)  # JSON-ready


def test_bad_configuration_is_a_clear_error(test_plugin):
    from radinpaint.errors import InvalidInputError, UnknownPluginError

    with pytest.raises(InvalidInputError, match="unknown configuration key"):
        Evaluation.from_config(
            {"dataset": [], "inpainters": ["identity"], "predictors": ["test-mean"], "bogus": 1}
        )
    with pytest.raises(InvalidInputError, match="share the label"):
        Evaluation([], inpainters=["identity", "identity"], predictors=["test-mean"])
    with pytest.raises(UnknownPluginError, match="preset"):
        Evaluation([], inpainters=["identity"], predictors=["test-mean"], preset="nope")


def test_unknown_backend_is_reported_not_fatal(test_plugin, phantoms):
    res = _ev(phantoms[:2], inpainters=["identity", "no-such-backend"], variants=1).run()
    assert (
        res.table[res.table["inpainter"] == "no-such-backend"]["error"]
        .str.contains("no inpainter named")
        .all()
    )
    assert res.table[res.table["inpainter"] == "identity"]["error"].isna().all()


def test_pixel_stats_measure_leakage(test_plugin, phantoms):
    res = _ev(
        phantoms[:3],
        inpainters=["test-noise", "drift=test-noise:drift=0.2,compositing=raw"],
        variants=1,
    ).run()
    px = res.pixels.summary().set_index("inpainter")
    assert px.loc["test-noise", "change_out_of_mask"] == 0.0
    assert px.loc["drift", "change_out_of_mask"] > 0.01
    assert px.loc["test-noise", "change_in_mask"] > 0.0
    assert np.isfinite(px.loc["test-noise", "sd_output"])


def test_bad_masks_and_repeated_ids_fail_their_case_only(test_plugin, phantoms):
    from radinpaint.records import Mask

    class Masks:
        name = "picky"

        def masks(self, items):
            out = []
            for item in items:
                if item.id == phantoms[1].id:
                    out.append(Mask.empty((3, 3)))  # wrong shape
                else:
                    out.append(item.artifact_mask)
            return out

    data = [phantoms[0], phantoms[1], phantoms[2], phantoms[0]]
    res = _ev(data, inpainters=["identity"], mask_provider=Masks(), variants=1).run()
    f = res.failures.set_index("stage")
    assert "does not match image shape" in f.loc["mask", "error"]
    assert "repeats" in f.loc["load", "error"]
    ok = res.table[res.table["error"].isna()]
    assert set(ok["case_id"]) == {phantoms[0].id, phantoms[2].id}


def test_sex_is_passed_to_models_that_need_it(test_plugin, phantoms):
    import attrs

    from radinpaint import get_predictor

    unknown = attrs.evolve(phantoms[1], male=None)
    data = [phantoms[0], unknown, phantoms[2]]
    strict = get_predictor("test-sexaware")
    res = _ev(data, inpainters=["identity"], predictors=[strict], variants=1).run()
    t = res.table
    assert t[t["case_id"] == unknown.id]["error"].str.contains("needs the sex").all()
    ok = t[t["case_id"] != unknown.id]
    assert ok["error"].isna().all()
    assert set(strict.seen) == {phantoms[0].male, phantoms[2].male}
    expected = {c.id: 100.0 + (12.0 if c.male else 0.0) for c in (phantoms[0], phantoms[2])}
    assert (ok["orig_pred_bone_age"] == ok["case_id"].map(expected)).all()
    lenient = get_predictor("test-sexaware", sex_from_prediction=True)
    res = _ev(data, inpainters=["identity"], predictors=[lenient], variants=1).run()
    assert res.table["error"].isna().all() and None in lenient.seen
