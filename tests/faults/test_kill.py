"""Kill -9 fault injection: ``radinpaint run`` SIGKILLed at chosen points, then rerun.

Three backend settings: (a) classical, ``identity`` + ``telea``; (b) ``gan`` with its
shipped weights; (c) ``openai`` (study preset, ``n=3`` images per call) against the fake
images API, which runs in its own process so that its books survive the client's death.
For each, an undisturbed run is the reference. Each kill point starts the same run into a
fresh output folder and cache, SIGKILLs its process group at a point keyed to observable
progress (cache entries, prediction lines, the fake server's books) or after a seeded random
delay, reruns the same command to completion over the same folders, and checks:

1. the rerun's table, sorted (key, labels, predictions and ``error``, as ``results.csv``
   writes them, so float for float), equals the undisturbed run's;
2. the rerun computed exactly what the cache lacked after the kill, no more (inpainting and
   predictions), and left the cache complete: every entry readable, the same entries as the
   undisturbed run's, whatever partial files the kill left behind;
3. openai, from the server's books (what it generated, not what the client believes). Let
   ``S(c)`` be the variants of case ``c`` stored in the cache when the killed run died,
   ``K(c)`` the images the server generated for ``c`` for the killed run, ``R(c)`` for the
   rerun. Then ``R(c) == 3 - S(c)`` for every case: an image delivered and stored is never
   paid again, and nothing else is paid. The images in flight at the kill (generated, not
   stored) are ``F = sum(K(c) - S(c))``, from at most the calls the client had in flight:
   ``2 x max_concurrency`` here (``workers=2`` threads per chunk, two chunks inpainted
   ahead; at most ``max_concurrency`` of them inside the backend, the others storing an
   answer), so ``F <= 3 x 2 x max_concurrency``; the images paid twice,
   ``sum(max(0, K(c) + R(c) - 3))``, are at most ``F``; and ``sum(K) + sum(R)`` is at most
   the undisturbed run's count plus ``F``. The client's own account of the rerun
   (``images_paid``, from its spend ledger) equals the server's. The kill point
   ``paid-undelivered`` makes the server hold each generated answer before writing it back
   and kills while one is held: paid, never delivered, so paid again by the rerun.

For the openai setting, a case whose call was stored only in part when the run died (killed
between the variants' cache writes) gets its missing variants from a new call with a
smaller ``n``; the fake server draws variant ``k`` of a call as image ``k`` of that call, so
those re-paid variants differ from the undisturbed run's (as any stochastic service's
would). Their rows are checked for presence and no error, not for equal values.

Tables are compared float for float: an image's prediction does not depend on which
images share its batch (the ensemble runs passes of one fixed size), so the order in which
a rerun or an API's answers bring the images to the predictor changes nothing.

The runs are forked from a server that imported the heavy libraries once
(``_zygote.py``): each is ``radinpaint.cli.main(["run", ...])`` in its own process and
session, as ``python -m radinpaint run`` would be, without paying the imports per run.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from radinpaint.cache import ResultCache
from radinpaint.evaluation.schema import KEY_COLUMNS, TABLE_COLUMNS

pytestmark = pytest.mark.faults

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
COMPARED = [*TABLE_COLUMNS, "error"]
MODEL = "gpt-image-1.5"
MAX_CONCURRENCY = 2
PER_CALL = 3
API_LATENCY = 0.3
DELIVER_DELAY = 0.8
RUN_TIMEOUT = 300.0
API_ENV = {"OPENAI_API_KEY": "sk-fault-test-not-a-key", "RADINPAINT_ALLOW_EXTERNAL_UPLOAD": "1"}


# -- the settings and the kill points ----------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """One backend setting: what ``radinpaint run`` is given."""

    name: str
    data: str
    inpainters: tuple[Any, ...]
    variants: int
    seed: int
    api: bool = False

    def config(self, base_url: str | None) -> dict[str, Any]:
        inpainters = []
        for entry in self.inpainters:
            if isinstance(entry, dict) and entry.get("name") == "openai":
                entry = {**entry, "options": {**entry["options"], "base_url": base_url}}
            inpainters.append(entry)
        return {
            "inpainters": inpainters,
            "predictors": ["phantom-ensemble"],
            "variants": self.variants,
            "chunk_size": 2,
            "predict_batch_size": 2,
            "metrics": ["consistency"],
            "workers": 2,
        }


OPENAI = {
    "name": "openai",
    "label": "openai-study",
    "options": {
        "preset": "study",
        "model": MODEL,
        "size": "256x256",  # the study's squash, at a size the fake server makes quickly
        "max_concurrency": MAX_CONCURRENCY,
        "timeout": 120.0,
        "max_retries": 2,
    },
}

SETTINGS = {
    "classical": Setting("classical", "phantom:6:96", ("identity", "telea"), 2, 11),
    "gan": Setting("gan", "phantom:4:96", ("gan:batch_size=1",), 2, 12),
    "openai": Setting("openai", "phantom:4:96", (OPENAI,), PER_CALL, 13, api=True),
}

_rng = np.random.default_rng(20260611)
_DELAYS = {name: float(f) for name, f in zip(SETTINGS, _rng.uniform(0.3, 0.75, 3), strict=True)}


@dataclass(frozen=True)
class KillPoint:
    """When to kill: ``kind`` ``entries`` (at least ``k`` result-cache entries),
    ``predictions`` (at least ``k`` prediction-cache lines; ``k=0``: every prediction of
    the undisturbed run), ``delay`` (``frac`` of the undisturbed run's wall time after the
    start) or ``unsent`` (the fake server generated a call's images and has not delivered
    them yet)."""

    setting: str
    name: str
    kind: str
    k: int = 0
    frac: float = 0.0
    slow: bool = False

    @property
    def id(self) -> str:
        return f"{self.setting}-{self.name}"


KILL_POINTS = [
    KillPoint("classical", "first-entry", "entries", k=1),
    KillPoint("classical", "5-entries", "entries", k=5),
    KillPoint("classical", "first-predictions", "predictions", k=1),
    KillPoint("classical", "all-predicted", "predictions", k=0),
    KillPoint("classical", "random-delay", "delay", frac=_DELAYS["classical"]),
    KillPoint("gan", "first-entry", "entries", k=1),
    KillPoint("gan", "mid-prediction", "predictions", k=1),
    KillPoint("gan", "random-delay", "delay", frac=_DELAYS["gan"], slow=True),
    KillPoint("openai", "first-entry", "entries", k=1),
    KillPoint("openai", "6-entries", "entries", k=6),
    KillPoint("openai", "paid-undelivered", "unsent", slow=True),
    KillPoint("openai", "random-delay", "delay", frac=_DELAYS["openai"], slow=True),
]


# -- the fork server and the fake API ------------------------------------------------------


def _base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "RADINPAINT_"))}
    env.update(
        RADINPAINT_PLUGINS="",
        OMP_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        PYTHONUNBUFFERED="1",
    )
    return env


def _stop(proc: subprocess.Popen) -> None:
    """Let a helper process end once its standard input is closed, else end it."""
    try:
        proc.wait(timeout=2)
    except subprocess.TimeoutExpired:
        proc.terminate()
        proc.wait(timeout=30)


class Zygote:
    """The fork server (``_zygote.py``): one ``radinpaint run`` child at a time."""

    def __init__(self, log: Path) -> None:
        self._err = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "_zygote.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._err,
            text=True,
            env=_base_env(),
            cwd=ROOT,
        )
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        assert self.next(RUN_TIMEOUT).get("ready"), "the fork server did not start"

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))
        self.lines.put({"eof": True})

    def next(self, timeout: float) -> dict[str, Any]:
        try:
            message = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"the fork server said nothing for {timeout} s") from None
        assert not message.get("eof"), "the fork server died"
        return message

    def start(self, argv: list[str], log: Path, env: dict[str, str] | None = None) -> int:
        assert self.proc.stdin is not None
        job = {"argv": argv, "log": str(log), "env": env or {}}
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        return int(self.next(60.0)["pid"])

    def poll(self) -> int | None:
        """The exit code of the running child, if it ended."""
        try:
            message = self.lines.get_nowait()
        except queue.Empty:
            return None
        assert not message.get("eof"), "the fork server died"
        return int(message["rc"])

    def wait(self, timeout: float = RUN_TIMEOUT) -> int:
        return int(self.next(timeout)["rc"])

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        _stop(self.proc)
        self._err.close()


class FakeApi:
    """The fake images API in its own process (``_fake_api.py``)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "_fake_api.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=_base_env(),
            cwd=ROOT,
        )
        assert self.proc.stdout is not None
        self.base_url = self.proc.stdout.readline().strip()
        assert self.base_url.startswith("http://127.0.0.1:"), "the fake API did not start"
        self.configure(latency=API_LATENCY, deliver_delay=0.0)

    def get(self, route: str) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.base_url}/{route}", timeout=30) as answer:
            return dict(json.loads(answer.read()))

    def configure(self, **settings: float) -> None:
        self.get("_config?" + "&".join(f"{k}={v}" for k, v in settings.items()))

    def books(self) -> dict[str, Any]:
        return self.get("_books")

    def settled(self, timeout: float = 60.0) -> list[dict[str, Any]]:
        """Every generated call, once no request is being answered any more (a killed
        client's requests end as abandoned, or generated if they got that far)."""
        deadline = time.monotonic() + timeout
        quiet_since = None
        while time.monotonic() < deadline:
            books = self.books()
            busy = books["in_flight"] or books["delivering"]
            if busy:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > 0.3:
                return list(books["generated"])
            time.sleep(0.05)
        raise AssertionError("the fake API kept answering requests of a dead client")

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        _stop(self.proc)


