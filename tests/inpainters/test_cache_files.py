"""The files radinpaint writes: the umask's permissions (not mkstemp's 0600), and temporary
files of killed writers swept without ever touching a live writer's."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import radinpaint.cache as cache_mod
from radinpaint.cache import ResultCache
from radinpaint.records import InpaintRequest, InpaintResult, Radiograph

from ._helpers import box_mask, radiograph


def _request(seed: int = 1) -> InpaintRequest:
    image = radiograph((24, 32))
    return InpaintRequest(image, box_mask(image.shape, (4, 12, 4, 20)), seed=seed, case_id="c")


def _result(request: InpaintRequest, returned: bool = True) -> InpaintResult:
    pixels = np.where(request.mask.array, 0.5, request.image.pixels).astype(np.float32)
    return InpaintResult(
        image=Radiograph(pixels, request.image.bit_depth),
        backend="paid",
        returned=Radiograph(np.full((8, 8), 0.25, np.float32), 16) if returned else None,
    )


@pytest.fixture
def umask():
    old = os.umask(0o022)

    def set_to(mask: int) -> None:
        os.umask(mask)

    yield set_to
    os.umask(old)


def _modes(paths) -> set[int]:
    return {stat.S_IMODE(p.stat().st_mode) for p in paths}


@pytest.mark.parametrize(
    ("mask", "mode"),
    [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)],
    ids=["umask-022", "umask-002", "umask-077"],
)
def test_cache_files_honour_the_umask(tmp_path, umask, mask, mode):
    umask(mask)
    cache = ResultCache(tmp_path)
    req = _request()
    cache.put(cache.key("paid", {}, req), _result(req))
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) == 3  # the JSON, the image and the returned frame
    assert _modes(files) == {mode}


def test_written_images_and_checkpoint_files_honour_the_umask(tmp_path, umask):
    from radinpaint.io import write_image

    umask(0o022)
    image = radiograph((16, 16))
    written = [write_image(tmp_path / "out.png", image), write_image(tmp_path / "out.tif", image)]
    try:
        from radinpaint.inpainters.gan.checkpoint import write_json
    except ImportError:  # the GAN's optional libraries
        pass
    else:
        write_json(tmp_path / "config.json", {"a": 1})
        written.append(tmp_path / "config.json")
    assert _modes(written) == {0o644}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in written)


# -- temporary files of killed writers -------------------------------------------------------


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _temp(folder: Path, name: str, age: float) -> Path:
    path = folder / name
    path.write_bytes(b"half of a file")
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def test_the_first_put_into_a_folder_sweeps_what_killed_writers_left(tmp_path):
    cache = ResultCache(tmp_path)
    req = _request()
    key = cache.key("paid", {}, req)
    folder = tmp_path / key[:2]
    folder.mkdir()
    host, old, young = cache_mod._host(), 2 * cache_mod.STALE_TEMP_SECONDS, 5.0
    dead = _dead_pid()
    gone = [
        _temp(folder, f".{key}.json.{host}.{dead}.0a1b2c3d.tmp", old),  # this host, dead
        _temp(folder, f".{key}.json.other-host.{os.getpid()}.0a1b2c3d.tmp", old),  # elsewhere
        _temp(folder, f".{key}.json.k2x9_q0a.tmp", old),  # mkstemp's names (earlier versions)
    ]
    kept = [
        _temp(folder, f".{key}.json.{host}.{os.getpid()}.0a1b2c3d.tmp", old),  # alive: this one
        _temp(folder, f".{key}.json.{host}.{os.getppid()}.0a1b2c3d.tmp", old),  # alive: parent
        _temp(folder, f".{key}.json.{host}.{dead}.1a1b2c3d.tmp", young),  # may be a pause
        _temp(folder, f".{key}.json.other-host.1.0a1b2c3d.tmp", young),
        _temp(folder, ".notes", old),  # not a temporary file
        _temp(folder, f"{key}.json.tmp", old),  # not one of ours either (no leading dot)
    ]
    (folder / ".a-folder.tmp").mkdir()
    kept.append(folder / ".a-folder.tmp")

    cache.put(key, _result(req))
    assert [p.name for p in gone if p.exists()] == []
    assert [p.name for p in kept if not p.exists()] == []
    assert cache.get(key) is not None


def test_a_folder_is_swept_once_per_cache_object(tmp_path, monkeypatch):
    swept = []
    monkeypatch.setattr(cache_mod, "_remove_stale_temps", lambda folder: swept.append(folder))
    cache = ResultCache(tmp_path)
    for seed in range(6):
        req = _request(seed)
        cache.put(cache.key("paid", {}, req), _result(req))
    assert len(swept) == len(set(swept)) == len(list(tmp_path.iterdir()))


def test_temporary_names_say_which_process_of_which_host_writes(tmp_path):
    fd, path = cache_mod._create_temp(tmp_path, "x.json")
    os.close(fd)
    m = cache_mod._TEMP_NAME.fullmatch(Path(path).name)
    assert m is not None and m["target"] == "x.json" and m["suffix"] == ".tmp"
    assert m["host"] == cache_mod._host() and int(m["pid"]) == os.getpid()


def test_a_temporary_file_taken_before_its_move_is_written_again(tmp_path, monkeypatch):
    real = os.replace
    taken = []

    def replace(src, dst):
        if not taken:  # a sweep took the first one
            taken.append(src)
            os.unlink(src)
        return real(src, dst)

    monkeypatch.setattr(cache_mod.os, "replace", replace)
    cache = ResultCache(tmp_path)
    req = _request()
    key = cache.key("paid", {}, req)
    cache.put(key, _result(req))
    monkeypatch.undo()
    assert taken and cache.get(key) is not None
    assert not list(tmp_path.glob("??/.*.tmp"))


def test_a_folder_in_the_place_of_the_entry_is_moved_aside_not_deleted(tmp_path):
    cache = ResultCache(tmp_path)
    req = _request()
    key = cache.key("paid", {}, req)
    meta = tmp_path / key[:2] / f"{key}.json"
    meta.mkdir(parents=True)
    (meta / "notes.txt").write_text("someone's notes")
    assert cache.get(key) is None
    cache.put(key, _result(req))
    assert cache.get(key) is not None
    (aside,) = meta.parent.glob(f"{key}.json.damaged-*")
    assert (aside / "notes.txt").read_text() == "someone's notes"
    assert len(cache) == 1
