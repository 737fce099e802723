"""Fingerprints of files and values: names count, bytes count, unchanged files are not re-read."""

from __future__ import annotations

import os
import shutil
import time

import pytest

from radinpaint import fingerprint as fp_module
from radinpaint.errors import InvalidInputError, ModelUnavailableError
from radinpaint.fingerprint import (
    clear_fingerprint_memo,
    file_sha256,
    fingerprint_files,
    fingerprint_value,
)


def _age(path, seconds: float = 60.0) -> None:
    """Date a file back, as a weights file written long ago."""
    past = time.time() - seconds
    os.utime(path, (past, past))


@pytest.fixture
def weights(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "a.safetensors").write_bytes(b"\x01" * 5000)
    (folder / "a.json").write_text('{"widths": [8, 16]}')
    for p in folder.iterdir():
        _age(p)
    return folder


def test_bytes_and_names_count_but_the_location_does_not(weights, tmp_path) -> None:
    files = [weights / "a.safetensors", weights / "a.json"]
    first = fingerprint_files(files)
    assert len(first) == 64
    assert fingerprint_files(list(reversed(files))) == first  # order of the list is irrelevant
    copy = shutil.copytree(weights, tmp_path / "elsewhere")
    assert fingerprint_files([copy / "a.safetensors", copy / "a.json"]) == first

    (weights / "a.safetensors").rename(weights / "b.safetensors")
    renamed = fingerprint_files([weights / "b.safetensors", weights / "a.json"])
    assert renamed != first

    data = bytearray((weights / "b.safetensors").read_bytes())
    data[1234] ^= 0xFF
    (weights / "b.safetensors").write_bytes(bytes(data))
    assert fingerprint_files([weights / "b.safetensors", weights / "a.json"]) != renamed


def test_a_folder_is_every_file_inside_it(weights) -> None:
    whole = fingerprint_files([weights])
    (weights / ".cache").mkdir()
    (weights / ".cache" / "lock").write_text("x")  # hidden files do not count
    assert fingerprint_files(weights) == whole
    (weights / "sub").mkdir()
    (weights / "sub" / "tokenizer.json").write_text("{}")
    assert fingerprint_files([weights]) != whole


def test_unchanged_files_are_not_read_again(weights, monkeypatch) -> None:
    clear_fingerprint_memo()
    path = weights / "a.safetensors"
    first = file_sha256(path)
    whole = fingerprint_files([weights])

    def no_reading(*args, **kwargs):
        raise AssertionError("an unchanged file was read again")

    monkeypatch.setattr(fp_module, "open", no_reading, raising=False)
    assert file_sha256(path) == first
    assert fingerprint_files([weights]) == whole
    monkeypatch.undo()

    path.write_bytes(b"\x02" * 5000)  # same size, new content: read again
    _age(path, 30.0)
    assert file_sha256(path) != first


def test_missing_files_and_empty_lists_fail_clearly(tmp_path) -> None:
    with pytest.raises(ModelUnavailableError, match="does not exist"):
        fingerprint_files([tmp_path / "nope.safetensors"])
    with pytest.raises(InvalidInputError, match="at least one file"):
        fingerprint_files([])


def test_values_hash_canonically() -> None:
    a = fingerprint_value({"model": "org/name", "revision": "abc", "size": (512, 512)})
    b = fingerprint_value({"size": [512, 512], "revision": "abc", "model": "org/name"})
    assert a == b and len(a) == 64
    assert fingerprint_value({"model": "org/name", "revision": "abd", "size": [512, 512]}) != a
    assert fingerprint_value("x", 1) != fingerprint_value("x", 2)
    assert fingerprint_value(1) != fingerprint_value(1.5)
    with pytest.raises(InvalidInputError, match="cannot hash"):
        fingerprint_value(object())