# -- what a run left ----------------------------------------------------------------------


def cache_entries(cache: Path) -> dict[str, Any]:
    """Readable result-cache entries: key -> InpaintResult (read only)."""
    store = ResultCache(cache / "inpaint")
    out = {}
    for meta in (cache / "inpaint").glob("??/*.json"):
        result = store.get(meta.stem)
        if result is not None:
            out[meta.stem] = result
    return out


def count_entries(cache: Path) -> int:
    return sum(1 for _ in (cache / "inpaint").glob("??/*.json"))


def prediction_keys(cache: Path) -> set[str]:
    """Keys of the whole lines of the prediction cache (read only, a torn line skipped)."""
    keys = set()
    for path in (cache / "predictions").glob("*.jsonl"):
        for line in path.read_bytes().split(b"\n"):
            with contextlib.suppress(ValueError, KeyError, TypeError):
                keys.add(json.loads(line)["key"])
    return keys


def count_prediction_lines(cache: Path) -> int:
    return sum(p.read_bytes().count(b"\n") for p in (cache / "predictions").glob("*.jsonl"))


def orphans(cache: Path) -> dict[str, int]:
    """Files a kill left that no entry uses: temporary files, pixel files without a JSON."""
    folder = cache / "inpaint"
    named = {meta.stem for meta in folder.glob("??/*.json")}
    tmp = [p for p in folder.glob("??/.*.tmp")]
    npy = [p for p in folder.glob("??/*.np?") if p.name.split(".")[0] not in named]
    return {"tmp": len(tmp), "npy_without_entry": len(npy)}


