"""Every row either has its prediction or is accounted for in ``result.failures``.

Identical images in cases of different sex are predicted once per sex for a model that
takes the sex as input, and a dry run of a paid backend is reported as not computed: it is
neither scored, nor counted as computed, nor cached as a result.
"""

from __future__ import annotations

import attrs
import pandas as pd

from radinpaint import get_predictor
from radinpaint.evaluation import Evaluation, SerialExecutor, get_preset

FAST = get_preset("recommended").with_resamples(30)


def _ev(data, **kw):
    kw.setdefault("progress", False)
    kw.setdefault("preset", FAST)
    kw.setdefault("executor", SerialExecutor())
    kw.setdefault("pixel_detail_cases", 0)
    return Evaluation(data, **kw)


def _all_say(texts: pd.Series, what: str) -> bool:
    """Every text says ``what`` (a missing text does not)."""
    return bool(texts.fillna("").astype(str).str.contains(what, regex=False).all())


def _unexplained(result) -> pd.DataFrame:
    """Rows with an error whose case has no failure recorded at all."""
    t = result.table
    failed = t[t["error"].notna()]
    f = result.failures
    if f.empty or failed.empty:
        return failed
    named = set(f["case_id"].dropna()) if "case_id" in f.columns else set()
    by_pred = set(f["predictor"].dropna()) if "predictor" in f.columns else set()
    by_inp = set(f["inpainter"].dropna()) if "inpainter" in f.columns else set()
    return failed[
        ~failed["case_id"].isin(named)
        & ~failed["predictor"].isin(by_pred)
        & ~failed["inpainter"].isin(by_inp)
    ]


def test_twins_of_different_sex_are_each_predicted_with_their_own_sex(test_plugin, phantoms):
    first = phantoms[0]
    assert first.male is not None
    twin = attrs.evolve(first, id=f"{first.id}-twin", male=not first.male)
    pred = get_predictor("test-sexaware")
    res = _ev(
        [first, twin, phantoms[1]], inpainters=["identity", "test-bright"], predictors=[pred]
    ).run()
    t = res.table
    assert t["error"].isna().all(), t[t["error"].notna()]["error"].unique()
    assert {True, False} <= set(pred.seen)
    expected = {c.id: 100.0 + (12.0 if c.male else 0.0) for c in (first, twin, phantoms[1])}
    assert (t["orig_pred_bone_age"] == t["case_id"].map(expected)).all()
    assert (t["pred_bone_age"] == t["case_id"].map(expected)).all()
    assert res.failures.empty
    # both sexes of the shared original were computed, each once
    assert res.manifest["counts"]["predict_computed"] == len(pred.seen)


def test_twins_without_sex_are_reported_not_dropped(test_plugin, phantoms):
    first = phantoms[0]
    unknown = attrs.evolve(first, id=f"{first.id}-nosex", male=None)
    pred = get_predictor("test-sexaware")
    res = _ev([first, unknown], inpainters=["identity"], predictors=[pred], variants=1).run()
    t = res.table
    assert t[t["case_id"] == first.id]["error"].isna().all()
    bad = t[t["case_id"] == unknown.id]
    assert not bad.empty and _all_say(bad["error"], "needs the sex")
    f = res.failures
    assert not f.empty and (f["stage"] == "predict").all()
    assert _all_say(f["error"], "needs the sex")
    assert _unexplained(res).empty


def test_every_row_without_a_prediction_appears_in_failures(test_plugin, phantoms, monkeypatch):
    """A prediction that silently went missing is reported, never dropped."""
    from radinpaint.evaluation import predict_stage

    real = predict_stage._predict_batches

    def lose_one(pred, todo, chunk, executor, size, tally):  # drop one image's prediction
        real(pred, dict(list(todo.items())[1:]), chunk, executor, size, tally)

    monkeypatch.setattr(predict_stage, "_predict_batches", lose_one)
    res = _ev(phantoms[:3], inpainters=["identity"], predictors=["test-mean"]).run()
    t = res.table
    assert t["error"].notna().any()
    assert not res.failures.empty
    assert res.failures["error"].str.contains("prediction missing").any()
    assert _unexplained(res).empty


# -- dry runs ------------------------------------------------------------------------------


def _dry(**options):
    return {"name": "openai", "label": "dry", "options": {"dry_run": True, **options}}


def test_a_dry_run_is_not_scored_counted_or_cached(test_plugin, phantoms, tmp_path, capsys):
    data = phantoms[:2]
    kw = {"inpainters": ["identity", _dry()], "predictors": ["test-mean"], "variants": 1}
    res = _ev(data, cache_dir=tmp_path, **kw).run()
    assert "nothing sent" in capsys.readouterr().err
    t = res.table
    dry = t[t["inpainter"] == "dry"]
    assert not dry.empty
    assert _all_say(dry["error"], "not computed: dry run")
    assert dry["pred_bone_age"].isna().all()
    assert t[t["inpainter"] == "identity"]["error"].isna().all()
    counts = res.manifest["counts"]
    assert counts["inpaint_computed"] == len(data)  # identity's outputs only
    assert counts["inpaint_cached"] == 0
    assert counts["inpaint_dry_run"] == len(data)
    assert "dry" not in set(res.headline()["inpainter"])
    f = res.failures
    assert _all_say(f[f["inpainter"] == "dry"]["error"], "dry run")
    assert len(f[f["inpainter"] == "dry"]) == len(data)
    # nothing of the dry run reached the result cache: a rerun dry-runs again
    again = _ev(data, cache_dir=tmp_path, **kw).run()
    assert "nothing sent" in capsys.readouterr().err
    counts = again.manifest["counts"]
    assert counts["inpaint_cached"] == len(data) and counts["inpaint_dry_run"] == len(data)
    dry = again.table[again.table["inpainter"] == "dry"]
    assert _all_say(dry["error"], "not computed: dry run")
    assert not dry["cached"].any()


def test_inpaint_calls_never_store_a_dry_run_answer(phantoms, tmp_path, capsys):
    from radinpaint.cache import ResultCache
    from radinpaint.inpaint_calls import InpaintCalls
    from radinpaint.records import InpaintRequest
    from radinpaint.registry import build_backend

    built = build_backend("inpainter", "openai", dry_run=True)
    cache = ResultCache(tmp_path)
    calls = InpaintCalls(built.backend, built.capabilities, cache, {"dry_run": True})
    case = phantoms[0]
    request = InpaintRequest(case.image, case.artifact_mask, seed=1, case_id=case.id)
    (outcome,) = calls.run([request])
    assert outcome.result is not None and "dry-run" in outcome.result.flags
    assert cache.get(calls.key(request)) is None
    # an answer stored by an older version is not served as a result either
    cache.put(calls.key(request), outcome.result)
    assert calls.lookup(request) is None
