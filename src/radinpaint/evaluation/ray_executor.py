"""An executor that runs an evaluation's work on a Ray cluster (``pip install radinpaint[ray]``).

:class:`RayExecutor` plugs into the executor seam (:mod:`.executor`): the evaluation still
walks its chunks on the driver (the machine that called :meth:`Evaluation.run`), and hands
each chunk's inpainting calls and prediction batches to the cluster:

- inpainting calls of a backend that runs on the CPU (the classical algorithms, the
  controls) become Ray *tasks*, one CPU each; each worker process builds the backend once
  from its spec and keeps it;
- a backend that declares a device (``"cuda"``, ``"cuda:N"``, ``"mps"``) and every
  predictor run in an *actor pool*: each actor builds the model once and keeps it, takes
  whole batches, and asks for ``gpus_per_actor`` GPUs when the backend declares a CUDA
  device;
- an API backend (``device="api"``) runs in a pool of ``api_actors`` actors. For the
  ``openai`` backend they share one cluster-wide rate limit and budget (a small Ray actor
  holding a :class:`~radinpaint.inpainters.ratelimit.TokenBucket` and a
  :class:`~radinpaint.inpainters.ratelimit.Budget`), so however many workers send calls,
  together they keep to ``images_per_minute`` and to ``max_images``/``max_usd``. Any other
  API backend gets a single actor, so its own client-side limits hold for the cluster.

Every image travels by reference: it is put in the object store once (keyed by its content
hash) and the tasks receive references, never copies made per task. The driver holds one
chunk at a time, as with the local executors.

Results are written to the inpainting cache *by the worker* as each call returns, so that
with ``cache_dir`` on storage every node sees (a shared filesystem path), a driver killed
midway loses at most the calls in flight: a rerun reads everything else from the cache.
Results are bit for bit those of :class:`~.executor.LocalExecutor` for the same seed: the
same calls and batches are made, only elsewhere.

Backends are rebuilt on the workers from their registered names and options, so every node
needs radinpaint (and the plugins used) installed; a backend given as a ready object is
shipped to the workers pickled (put once).
"""

from __future__ import annotations

import hashlib
import itertools
import pickle
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import attrs

from ..errors import InvalidInputError, RadinpaintError, require
from ..inpaint_calls import CallTask, Outcome
from ..ledger import SpendLedger
from ..records import InpaintRequest, Mask, Radiograph
from .predict_stage import PredictTask

__all__ = ["RayExecutor"]

T = TypeVar("T")
R = TypeVar("R")

_REQUEST_FIELDS = tuple(
    f.name for f in attrs.fields(InpaintRequest) if f.name not in ("image", "mask")
)
"""The fields of a request sent by value (the image and the mask go by reference)."""


def _ray() -> Any:
    return require("ray", extra="ray", purpose="running an evaluation on a Ray cluster")


def _spec_key(spec: Any) -> str:
    """A stable name for a backend spec (what is built from it), for pools and memos."""
    try:
        data = pickle.dumps((spec.name, dict(spec.options), spec.instance is not None))
    except Exception:
        data = repr((spec.name, sorted(map(str, spec.options)))).encode()
    if spec.instance is not None:
        data += str(id(spec.instance)).encode()
    return hashlib.sha256(data).hexdigest()[:16]


# -- what runs on the workers ------------------------------------------------------------

_BUILT: dict[str, tuple[Any, Any]] = {}  # spec key -> (spec, Built), per worker process
_BUILT_LOCK = threading.Lock()
_INIT_LOCK = threading.Lock()


def _build(kind: str, key: str, spec_box: list[Any], shared: Any = None) -> tuple[Any, Any]:
    """(spec, built backend) in this worker process (built on first use, then kept)."""
    with _BUILT_LOCK:
        found = _BUILT.get(key)
        if found is None:
            spec = _ray().get(spec_box[0])
            built = spec.build_declared(kind)
            if shared is not None:
                _share_limits(built.backend, shared)
            found = _BUILT[key] = (spec, built)
        return found


