"""The prediction cache in a run: a damaged line costs that image's prediction, never the
predictor (a run that ended "no successful rows" on every rerun)."""

from __future__ import annotations

import json
import logging
import os
import stat

import numpy as np
import pytest

from radinpaint.evaluation import Evaluation, SerialExecutor, get_preset
from radinpaint.evaluation.predcache import PredictionCache, StoredPrediction

FAST = get_preset("recommended").with_resamples(30)


def _run(data, cache_dir):
    return Evaluation(
        data,
        inpainters=["test-bright"],
        predictors=["test-mean"],
        variants=1,
        preset=FAST,
        cache_dir=cache_dir,
        executor=SerialExecutor(),
        pixel_detail_cases=0,
        progress=False,
    ).run()


@pytest.mark.parametrize(
    "bad",
    [b"\xff\xfe not UTF-8", b"null", b"[1, 2]", b'"text"', b"{}", b'{"key": "x:1", "bone'],
    ids=["invalid-utf8", "null", "a-list", "a-string", "empty-object", "cut-short"],
)
def test_a_bad_line_is_skipped_and_only_its_image_predicted_again(
    test_plugin, phantoms, tmp_path, bad, caplog
):
    first = _run(phantoms[:3], tmp_path)
    assert first.table["error"].isna().all()
    computed = first.manifest["counts"]["predict_computed"]
    (path,) = (tmp_path / "predictions").glob("*.jsonl")
    lines = path.read_bytes().splitlines()
    assert len(lines) == computed > 2
    # a bad line in the middle, and one good line damaged in place
    lines.insert(1, bad)
    lines[-1] = lines[-1][: len(lines[-1]) // 2]
    path.write_bytes(b"\n".join(lines) + b"\n")

    with caplog.at_level(logging.WARNING, logger="radinpaint.predcache"):
        again = _run(phantoms[:3], tmp_path)
    assert again.table["error"].isna().all()  # the predictor still runs
    counts = again.manifest["counts"]
    assert counts["predict_computed"] == 1  # only the damaged row's image
    assert counts["predict_cached"] == computed - 1
    assert any("skipped 2 damaged line(s)" in r.getMessage() for r in caplog.records)
    cols = ["case_id", "view", "pred_bone_age", "orig_pred_bone_age"]
    key = ["case_id", "view"]
    np.testing.assert_array_equal(
        first.table[cols].sort_values(key).to_numpy(), again.table[cols].sort_values(key).to_numpy()
    )
    third = _run(phantoms[:3], tmp_path)
    assert third.manifest["counts"]["predict_computed"] == 0


def test_a_line_cut_short_by_a_kill_is_ended_at_the_true_end_of_the_file(tmp_path):
    path = tmp_path / "p.jsonl"
    good = json.dumps({"key": "a:", **StoredPrediction(10.0, 0.5).to_json()}).encode()
    path.write_bytes(good + b"\n" + good[:9])
    cache = PredictionCache(path)
    assert cache.skipped == 1 and len(cache) == 1
    assert path.read_bytes().endswith(good[:9] + b"\n")
    cache.put_many([("b:", StoredPrediction(20.0, 0.1))])
    again = PredictionCache(path)
    assert again.skipped == 1 and len(again) == 2


def test_a_byte_order_mark_is_not_damage(tmp_path):
    path = tmp_path / "p.jsonl"
    good = json.dumps({"key": "a:", **StoredPrediction(10.0, 0.5).to_json()}).encode()
    path.write_bytes(b"\xef\xbb\xbf" + good + b"\n")
    cache = PredictionCache(path)
    assert cache.skipped == 0 and "a:" in cache


def test_the_cache_file_honours_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        path = tmp_path / "sub" / "p.jsonl"
        PredictionCache(path).put_many([("a:", StoredPrediction(10.0, 0.5))])
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