def read_table(out: Path) -> pd.DataFrame:
    """The compared columns of ``results.csv`` as text, sorted by the row key."""
    table = pd.read_csv(out / "results.csv", dtype=str, keep_default_na=False)
    return table[COMPARED].sort_values(list(KEY_COLUMNS)).reset_index(drop=True)


def read_counts(out: Path) -> dict[str, Any]:
    return dict(json.loads((out / "manifest.json").read_text())["counts"])


@dataclass
class Reference:
    """The undisturbed run of a setting."""

    table: pd.DataFrame
    entries: set[str]
    predictions: set[str]
    seconds: float
    files: set[str]
    generated: list[dict[str, Any]] = field(default_factory=list)
    fingerprint: dict[str, str] = field(default_factory=dict)  # case id -> server's key


class Runs:
    """Starts runs of the settings, the undisturbed ones once per setting."""

    def __init__(self, zygote: Zygote, api: FakeApi, root: Path) -> None:
        self.zygote, self.api, self.root = zygote, api, root
        self.references: dict[str, Reference] = {}

    def argv(self, setting: Setting, where: Path) -> list[str]:
        where.mkdir(parents=True, exist_ok=True)
        config = where / "config.json"
        config.write_text(json.dumps(setting.config(self.api.base_url)))
        return [
            "run",
            "--config",
            str(config),
            "--data",
            setting.data,
            "--seed",
            str(setting.seed),
            "--n-resamples",
            "20",
            "--out",
            str(where / "out"),
            "--cache",
            str(where / "cache"),
            "--no-progress",
            "--format",
            "csv,json",
        ]

    def env(self, setting: Setting) -> dict[str, str]:
        return dict(API_ENV) if setting.api else {}

    def complete(self, setting: Setting, where: Path, log: str) -> float:
        """Run to the end; the wall seconds."""
        started = time.monotonic()
        self.zygote.start(self.argv(setting, where), where / log, self.env(setting))
        rc = self.zygote.wait()
        seconds = time.monotonic() - started
        assert rc == 0, (where / log).read_text()[-4000:]
        return seconds

    def reference(self, setting: Setting) -> Reference:
        if setting.name in self.references:
            return self.references[setting.name]
        where = self.root / f"reference-{setting.name}"
        first = len(self.api.books()["generated"])
        seconds = self.complete(setting, where, "run.log")
        cache, out = where / "cache", where / "out"
        ref = Reference(
            table=read_table(out),
            entries=set(cache_entries(cache)),
            predictions=prediction_keys(cache),
            seconds=seconds,
            files={p.name for p in out.iterdir() if p.is_file()},
        )
        counts = read_counts(out)
        assert counts["inpaint_computed"] == len(ref.entries) > 0
        assert counts["predict_computed"] == len(ref.predictions) > 0
        assert counts["failures"] == 0 and counts["rows_with_error"] == 0
        if setting.api:
            ref.generated = self.api.settled()[first:]
            ref.fingerprint = self.fingerprints(setting)
            paid = collections.Counter()
            for call in ref.generated:
                paid[call["request"]] += call["n"]
            cases = len(ref.fingerprint)
            assert {call["n"] for call in ref.generated} == {PER_CALL}
            assert sorted(paid.values()) == [PER_CALL] * cases
            assert set(paid) == set(ref.fingerprint.values())
            assert counts["images_paid"] == PER_CALL * cases == len(ref.entries)
        self.references[setting.name] = ref
        return ref

    def fingerprints(self, setting: Setting) -> dict[str, str]:
        """Case id -> the fake server's key for that case's call: each case's image sent
        once, in this process, by the same backend on the same server (no latency)."""
        from radinpaint.cli.run import data_spec
        from radinpaint.evaluation.config import dataset_from_config
        from radinpaint.inpainters.openai.backend import OpenAIInpainter
        from radinpaint.records import InpaintRequest

        options = setting.config(self.api.base_url)["inpainters"][0]["options"]
        backend = OpenAIInpainter(
            **options, api_key=API_ENV["OPENAI_API_KEY"], allow_external_upload=True
        )
        dataset = dataset_from_config(data_spec(setting.data, seed=setting.seed))
        out = {}
        self.api.configure(latency=0.0)
        try:
            for case in dataset:
                before = len(self.api.books()["generated"])
                request = InpaintRequest(case.image, case.artifact_mask, case_id=case.id)
                (result,) = backend.inpaint([request])
                assert getattr(result, "image", None) is not None, result
                calls = self.api.books()["generated"][before:]  # booked before answering
                assert len(calls) == 1, calls
                out[case.id] = calls[0]["request"]
        finally:
            self.api.configure(latency=API_LATENCY)
        assert len(set(out.values())) == len(out), "two cases share the server's key"
        return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    root = tmp_path_factory.mktemp("kill")
    zygote = Zygote(root / "zygote.log")
    api = FakeApi()
    try:
        yield Runs(zygote, api, root)
    finally:
        zygote.close()
        api.close()