def _share_limits(backend: Any, handle: Any) -> None:
    """Give an ``openai`` backend the cluster-wide rate limit and budget of ``handle``."""
    from ..inpainters.openai.backend import OpenAIInpainter

    if isinstance(backend, OpenAIInpainter):
        backend.share_limits(_RemoteBucket(handle), _RemoteBudget(handle))  # type: ignore[arg-type]


def _requests(payload: list[tuple[Any, Any, dict[str, Any]]]) -> list[InpaintRequest]:
    """Requests rebuilt from (image ref, mask ref, other fields)."""
    ray = _ray()
    refs = [r for image, mask, _ in payload for r in (image, mask)]
    values = ray.get(refs)
    return [
        InpaintRequest(values[2 * i], values[2 * i + 1], **fields)
        for i, (_, _, fields) in enumerate(payload)
    ]


def _send_call(
    key: str, spec_box: list[Any], root: str | None, payload: list[Any], shared: Any = None
) -> list[Outcome]:
    """One inpainting call on this worker, its results cached (under ``root``) as it returns."""
    from ..cache import ResultCache
    from ..inpaint_calls import InpaintCalls

    spec, built = _build("inpainter", key, spec_box, shared)
    cache = None if root is None else ResultCache(root)
    calls = InpaintCalls(built.backend, built.capabilities, cache, dict(spec.options))
    return calls.call(_requests(payload))


def _predict(
    key: str, spec_box: list[Any], image_refs: list[Any], male: list[bool | None] | None
) -> Any:
    _, built = _build("predictor", key, spec_box)
    images = _ray().get(image_refs)
    if built.capabilities.needs_sex:
        return built.backend.predict(images, male=male)
    return built.backend.predict(images)


def _apply(fn_box: list[Any], item: Any) -> Any:
    return _ray().get(fn_box[0])(item)


class _Worker:
    """An actor holding one backend (a model, an API client) for many calls."""

    def __init__(self, kind: str, key: str, spec_box: list[Any], shared: Any = None) -> None:
        self.kind, self.key, self.spec_box, self.shared = kind, key, spec_box, shared
        _build(kind, key, spec_box, shared)  # load the model now, not on the first batch

    def call(self, root: str | None, payload: list[Any]) -> list[Outcome]:
        return _send_call(self.key, self.spec_box, root, payload, self.shared)

    def predict(self, image_refs: list[Any], male: list[bool | None] | None) -> Any:
        return _predict(self.key, self.spec_box, image_refs, male)


class _Wait(Exception):
    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)
        self.seconds = seconds


def _raise_wait(seconds: float) -> None:
    raise _Wait(seconds)


@attrs.define
class _RecordingLedger(SpendLedger):
    """A ledger in memory that also lists its bookings, for the driver to book them too."""

    bookings: list[dict[str, Any]] = attrs.field(factory=list)

    def book(self, images: int, usd: float, *, failed: bool = False, what: str = "") -> None:
        """Book one finished call, and list it."""
        super().book(images, usd, failed=failed, what=what)
        self.bookings.append({"images": images, "usd": usd, "failed": failed, "what": what})


class _Limits:
    """The cluster-wide rate limit and budget of one paid backend (a Ray actor).

    Every method answers at once (the actor never blocks): :meth:`acquire` says how long to
    wait when the tokens are not there yet, and the caller waits on its own machine.
    """

    def __init__(
        self, images_per_minute: float | None, max_images: int | None, max_usd: float | None
    ) -> None:
        from ..inpainters.ratelimit import Budget, TokenBucket

        self.bucket = TokenBucket(images_per_minute, sleep=_raise_wait)
        self.ledger = _RecordingLedger()
        self.budget = Budget(max_images, max_usd, self.ledger)
        self.drained = 0
        self.granted: list[float] = []

    def acquire(self, tokens: float) -> float:
        try:
            self.bucket.acquire(tokens)
        except _Wait as wait:
            return max(wait.seconds, 1e-3)
        self.granted.append(time.monotonic())
        return 0.0

    def grants(self) -> list[float]:
        """When each acquire was granted (``time.monotonic`` of the actor's machine)."""
        return list(self.granted)

    def pause(self, seconds: float) -> None:
        self.bucket.pause(seconds)

    def reserve(self, images: int, usd: float | None, what: str) -> BaseException | None:
        try:
            self.budget.reserve(images, usd, what=what)
        except RadinpaintError as exc:
            return exc
        return None

    def settle(
        self,
        images: int,
        usd_reserved: float | None,
        usd_actual: float | None,
        failed: bool,
        what: str,
        delivered: int | None,
    ) -> None:
        self.budget.settle(
            images, usd_reserved, usd_actual, failed=failed, what=what, delivered=delivered
        )

    def release(self, images: int, usd_reserved: float | None) -> None:
        self.budget.release(images, usd_reserved)

    def spent(self) -> tuple[int, float]:
        t = self.budget.ledger.all_time()
        return t.images, t.usd

    def drain(self) -> list[dict[str, Any]]:
        """The bookings made since the last drain (each is handed out once)."""
        out = self.ledger.bookings[self.drained :]
        self.drained = len(out) + self.drained
        return out


