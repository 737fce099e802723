"""Records hash their content once and share read-only pixels instead of copying them."""

from __future__ import annotations

import hashlib
import pickle
import types

import attrs
import numpy as np
import pytest

from radinpaint import records
from radinpaint.records import Mask, Radiograph


def _image(shape=(6, 7)) -> Radiograph:
    return Radiograph.from_float(np.linspace(0, 1, shape[0] * shape[1]).reshape(shape), 12)


@pytest.fixture
def sha256_calls(monkeypatch):
    """Count the SHA-256 objects the records module creates."""
    calls: list[int] = []

    def counting(*args, **kwargs):
        calls.append(1)
        return hashlib.sha256(*args, **kwargs)

    monkeypatch.setattr(records, "hashlib", types.SimpleNamespace(sha256=counting))
    return calls


def test_radiograph_hash_is_computed_once(sha256_calls):
    image = _image()
    first = image.content_hash()
    assert all(image.content_hash() == first for _ in range(5))
    assert len(sha256_calls) == 1


def test_mask_hash_is_computed_once(sha256_calls):
    mask = Mask(np.eye(5, dtype=bool), "m")
    first = mask.content_hash()
    assert all(mask.content_hash() == first for _ in range(5))
    assert len(sha256_calls) == 1


def test_memoized_hash_equals_a_fresh_one_and_stays_out_of_repr():
    image = _image()
    fresh = _image()
    image.content_hash()
    assert image.content_hash() == fresh.content_hash()
    assert "hash" not in repr(image) and "hash" not in repr(Mask.empty((2, 2)))
    # a record built from another does not inherit a stale hash
    other = image.with_pixels(np.zeros(image.shape, np.float32))
    assert other.content_hash() != image.content_hash()
    assert other.content_hash() == Radiograph(np.zeros(image.shape, np.float32), 12).content_hash()


def test_memoized_hash_survives_pickling():
    image = _image()
    h = image.content_hash()
    back = pickle.loads(pickle.dumps(image))
    assert back.content_hash() == h
    np.testing.assert_array_equal(back.pixels, image.pixels)


def test_evolving_a_record_shares_its_pixels():
    image = _image()
    renamed = attrs.evolve(image, source="elsewhere")
    assert np.shares_memory(renamed.pixels, image.pixels)
    same = image.with_pixels(image.pixels)
    assert np.shares_memory(same.pixels, image.pixels)
    mask = Mask(np.eye(4, dtype=bool), "m")
    assert np.shares_memory(attrs.evolve(mask, source="n").array, mask.array)
    assert np.shares_memory(Mask.from_array(mask.array).array, mask.array)


def test_writable_inputs_are_still_copied():
    pixels = np.full((3, 3), 0.5, np.float32)
    image = Radiograph(pixels)
    assert not np.shares_memory(image.pixels, pixels)
    pixels[0, 0] = 1.0
    assert image.pixels[0, 0] == np.float32(0.5)
    bits = np.zeros((3, 3), bool)
    mask = Mask(bits)
    bits[1, 1] = True
    assert mask.is_empty


def test_read_only_views_of_writable_arrays_are_copied():
    owner = np.full((4, 4), 0.25, np.float32)
    view = owner.view()
    view.setflags(write=False)
    image = Radiograph(view)
    assert not np.shares_memory(image.pixels, owner)
    owner[:] = 1.0
    assert float(image.pixels.max()) == 0.25


def test_only_safe_read_only_arrays_are_shared():
    owned = np.full((4, 4), 0.5, np.float32)
    owned.setflags(write=False)
    assert np.shares_memory(Radiograph(owned).pixels, owned)  # read-only and its own owner
    not_contiguous = np.full((4, 8), 0.5, np.float32)
    not_contiguous.setflags(write=False)
    assert not np.shares_memory(Radiograph(not_contiguous[:, ::2]).pixels, not_contiguous)
    buffer = bytearray(np.full((2, 2), 0.5, np.float32).tobytes())
    from_buffer = np.frombuffer(buffer, np.float32).reshape(2, 2)
    from_buffer.setflags(write=False)
    image = Radiograph(from_buffer)
    buffer[:4] = np.float32(1.0).tobytes()
    assert float(image.pixels[0, 0]) == 0.5


def test_pixels_stay_read_only():
    image = _image()
    with pytest.raises(ValueError):
        image.pixels[0, 0] = 0.0
    with pytest.raises(ValueError):
        attrs.evolve(image, source="x").pixels[0, 0] = 0.0