# -- the kill -----------------------------------------------------------------------------


def condition(point: KillPoint, ref: Reference, cache: Path, api: FakeApi, first: int):
    """The predicate that says the kill point is reached."""
    if point.kind == "entries":
        return lambda elapsed: count_entries(cache) >= point.k
    if point.kind == "predictions":
        k = point.k or len(ref.predictions)
        return lambda elapsed: count_prediction_lines(cache) >= k
    if point.kind == "delay":
        return lambda elapsed: elapsed >= point.frac * ref.seconds
    if point.kind == "unsent":
        return lambda elapsed: any(not g["sent"] for g in api.books()["generated"][first:])
    raise AssertionError(point.kind)


def kill_when(
    zygote: Zygote, pid: int, reached: Callable[[float], bool], poll: float = 0.003
) -> tuple[int, float]:
    """SIGKILL the child's process group once ``reached``; its exit code and when (s)."""
    started = time.monotonic()
    while time.monotonic() - started < RUN_TIMEOUT:
        rc = zygote.poll()
        if rc is not None:
            return rc, time.monotonic() - started  # it ended before the kill point
        if reached(time.monotonic() - started):
            at = time.monotonic() - started
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:  # not yet its own group leader
                os.kill(pid, signal.SIGKILL)
            return zygote.wait(), at
        time.sleep(poll)
    with contextlib.suppress(ProcessLookupError):  # leave the fork server free for the rest
        os.killpg(pid, signal.SIGKILL)
    zygote.wait()
    raise AssertionError("the kill point was never reached")


