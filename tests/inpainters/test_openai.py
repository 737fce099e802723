"""The openai inpainter against a local fake of the API: presets, privacy, records, caching.

The real openai SDK talks to a fake server on 127.0.0.1 (``fake_openai_server``); nothing
reaches the internet.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from radinpaint import InpaintRequest, get_inpainter
from radinpaint.cache import ResultCache, inpaint_cached
from radinpaint.errors import (
    BatchFailedError,
    ExternalUploadNotAllowedError,
    ModelUnavailableError,
)
from radinpaint.inpainters.openai.backend import (
    ALLOW_UPLOAD_ENV,
    RECOMMENDED_PROMPT,
    STUDY_PROMPT,
)
from radinpaint.inpainters.openai.pricing import PRICES, cost_from_usage
from radinpaint.records import InpaintFailure, Mask, Radiograph

from ._helpers import box_mask, radiograph

KEY = "sk-test-SECRET-key-0123456789"


def backend(server, **options):
    options.setdefault("allow_external_upload", True)
    return get_inpainter("openai", base_url=server.base_url, api_key=KEY, **options)


def variants(image, mask, k=3, case_id="case-1", seed=5):
    return [InpaintRequest(image, mask, seed=seed, variant=v, case_id=case_id) for v in range(k)]


def test_plugin_module_is_cheap_to_import():
    code = (
        "import sys, radinpaint.inpainters.openai, radinpaint.inpainters.diffusers;"
        "bad=[m for m in ('openai','torch','diffusers','transformers') if m in sys.modules];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_recommended_preset_edits_only_the_mask_and_pastes_back(server):
    image = radiograph((300, 200), 16)
    mask = box_mask(image.shape, (20, 40, 30, 60))
    results = backend(server).inpaint(variants(image, mask))

    assert server.edit_count == 1  # three variants, one call with n=3
    sent = server.edits[0]
    assert sent.problems == []
    assert sent.fields["n"] == "3"
    assert sent.fields["model"] == "gpt-image-1.5"
    assert sent.fields["size"] == "1024x1024"
    assert sent.fields["input_fidelity"] == "high"
    assert sent.fields["prompt"] == RECOMMENDED_PROMPT
    # native-resolution crop padded to 1024: the mask's alpha is 0 exactly on the artifact
    edit = sent.mask_alpha == 0
    assert edit.sum() == mask.array.sum()
    ys, xs = np.nonzero(edit)
    assert (ys.max() - ys.min() + 1, xs.max() - xs.min() + 1) == (20, 30)
    sent_grey = sent.image[..., 0].astype(np.float64) / 255
    top, left = ys.min() - 20, xs.min() - 30  # where the image sits in the window
    np.testing.assert_allclose(
        sent_grey[top : top + 300, left : left + 200], image.pixels, atol=0.5 / 255 + 1e-6
    )

    assert len(results) == 3
    for v, r in enumerate(results):
        assert r.image.shape == image.shape and r.image.bit_depth == 16
        assert np.array_equal(r.image.pixels[~mask.array], image.pixels[~mask.array])
        assert r.image.pixels[mask.array].mean() > 0.9  # the fake paints the edit bright
        assert r.compositing == "paste-back"
        assert "8-bit-roundtrip" in r.flags
        assert r.variant == v and r.case_id == "case-1"
        assert r.seed == variants(image, mask)[v].variant_seed
        assert r.prompt == RECOMMENDED_PROMPT
        assert r.extra["model"] == "gpt-image-1.5" and r.extra["call_images"] == 3
    assert not np.array_equal(results[0].image.pixels, results[1].image.pixels)


def test_study_preset_replays_the_protocol(server):
    image = radiograph((300, 220), 8)
    mask = box_mask(image.shape, (10, 30, 10, 40))
    inp = backend(server, preset="study", model="gpt-image-1.5")
    results = inp.inpaint(variants(image, mask))

    sent = server.edits[0]
    assert server.edit_count == 1 and sent.problems == []
    assert sent.fields["prompt"] == STUDY_PROMPT
    assert sent.fields["n"] == "3" and sent.fields["size"] == "1024x1024"
    assert "quality" not in sent.fields and "input_fidelity" not in sent.fields
    assert sent.image.shape == (1024, 1024, 3)  # squashed, aspect not kept
    assert (sent.mask_alpha == 255).all()  # fully opaque: nothing marked, all redrawn
    for r in results:
        assert r.image.shape == image.shape and r.image.bit_depth == 8
        assert r.compositing == "raw"
        assert {"8-bit-roundtrip", "squash", "whole-image-redrawn"} <= set(r.flags)
        outside = ~mask.array
        assert not np.allclose(r.image.pixels[outside], image.pixels[outside], atol=1 / 255)
        assert r.options["preset"] == "study" and r.options["model"] == "gpt-image-1.5"


def test_study_model_is_retired_with_a_clear_error(server):
    image = radiograph((64, 64))
    answers = backend(server, preset="study").inpaint(variants(image, Mask.full(image.shape)))
    assert all(isinstance(a, InpaintFailure) and a.fatal for a in answers)
    message = answers[0].error
    assert "gpt-image-1'" in message and "gpt-image-1.5" in message
    with pytest.raises(BatchFailedError, match=r"gpt-image-1\.5"):  # an error through the cache
        inpaint_cached(
            backend(server, preset="study"), variants(image, Mask.full(image.shape)), None
        )


def test_check_model_stops_before_any_edit(server):
    image = radiograph((64, 64))
    inp = backend(server, model="no-such-image-model", check_model=True)
    with pytest.raises(ModelUnavailableError, match="no-such-image-model"):
        inp.inpaint(variants(image, box_mask(image.shape, (5, 9, 5, 9)), k=1))
    assert server.model_gets == ["no-such-image-model"]
    assert server.edit_count == 0


def test_nothing_is_sent_without_opt_in(server, monkeypatch):
    image = radiograph((64, 64))
    reqs = variants(image, box_mask(image.shape, (5, 9, 5, 9)), k=1)
    with pytest.raises(ExternalUploadNotAllowedError) as info:
        backend(server, allow_external_upload=False).inpaint(reqs)
    assert "allow_external_upload=True" in str(info.value)
    assert ALLOW_UPLOAD_ENV in str(info.value)
    assert server.requests_total == 0
    monkeypatch.setenv(ALLOW_UPLOAD_ENV, "1")
    backend(server, size="256x256", allow_external_upload=False).inpaint(reqs)
    assert server.requests_total == 1


def test_only_pixels_leave(server):
    pixels = radiograph((80, 60)).pixels
    image = Radiograph(pixels, 16, source="/data/PATIENT_DOE_JOHN/hand.dcm")
    reqs = variants(image, box_mask(image.shape, (5, 15, 5, 15)), k=1, case_id="MRN-98765")
    backend(server, size="256x256").inpaint(reqs)
    sent = server.edits[0]
    assert sent.filenames == {"image": "image.png", "mask": "mask.png"}
    assert set(sent.image_chunks) == {"IHDR", "IDAT", "IEND"}  # no text, time, profile
    assert set(sent.mask_chunks) == {"IHDR", "IDAT", "IEND"}
    for secret in (b"PATIENT_DOE_JOHN", b"hand.dcm", b"MRN-98765"):
        assert secret not in sent.body
    assert sent.headers["authorization"] == f"Bearer {KEY}"  # the key went only here


def test_api_key_is_never_recorded(server, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    image = radiograph((64, 64))
    reqs = variants(image, box_mask(image.shape, (5, 20, 5, 20)), k=2)
    inp = backend(server, size="256x256", spend_ledger=str(tmp_path / "spend.jsonl"))
    cache = ResultCache(tmp_path / "cache")
    server.fail_next(500)  # a retry, so the retry log lines are exercised too
    results = inpaint_cached(inp, reqs, cache)
    texts = [repr(inp), json.dumps(inp.options()), caplog.text]
    texts += [json.dumps(r.to_record(), default=str) for r in results]
    for path in Path(tmp_path).rglob("*"):
        if path.is_file():
            texts.append(path.read_bytes().decode("latin-1"))
    assert len(texts) > 8
    assert not [t for t in texts if KEY in t]
    assert "api_key" not in inp.options()


def test_rerun_through_the_cache_sends_nothing(server, tmp_path):
    image = radiograph((64, 64))
    reqs = variants(image, box_mask(image.shape, (5, 20, 5, 20)))
    cache = ResultCache(tmp_path)
    first = inpaint_cached(backend(server, size="256x256"), reqs, cache)
    assert server.edit_count == 1
    again = inpaint_cached(
        backend(server, size="256x256", max_concurrency=2, max_images=0), reqs, cache
    )
    assert server.edit_count == 1  # operational options are not part of the key
    for a, b in zip(first, again, strict=True):
        assert np.array_equal(a.image.pixels, b.image.pixels)
        assert a.cost_usd == b.cost_usd


def test_cost_comes_from_usage_and_the_price_table(server):
    image = radiograph((64, 64))
    inp = backend(server, size="256x256", quality="low")
    results = inp.inpaint(variants(image, box_mask(image.shape, (5, 20, 5, 20)), k=2))
    usage = results[0].extra["usage"]
    expected = cost_from_usage(PRICES["gpt-image-1.5"], usage)
    assert usage["output_tokens"] == 2 * 272
    assert expected == pytest.approx(
        (usage["input_tokens_details"]["text_tokens"] * 5 + 323 * 8 + 544 * 32) / 1e6
    )
    assert sum(r.cost_usd for r in results) == pytest.approx(expected)
    assert inp.spent_usd == pytest.approx(expected) and inp.spent_images == 2
    assert results[0].extra["cost_source"] == "usage"


def test_estimate_and_dry_run_send_nothing(server, capsys):
    image_a, image_b = radiograph((64, 64), seed=1), radiograph((64, 64), seed=2)
    mask = box_mask((64, 64), (5, 20, 5, 20))
    reqs = variants(image_a, mask, case_id="a") + variants(image_b, mask, case_id="b")
    inp = backend(server, n=2, allow_external_upload=False)
    est = inp.estimate(reqs)
    assert (est.calls, est.images) == (4, 6)  # 3 variants in calls of 2, for two cases
    assert est.usd is not None and est.usd > 0
    actual = backend(server, n=2).inpaint(reqs)
    assert est.usd >= sum(r.cost_usd for r in actual)  # the estimate is pessimistic
    server.reset()

    dry = backend(server, n=2, allow_external_upload=False, dry_run=True).inpaint(reqs)
    assert server.requests_total == 0
    assert "4 call(s), 6 image(s)" in capsys.readouterr().err
    assert all("dry-run" in r.flags for r in dry)
    assert all(np.array_equal(r.image.pixels, image_a.pixels) for r in dry[:3])
    unknown = backend(server, model="some-new-model").estimate(reqs)
    assert unknown.usd is None and "unknown cost" in unknown.describe()


def test_empty_mask_returns_the_input_without_a_call(server):
    image = radiograph((64, 64))
    inp = backend(server)
    assert not inp.capabilities().edits_whole_image
    reqs = variants(image, Mask.empty(image.shape), k=2)
    assert (inp.estimate(reqs).calls, inp.estimate(reqs).images) == (0, 0)
    results = inp.inpaint(reqs)
    assert server.requests_total == 0 and server.images_generated == 0
    assert all(r.flags == ("empty-mask",) and r.image is image for r in results)
    assert inp.spent_images == 0


def test_study_preset_sends_an_empty_mask_like_any_other(server):
    # the study sent every radiograph: an image on which the mask provider found nothing
    # is redrawn whole like the others, not returned unchanged
    image = radiograph((64, 48), 12)
    marked = radiograph((64, 48), 12, seed=3)
    inp = backend(server, preset="study", model="gpt-image-1.5", size="256x256")
    caps = inp.capabilities()
    assert caps.edits_whole_image and caps.to_dict()["edits_whole_image"] is True
    reqs = [
        *variants(image, Mask.empty(image.shape), case_id="blank"),
        *variants(marked, box_mask(marked.shape, (5, 15, 5, 15)), case_id="marked"),
    ]
    estimate = inp.estimate(reqs)
    assert (estimate.calls, estimate.images) == (2, 6)  # the empty mask is counted

    results = inp.inpaint(reqs)
    # the server's own books: it generated the blank case's three images too
    assert len(server.generated) == 2 and server.images_generated == 6
    assert all((e.mask_alpha == 255).all() for e in server.edits)  # no mask sent, as always
    assert inp.spent_images == 6
    for r in results:
        assert not isinstance(r, InpaintFailure)
        assert "empty-mask" not in r.flags
        assert {"squash", "whole-image-redrawn"} <= set(r.flags)
        assert r.compositing == "raw" and r.cost_usd > 0
    blank = [r for r in results if r.case_id == "blank"]
    assert len(blank) == 3
    assert all(not np.array_equal(r.image.pixels, image.pixels) for r in blank)
    assert all(r.image.shape == image.shape and r.image.bit_depth == 12 for r in blank)


def test_study_preset_dry_run_counts_an_empty_mask(server, capsys):
    image = radiograph((64, 48))
    inp = backend(server, preset="study", model="gpt-image-1.5", dry_run=True)
    dry = inp.inpaint(variants(image, Mask.empty(image.shape)))
    assert server.requests_total == 0
    assert "1 call(s), 3 image(s)" in capsys.readouterr().err
    assert all(r.flags == ("dry-run",) for r in dry)


def test_study_preset_through_the_cache_sends_an_empty_mask_once(server, tmp_path):
    image = radiograph((64, 48))
    inp = backend(server, preset="study", model="gpt-image-1.5", size="256x256")
    reqs = variants(image, Mask.empty(image.shape))
    cache = ResultCache(tmp_path / "cache")
    first = inpaint_cached(inp, reqs, cache)
    assert server.images_generated == 3
    assert all("empty-mask" not in r.flags for r in first)
    again = inpaint_cached(inp, reqs, cache)
    assert server.images_generated == 3  # served from the cache, never paid twice
    assert all("empty-mask" not in r.flags for r in again)


def test_a_stored_empty_mask_shortcut_is_no_answer_for_the_study_preset(server, tmp_path):
    # an entry stored when the study preset still returned empty masks unchanged (nothing
    # was paid for it) must not stand in for the edit the study made
    from radinpaint.inpaint_calls import InpaintCalls
    from radinpaint.inpainters.base import unchanged_result
    from radinpaint.registry import capabilities_of

    image = radiograph((64, 48))
    inp = backend(server, preset="study", model="gpt-image-1.5", size="256x256")
    reqs = variants(image, Mask.empty(image.shape))
    cache = ResultCache(tmp_path / "cache")
    calls = InpaintCalls(inp, capabilities_of("inpainter", inp), cache, {})
    for r in reqs:
        cache.put(calls.key(r), unchanged_result(r, inp.name, inp.options(), "empty-mask"))
    results = inpaint_cached(inp, reqs, cache)
    assert server.images_generated == 3
    assert all("empty-mask" not in r.flags for r in results)


def test_study_preset_with_paste_back_keeps_the_empty_mask_shortcut(server):
    # pasting the original back over an empty mask would pay for the input itself
    image = radiograph((64, 48))
    inp = backend(server, preset="study", model="gpt-image-1.5", compositing="paste-back")
    assert not inp.capabilities().edits_whole_image
    results = inp.inpaint(variants(image, Mask.empty(image.shape)))
    assert server.requests_total == 0 and server.images_generated == 0
    assert all(r.flags == ("empty-mask",) for r in results)


@pytest.mark.parametrize("bit_depth", [8, 12, 16])
def test_bit_depth_and_shape_come_back(server, bit_depth):
    image = radiograph((90, 70), bit_depth)
    mask = box_mask(image.shape, (30, 50, 20, 40))
    (result,) = backend(server, size="256x256").inpaint(variants(image, mask, k=1))
    assert result.image.bit_depth == bit_depth and result.image.shape == (90, 70)
    assert np.array_equal(result.image.to_uint()[~mask.array], image.to_uint()[~mask.array])


def test_large_artifacts_pick_a_wider_size_and_resample(server):
    image = radiograph((1100, 1700), 16)
    mask = box_mask(image.shape, (100, 200, 50, 1650))  # spans more than 1024 wide
    (result,) = backend(server).inpaint(variants(image, mask, k=1))
    assert server.edits[0].fields["size"] == "1536x1024"
    assert "resampled" in result.flags
    assert np.array_equal(result.image.pixels[~mask.array], image.pixels[~mask.array])


def test_result_options_rebuild_the_same_backend(server):
    image = radiograph((64, 64))
    (result,) = backend(server, preset="study", model="gpt-image-1.5").inpaint(
        variants(image, Mask.full(image.shape), k=1)
    )
    rebuilt = get_inpainter("openai", **result.options)
    assert rebuilt.options() == dict(result.options)


def test_conformance_kit(server):
    from radinpaint.testing import check_inpainter

    ran = check_inpainter(backend(server, size="256x256"), paste_back=True)
    assert "outside-mask-exact" in ran and "seed-replay" in ran
    assert "empty-mask" in ran and "empty-mask-edited" not in ran
    study = backend(server, preset="study", model="gpt-image-1.5", size="256x256")
    server.reset()
    ran = check_inpainter(study, paste_back=False)
    # the study preset declares edits_whole_image: the kit's empty-mask request was sent
    # and edited (not flagged "empty-mask") rather than returned unchanged
    assert "record" in ran and "empty-mask-edited" in ran and "empty-mask" not in ran
    blank = [g for g in server.generated if g["n"] >= 1]
    assert server.images_generated >= 1 and blank


def test_sdk_environment_configuration_is_honoured(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment")
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    image = radiograph((64, 64))
    inp = get_inpainter("openai", allow_external_upload=True, size="256x256")
    (result,) = inp.inpaint(variants(image, box_mask(image.shape, (5, 20, 5, 20)), k=1))
    assert server.edits[0].headers["authorization"] == "Bearer sk-from-the-environment"
    assert result.options["base_url"] is None


def test_study_results_record_the_squash(server):
    image = radiograph((48, 64))
    answers = backend(server, preset="study", model="gpt-image-1.5", size="256x256").inpaint(
        variants(image, Mask.full(image.shape))
    )
    for res in answers:
        assert res.placement is not None
        assert (res.placement.mode, res.placement.backend_shape) == ("squash", (256, 256))
        assert res.placement.resamples and res.image.shape == (48, 64)
        # the squashed square as the service returned it is kept: the study scored it
        assert res.returned is not None and res.returned.shape == (256, 256)
        np.testing.assert_allclose(
            res.placement.from_backend(res.returned.pixels), res.image.pixels, atol=1e-6
        )


@pytest.mark.parametrize(
    "value", ["x", "30", 0, -5, float("nan"), float("inf"), True, None], ids=repr
)
def test_a_bad_timeout_fails_when_the_backend_is_built(value):
    from radinpaint.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="timeout") as info:
        get_inpainter("openai", timeout=value)
    assert "openai" in str(info.value) and info.value.fix


def test_a_good_timeout_is_kept():
    assert get_inpainter("openai", timeout=30).timeout == 30.0
    assert get_inpainter("openai", timeout=np.float32(0.5)).timeout == 0.5


def test_a_bad_timeout_never_reaches_the_network(server):
    from radinpaint.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="timeout"):
        backend(server, timeout="x")
    assert server.edit_count == 0
