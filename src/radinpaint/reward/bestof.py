"""``best-of``: ask an inner backend for ``n`` variants, keep the one the reward model prefers.

Spec: ``best-of:inner=NAME,n=4,reward=FILE.safetensors`` (one inner option may ride along
in the spec, ``inner=diffusion:mode=redraw``; from Python or a configuration file,
``inner_options`` takes any number).

For a request with variant seed ``s`` the inner backend receives ``n`` requests with the
request's image, mask and prompt, ``seed=s`` and ``variant=0..n-1``: its own declared
variant mechanism (:attr:`~radinpaint.records.InpaintRequest.variant_seed`) gives each
candidate its seed, so the candidates, the scores and the choice are the same on every run
with that seed. An inner backend that declares itself deterministic would give ``n`` equal
candidates, so it is asked once. The reward model scores every candidate (P(acceptable));
the highest wins (the first on a tie) and the result records all scores under
``extra["best_of"]``. A failed candidate is left out; when all fail, the request fails.

The capabilities follow the inner backend's (determinism, device, whole-image edits), with
a fingerprint over the inner spec and fingerprint, ``n`` and the reward weights' SHA-256:
another inner backend, another ``n`` or retrained reward weights never share cache entries.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import attrs
import numpy as np

from ..capabilities import Capabilities
from ..errors import InvalidInputError, error_text
from ..records import InpaintFailure, InpaintRequest, InpaintResult
from .samples import RatedSample

if TYPE_CHECKING:
    from ..registry import Built
    from .model import RewardModel

__all__ = ["BestOfInpainter", "make_best_of"]


def _n(instance: object, attribute: attrs.Attribute, value: int) -> None:
    if not 1 <= value <= 64:
        raise InvalidInputError(f"best-of n must be between 1 and 64, got {value}", fix="use n=4")


@attrs.define
class BestOfInpainter:
    """The best of ``n`` variants of ``inner`` by a reward model (see the module docs).

    Args:
        inner: the inner backend's spec, ``NAME`` or ``NAME:KEY=VALUE``.
        n: candidates per request.
        reward: the reward model's ``.safetensors`` file (its ``.json`` beside it).
        inner_options: more options for the inner backend.
    """

    inner: str = attrs.field(converter=str)
    reward: str = attrs.field(converter=str)
    n: int = attrs.field(default=4, converter=int, validator=_n)
    inner_options: dict[str, Any] = attrs.field(factory=dict, converter=dict)
    _built: Built | None = attrs.field(default=None, init=False, repr=False)
    _model: RewardModel | None = attrs.field(default=None, init=False, repr=False)
    _digest: str = attrs.field(default="", init=False, repr=False)

    name: ClassVar[str] = "best-of"

    def __attrs_post_init__(self) -> None:
        from pathlib import Path

        from ..errors import CheckpointError
        from ..evaluation.specs import BackendSpec
        from ..fingerprint import file_sha256

        spec = BackendSpec.parse(self.inner)
        if spec.name == self.name:
            raise InvalidInputError("best-of cannot wrap itself", input=self.inner)
        path = Path(self.reward)
        if not path.is_file() or not path.with_suffix(".json").is_file():
            raise CheckpointError(
                "reward model not found (needs the .safetensors file and its .json beside it)",
                input=self.reward,
                fix="train one with `radinpaint train-reward` and pass reward=FILE.safetensors",
            )
        self._digest = file_sha256(path)
        self._built = BackendSpec(
            spec.name, {**dict(spec.options), **self.inner_options}
        ).build_declared("inpainter")

    @property
    def inner_backend(self) -> Built:
        """The inner backend with the capabilities it declares."""
        assert self._built is not None
        return self._built

    @property
    def candidates(self) -> int:
        """Candidates asked per request: ``n``, or 1 for a deterministic inner backend."""
        return 1 if self.inner_backend.capabilities.deterministic else self.n

    def options(self) -> dict[str, Any]:
        """What defines the output: inner spec and options, ``n``, the reward weights' file
        name and SHA-256 (not their folder: a moved file still finds its cached results)."""
        from pathlib import Path

        return {
            "inner": self.inner,
            "inner_options": dict(self.inner_options),
            "n": self.n,
            "reward": Path(self.reward).name,
            "reward_sha256": self._digest,
        }

    def capabilities(self) -> Capabilities:
        """The inner backend's determinism, device and whole-image edits; one call at a time;
        a fingerprint over the inner spec and fingerprint, ``n`` and the reward weights."""
        from ..fingerprint import fingerprint_value

        caps = self.inner_backend.capabilities
        return Capabilities(
            deterministic=caps.deterministic,
            max_concurrency=1,
            batch_size=max(1, caps.batch_size // self.candidates),
            device=caps.device,
            edits_whole_image=caps.edits_whole_image,
            fingerprint=fingerprint_value(
                {
                    "inner": self.inner,
                    "inner_options": self.inner_options,
                    "inner_fingerprint": caps.fingerprint,
                    "n": self.n,
                    "reward_sha256": self._digest,
                }
            ),
            operational_options=frozenset(),
        )

    def model(self) -> RewardModel:
        """The reward model (loaded on first use)."""
        if self._model is None:
            from .model import load_reward

            self._model = load_reward(self.reward)
        return self._model

    def scores(self, request: InpaintRequest, results: Sequence[InpaintResult]) -> np.ndarray:
        """P(acceptable) of each candidate result of ``request``."""
        samples = [
            RatedSample(
                output=r.image.pixels,
                original=request.image.pixels,
                mask=request.mask.array,
                case_id=request.case_id or "",
            )
            for r in results
        ]
        return self.model().predict(samples)

    def inpaint(self, requests: Sequence[InpaintRequest]) -> list[InpaintResult | InpaintFailure]:
        """The best candidate per request (see the module docs)."""
        from ..inpainters.base import unchanged_result

        k = self.candidates
        inner_requests = [
            InpaintRequest(
                image=r.image,
                mask=r.mask,
                prompt=r.prompt,
                seed=r.variant_seed,
                variant=j,
                case_id=r.case_id,
            )
            for r in requests
            for j in range(k)
        ]
        start = time.perf_counter()
        answers = list(self.inner_backend.backend.inpaint(inner_requests)) if requests else []
        if len(answers) != len(inner_requests):
            raise InvalidInputError(
                f"inner backend {self.inner!r} answered {len(answers)} of "
                f"{len(inner_requests)} requests",
                fix="the inner backend must answer every request, in order",
            )
        seconds = (time.perf_counter() - start) / max(1, len(requests))
        out: list[InpaintResult | InpaintFailure] = []
        for i, request in enumerate(requests):
            group = answers[i * k : (i + 1) * k]
            ok = [(j, a) for j, a in enumerate(group) if isinstance(a, InpaintResult)]
            if not ok:
                errors = "; ".join(str(getattr(a, "error", a)) for a in group)
                out.append(InpaintFailure.for_request(request, f"every candidate failed: {errors}"))
                continue
            if request.mask.is_empty:
                if not self.inner_backend.capabilities.edits_whole_image:
                    out.append(unchanged_result(request, self.name, self.options(), "empty-mask"))
                    continue
                out.append(self._chosen(request, ok[0][1], ok, None, 0, seconds))
                continue
            try:
                scores = self.scores(request, [a for _, a in ok])
            except Exception as exc:
                out.append(InpaintFailure.for_request(request, error_text(exc)))
                continue
            best = int(np.argmax(scores))
            out.append(self._chosen(request, ok[best][1], ok, scores, best, seconds))
        return out

    def _chosen(
        self,
        request: InpaintRequest,
        result: InpaintResult,
        ok: Sequence[tuple[int, InpaintResult]],
        scores: np.ndarray | None,
        best: int,
        seconds: float,
    ) -> InpaintResult:
        record: dict[str, Any] = {
            "inner": self.inner,
            "inner_backend": result.backend,
            "n": self.n,
            "candidates": [j for j, _ in ok],
            "candidate_seeds": [a.seed for _, a in ok],
            "scores": None if scores is None else [float(s) for s in scores],
            "chosen": ok[best][0],
            "reward_sha256": self._digest,
        }
        extra: Mapping[str, Any] = {**dict(result.extra), "best_of": record}
        return attrs.evolve(
            result,
            backend=self.name,
            options=self.options(),
            seed=request.variant_seed,
            variant=request.variant,
            case_id=request.case_id,
            seconds=seconds,
            cost_usd=float(sum(a.cost_usd for _, a in ok)),
            extra=extra,
        )


def make_best_of(
    *,
    inner: str,
    reward: str,
    n: int = 4,
    inner_options: Mapping[str, Any] | None = None,
) -> BestOfInpainter:
    """Build a :class:`BestOfInpainter` (see its docs)."""
    return BestOfInpainter(inner=inner, reward=reward, n=n, inner_options=dict(inner_options or {}))