# -- the test -----------------------------------------------------------------------------


class Stats:
    """What each kill found, appended to ``stats.jsonl`` in the run folder (nothing printed)."""

    def __init__(self, path: Path, case: str) -> None:
        self.path, self.case = path, case

    def add(self, name: str, value: object) -> None:
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps({"case": self.case, name: value}) + "\n")


PREDICTIONS = ["pred_bone_age", "pred_p_male", "orig_pred_bone_age", "orig_pred_p_male"]


def assert_same_table(table: pd.DataFrame, ref: pd.DataFrame) -> None:
    """Equal as written, float for float."""
    pd.testing.assert_frame_equal(table, ref, check_exact=True)


def _params() -> list[Any]:
    return [
        pytest.param(p, id=p.id, marks=[pytest.mark.slow] if p.slow else []) for p in KILL_POINTS
    ]


@pytest.mark.parametrize("point", _params())
def test_killed_run_reruns_to_the_undisturbed_result(point: KillPoint, runs: Runs) -> None:
    setting = SETTINGS[point.setting]
    if setting.api:
        pytest.importorskip("openai")
    ref = runs.reference(setting)
    where = runs.root / point.id
    stats = Stats(runs.root / "stats.jsonl", point.id)
    cache, out = where / "cache", where / "out"
    api = runs.api

    # the killed run
    first = len(api.books()["generated"]) if setting.api else 0
    if point.kind == "unsent":
        api.configure(deliver_delay=DELIVER_DELAY)
    try:
        pid = runs.zygote.start(runs.argv(setting, where), where / "killed.log", runs.env(setting))
        reached = condition(point, ref, cache, api, first)
        poll = 0.01 if point.kind == "unsent" else 0.003  # the server's books, over HTTP
        rc, at = kill_when(runs.zygote, pid, reached, poll)
    finally:
        if point.kind == "unsent":
            api.configure(deliver_delay=0.0)
    assert rc == -signal.SIGKILL, f"the run ended (rc {rc}) before the kill point {point.id}"

    # what the kill left
    stored = cache_entries(cache)
    stored_predictions = prediction_keys(cache)
    assert set(stored) <= ref.entries, "the killed run stored entries the reference lacks"
    if not setting.api:
        assert stored_predictions <= ref.predictions
    killed_calls = api.settled()[first:] if setting.api else []
    stats.add("killed_at_s", round(at, 3))
    stats.add("entries_at_kill", f"{len(stored)}/{len(ref.entries)}")
    stats.add("predictions_at_kill", f"{len(stored_predictions)}/{len(ref.predictions)}")
    stats.add("orphans_at_kill", orphans(cache))
    middle = len(api.books()["generated"]) if setting.api else 0

    # the rerun, over the same output folder and cache
    runs.complete(setting, where, "rerun.log")
    counts = read_counts(out)
    table = read_table(out)

    # the cache is complete and readable, whatever partial files the kill left
    final = cache_entries(cache)
    assert count_entries(cache) == len(final), "an unreadable entry is left in the cache"
    assert set(final) == ref.entries
    final_predictions = prediction_keys(cache)
    assert final_predictions >= stored_predictions
    # only the work missing after the kill was redone
    assert counts["inpaint_computed"] == len(ref.entries) - len(stored)
    assert counts["inpaint_cached"] == len(stored)
    assert counts["predict_computed"] == len(final_predictions - stored_predictions)
    assert counts["failures"] == 0 and counts["rows_with_error"] == 0
    assert {p.name for p in out.iterdir() if p.is_file()} == ref.files

    if not setting.api:
        assert final_predictions == ref.predictions
        assert_same_table(table, ref.table)
        return

    # openai: the server's books
    rerun_calls = api.settled()[middle:]
    case_of = {fp: case for case, fp in ref.fingerprint.items()}
    kept = collections.Counter(str(r.case_id) for r in stored.values())
    killed_paid: collections.Counter[str] = collections.Counter()
    rerun_paid: collections.Counter[str] = collections.Counter()
    for call in killed_calls:
        killed_paid[case_of[call["request"]]] += call["n"]
    for call in rerun_calls:
        rerun_paid[case_of[call["request"]]] += call["n"]
    # no call generated twice within one run
    assert len({c["request"] for c in killed_calls}) == len(killed_calls)
    assert len({c["request"] for c in rerun_calls}) == len(rerun_calls)
    in_flight_calls = 0
    for case in ref.fingerprint:
        assert kept[case] <= killed_paid[case] <= PER_CALL  # nothing stored unpaid
        # never paid again once stored, and nothing else paid: exactly what was missing
        assert rerun_paid[case] == PER_CALL - kept[case], case
        in_flight_calls += killed_paid[case] > kept[case]
    in_flight = sum(killed_paid[c] - kept[c] for c in ref.fingerprint)
    total = sum(killed_paid.values()) + sum(rerun_paid.values())
    reference_total = sum(c["n"] for c in ref.generated)
    twice = sum(max(0, killed_paid[c] + rerun_paid[c] - PER_CALL) for c in ref.fingerprint)
    assert in_flight_calls <= 2 * MAX_CONCURRENCY
    stats.add("images_paid_killed_rerun_reference", f"{total}/{reference_total}")
    stats.add("in_flight_images", in_flight)
    stats.add("images_paid_twice", twice)
    stats.add("partial_cases", len([c for c in kept.values() if 0 < c < PER_CALL]))
    assert twice <= in_flight <= PER_CALL * 2 * MAX_CONCURRENCY
    assert total <= reference_total + in_flight
    # the client's own account of the rerun matches the server's
    assert counts["images_paid"] == sum(rerun_paid.values())
    if point.kind == "unsent":
        assert in_flight >= PER_CALL, "the kill did not land on a paid, undelivered call"

    # the table: equal, except variants re-paid for a case stored in part (see the docs)
    partial = {c for c in ref.fingerprint if 0 < kept[c] < PER_CALL}
    stored_variants = {(str(r.case_id), str(r.variant)) for r in stored.values()}
    pairs = list(zip(table["case_id"], table["variant"], strict=True))
    same = np.array([c not in partial or (c, v) in stored_variants for c, v in pairs])
    ref_pairs = list(zip(ref.table["case_id"], ref.table["variant"], strict=True))
    ref_same = np.array([c not in partial or (c, v) in stored_variants for c, v in ref_pairs])
    assert len(table) == len(ref.table)
    assert (table[list(KEY_COLUMNS)] == ref.table[list(KEY_COLUMNS)]).all().all()
    assert (table.loc[~same, "error"] == "").all()
    assert_same_table(
        table[same].reset_index(drop=True), ref.table[ref_same].reset_index(drop=True)
    )