class _RemoteBucket:
    """A :class:`~radinpaint.inpainters.ratelimit.TokenBucket` whose tokens a
    :class:`_Limits` actor hands out (the waiting is done here)."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self.waited = 0.0

    def acquire(self, tokens: float = 1.0) -> float:
        ray, waited = _ray(), 0.0
        while True:
            delay = float(ray.get(self.handle.acquire.remote(tokens)))
            if delay <= 0:
                self.waited += waited
                return waited
            time.sleep(delay)
            waited += delay

    def pause(self, seconds: float) -> None:
        _ray().get(self.handle.pause.remote(seconds))


class _RemoteBudget:
    """A :class:`~radinpaint.inpainters.ratelimit.Budget` kept by a :class:`_Limits` actor."""

    def __init__(self, handle: Any) -> None:
        from ..ledger import SpendLedger

        self.handle = handle
        self.ledger = SpendLedger()  # this worker's view; the driver books what the actor holds

    @property
    def spent_images(self) -> int:
        return int(_ray().get(self.handle.spent.remote())[0])

    @property
    def spent_usd(self) -> float:
        return float(_ray().get(self.handle.spent.remote())[1])

    def describe_spent(self) -> str:
        images, usd = _ray().get(self.handle.spent.remote())
        return f"{images} image(s), ~${usd:.4f} (estimate)"

    def reserve(self, images: int, usd: float | None, *, what: str) -> None:
        error = _ray().get(self.handle.reserve.remote(images, usd, what))
        if error is not None:
            raise error

    def settle(
        self,
        images: int,
        usd_reserved: float | None,
        usd_actual: float | None,
        *,
        failed: bool = False,
        what: str = "",
        delivered: int | None = None,
    ) -> None:
        _ray().get(
            self.handle.settle.remote(images, usd_reserved, usd_actual, failed, what, delivered)
        )

    def release(self, images: int, usd_reserved: float | None) -> None:
        _ray().get(self.handle.release.remote(images, usd_reserved))


# -- the driver side ---------------------------------------------------------------------


@attrs.define(eq=False)
class _Pool:
    """The actors of one backend, handed work round-robin."""

    actors: list[Any]
    per_actor: int
    _next: Iterator[int] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._next = itertools.cycle(range(len(self.actors)))

    def pick(self) -> Any:
        return self.actors[next(self._next)]

    @property
    def capacity(self) -> int:
        return len(self.actors) * self.per_actor


def _positive_or_none(instance: object, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and value <= 0:
        raise InvalidInputError(
            f"RayExecutor {attribute.name} must be > 0, got {value}",
            fix=f"leave {attribute.name} unset for the default",
        )


@attrs.define(eq=False)
class RayExecutor:
    """Runs an evaluation's calls and batches on a Ray cluster.

    Args:
        address: the cluster to join (``"auto"``, ``"ray://host:10001"``, ``"host:6379"``);
            ``None``: join the Ray instance this process already started, else start a
            local one.
        num_cpus: CPUs of a local instance started here (``None``: all of this machine's).
        cpus_per_task: CPUs each CPU inpainting task asks for.
        gpus_per_actor: GPUs each actor of a backend that declares a CUDA device asks for.
        actors: actors per predictor or device backend (``None``: half the cluster's GPUs
            for a CUDA backend, half its CPUs for a CPU predictor; at least one). Each pool
            holds its resources for the whole run, so with several GPU backends set
            ``actors`` and ``gpus_per_actor`` such that all pools fit on the cluster at once.
        api_actors: actors sending an ``openai`` backend's calls (they share one rate limit
            and budget); other API backends get one.
        max_in_flight: the most tasks submitted ahead of the results being consumed
            (``None``: twice what the cluster or pool runs at once).
        ref_cache_size: how many images' object references are kept, so an image used by
            several backends or batches is put in the object store once.
        init_options: more keyword arguments for ``ray.init``.

    Use it like any executor: ``Evaluation(..., executor=RayExecutor(address="auto"))``, or
    ``radinpaint run --executor ray --ray-address auto``. Put ``cache_dir`` on a filesystem
    every node mounts at the same path: the workers write the results there.
    """

    address: str | None = None
    num_cpus: int | None = attrs.field(default=None, validator=_positive_or_none)
    cpus_per_task: float = attrs.field(default=1.0, validator=_positive_or_none)
    gpus_per_actor: float = attrs.field(default=1.0, validator=_positive_or_none)
    actors: int | None = attrs.field(default=None, validator=_positive_or_none)
    api_actors: int = attrs.field(default=4, validator=_positive_or_none)
    max_in_flight: int | None = attrs.field(default=None, validator=_positive_or_none)
    ref_cache_size: int = attrs.field(default=512, validator=_positive_or_none)
    init_options: dict[str, Any] = attrs.field(factory=dict)
    _refs: OrderedDict[str, Any] = attrs.field(init=False, factory=OrderedDict)
    _specs: dict[str, list[Any]] = attrs.field(init=False, factory=dict)
    _pools: dict[str, _Pool] = attrs.field(init=False, factory=dict)
    _limits: dict[str, Any] = attrs.field(init=False, factory=dict)
    _lock: threading.RLock = attrs.field(init=False, factory=threading.RLock)
    _remote_call: Any = attrs.field(init=False, default=None)

    # -- setup -------------------------------------------------------------------------

    def _init(self) -> Any:
        ray = _ray()
        with _INIT_LOCK:  # chunks ahead call from other threads; Ray starts once
            if not ray.is_initialized():
                self._start(ray)
        return ray

    def _start(self, ray: Any) -> None:
        """Join the cluster at :attr:`address`, or start a local instance."""
        options: dict[str, Any] = {"ignore_reinit_error": True, "log_to_driver": False}
        if self.address is not None:
            options["address"] = self.address
        elif self.num_cpus is not None:
            options["num_cpus"] = self.num_cpus
        options.update(self.init_options)
        ray.init(**options)

    def _cluster(self, resource: str) -> float:
        return float(self._init().cluster_resources().get(resource, 0.0))

    def _put(self, value: Radiograph | Mask) -> Any:
        """The object reference of ``value``, put in the object store once."""
        key = value.content_hash()
        with self._lock:  # chunks ahead are inpainted from other threads
            ref = self._refs.get(key)
            if ref is None:
                ref = self._init().put(value)
                self._refs[key] = ref
                while len(self._refs) > self.ref_cache_size:
                    self._refs.popitem(last=False)
            else:
                self._refs.move_to_end(key)
            return ref

    def _spec_box(self, spec: Any) -> tuple[str, list[Any]]:
        """(key, [reference of the spec]): the spec is put once per backend."""
        key = _spec_key(spec)
        with self._lock:
            box = self._specs.get(key)
            if box is None:
                box = [self._init().put(spec)]
                self._specs[key] = box
            return key, box

    def _pool(
        self,
        kind: str,
        key: str,
        box: list[Any],
        device: str,
        *,
        size: int,
        per_actor: int = 1,
        shared: Any = None,
    ) -> _Pool:
        with self._lock:  # one pool per backend, whichever thread asks first
            pool = self._pools.get(key)
            if pool is None:
                ray = self._init()
                resources: dict[str, Any] = {"max_concurrency": per_actor}
                if device.startswith("cuda"):
                    resources["num_gpus"] = self.gpus_per_actor
                    resources["num_cpus"] = 1
                elif device == "api":
                    resources["num_cpus"] = 0
                else:
                    resources["num_cpus"] = 1
                cls = ray.remote(**resources)(_Worker)
                actors = [cls.remote(kind, key, box, shared) for _ in range(size)]
                pool = self._pools[key] = _Pool(actors, per_actor)
            return pool

    def _pool_size(self, device: str) -> int:
        if self.actors is not None:
            return self.actors
        if device.startswith("cuda"):
            # half the GPUs: a device inpainter and a predictor are each held in a pool for
            # the whole run, and a pool that took every GPU would leave the other waiting
            return max(1, int(self._cluster("GPU") / self.gpus_per_actor) // 2)
        return max(1, int(self._cluster("CPU")) // 2)

    def _shared_limits(self, key: str, calls: Any) -> Any:
        """The :class:`_Limits` actor of an ``openai`` backend (None for other backends)."""
        from ..inpainters.openai.backend import OpenAIInpainter

        backend = calls.backend
        if not isinstance(backend, OpenAIInpainter):
            return None
        with self._lock:  # one limit and budget per backend, whichever thread asks first
            return self._shared_limits_locked(key, calls, backend)

    def _shared_limits_locked(self, key: str, calls: Any, backend: Any) -> Any:
        handle = self._limits.get(key)
        if handle is None:
            ledger = calls.capabilities.ledger
            before = ledger.all_time() if ledger is not None else None
            max_images, max_usd = backend.max_images, backend.max_usd
            if before is not None:  # what earlier runs booked in the same spend ledger
                if max_images is not None:
                    max_images = max(0, max_images - before.images)
                if max_usd is not None:
                    max_usd = max(0.0, max_usd - before.usd)
            ray = self._init()
            handle = ray.remote(num_cpus=0)(_Limits).remote(
                backend.images_per_minute, max_images, max_usd
            )
            self._limits[key] = handle
        return handle

    # -- the executor protocol -----------------------------------------------------------

    def map(
        self, fn: Callable[[T], R], items: Iterable[T], *, workers: int | None = None
    ) -> Iterator[tuple[T, R | BaseException]]:
        """Yield ``(item, outcome)`` as the cluster completes items (any order)."""
        ray = self._init()
        if isinstance(fn, CallTask):
            submit, limit, finish = self._inpaint_plan(fn)
        elif isinstance(fn, PredictTask):
            submit, limit, finish = self._predict_plan(fn)
        else:
            fn_box = [ray.put(fn)]
            remote = ray.remote(num_cpus=self.cpus_per_task)(_apply)
            limit = self._limit(None)

            def submit(item: Any) -> Any:
                return remote.remote(fn_box, item)

            def finish(item: Any, value: Any) -> Any:
                return value

        yield from self._drive(ray, items, submit, limit, finish)

    def _limit(self, capacity: int | None) -> int:
        if self.max_in_flight is not None:
            return self.max_in_flight
        if capacity is None:
            capacity = max(1, int(self._cluster("CPU") / self.cpus_per_task))
        return 2 * capacity

    def _inpaint_plan(self, task: CallTask) -> tuple[Callable, int, Callable]:
        calls = task.calls
        spec = calls.spec
        if spec is None:
            from .specs import BackendSpec

            spec = BackendSpec(
                str(calls.backend.name), dict(calls.options), "", calls.backend, calls.capabilities
            )
        key, box = self._spec_box(spec)
        root = None if calls.cache is None else str(calls.cache.root)
        device = calls.capabilities.device

        def payload(item: Any) -> list[Any]:
            return [
                (
                    self._put(r.image),
                    self._put(r.mask),
                    {f: getattr(r, f) for f in _REQUEST_FIELDS},
                )
                for r in item[1]
            ]

        if device == "api":
            shared = self._shared_limits(key, calls)
            size = self.api_actors if shared is not None else 1
            per = calls.capabilities.max_concurrency
            pool = self._pool(
                "inpainter", key, box, device, size=size, per_actor=per, shared=shared
            )

            def finish(item: Any, value: Any) -> Any:
                self._book(calls, shared)
                return value

            return _to_pool(pool, root, payload), self._limit(pool.capacity), finish
        if device.startswith(("cuda", "mps")):
            pool = self._pool("inpainter", key, box, device, size=self._pool_size(device))
            return _to_pool(pool, root, payload), self._limit(pool.capacity), _same

        with self._lock:
            remote = self._remote_call
            if remote is None:
                remote = self._remote_call = ray_remote(self, _send_call)

        def submit(item: Any) -> Any:
            return remote.remote(key, box, root, payload(item))

        return submit, self._limit(None), _same

    def _book(self, calls: Any, shared: Any) -> None:
        """Book what the cluster spent into the driver's ledger (and its spend file)."""
        ledger = calls.capabilities.ledger
        if shared is None or ledger is None:
            return
        for b in self._init().get(shared.drain.remote()):
            ledger.book(b["images"], b["usd"], failed=b["failed"], what=b["what"])

    def _predict_plan(self, task: PredictTask) -> tuple[Callable, int, Callable]:
        key, box = self._spec_box(task.slot.spec)
        device = task.slot.capabilities.device
        pool = self._pool("predictor", key, box, device, size=self._pool_size(device))

        def submit(batch: Any) -> Any:
            images, male = task.inputs(batch)
            return pool.pick().predict.remote([self._put(i) for i in images], male)

        return submit, self._limit(pool.capacity), task.finish

    def _drive(
        self,
        ray: Any,
        items: Iterable[Any],
        submit: Callable[[Any], Any],
        limit: int,
        finish: Callable[[Any, Any], Any],
    ) -> Iterator[tuple[Any, Any]]:
        iterator = iter(items)
        pending: dict[Any, Any] = {}

        def submit_more() -> None:
            while len(pending) < limit:
                try:
                    item = next(iterator)
                except StopIteration:
                    return
                try:
                    pending[submit(item)] = item
                except Exception as exc:  # a request that cannot be sent: its own outcome
                    pending[ray.put(_Failed(exc))] = item

        submit_more()
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                item = pending.pop(ref)
                yield item, self._outcome(ray, ref, item, finish)
            submit_more()

    @staticmethod
    def _outcome(ray: Any, ref: Any, item: Any, finish: Callable[[Any, Any], Any]) -> Any:
        try:
            value = ray.get(ref)
            if isinstance(value, _Failed):
                return value.error
            return finish(item, value)
        except ray.exceptions.RayTaskError as exc:
            cause = exc.cause
            return cause if isinstance(cause, BaseException) else exc
        except Exception as exc:  # a lost worker or actor, a failed check: this item only
            return exc

    def describe(self) -> dict[str, Any]:
        """JSON-ready description for the manifest."""
        out: dict[str, Any] = {"type": type(self).__name__, "address": self.address}
        ray = _ray()
        if ray.is_initialized():
            resources = ray.cluster_resources()
            out["cluster"] = {k: resources[k] for k in ("CPU", "GPU") if k in resources}
        return out

    def shutdown(self) -> None:
        """Let go of this executor's actors and references (the cluster keeps running)."""
        ray = _ray()
        for pool in self._pools.values():
            for actor in pool.actors:
                ray.kill(actor)
        for handle in self._limits.values():
            ray.kill(handle)
        self._pools.clear()
        self._limits.clear()
        self._refs.clear()
        self._specs.clear()


def _to_pool(pool: _Pool, root: str | None, payload: Callable[[Any], Any]) -> Callable:
    """Submit an inpainting call to the next actor of ``pool``."""

    def submit(item: Any) -> Any:
        return pool.pick().call.remote(root, payload(item))

    return submit


def ray_remote(executor: RayExecutor, fn: Callable) -> Any:
    """``fn`` as a Ray remote function taking ``executor.cpus_per_task`` CPUs."""
    return executor._init().remote(num_cpus=executor.cpus_per_task)(fn)


@attrs.frozen
class _Failed:
    error: BaseException


def _same(item: Any, value: Any) -> Any:
    return value
