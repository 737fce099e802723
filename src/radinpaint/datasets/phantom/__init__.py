"""Synthetic pediatric hand radiographs with known labels and exact artifact masks.

Real radiographs cannot ship with the package, so radinpaint draws its own: left hands seen
postero-anterior, from birth to 19 years of bone age, whose bone age and sex a model can
learn from the anatomy (ossification centres that appear and grow, epiphyses that widen and
fuse, proportions that differ between boys and girls), taken with varied exposure, noise,
blur, pose and collimation, and carrying burned-in lead markers, text and rulers whose masks
are known exactly. Every phantom is a pure function of its seed and the generator version.

Generator version ``"2"`` (the default) gives each phantom the shape of a real RSNA
radiograph: ``size`` pixels high and, for a height / width ratio drawn from the 41 measured
RSNA ratios (:mod:`.aspect`), ``round(size / ratio)`` wide -- mostly portrait. Version
``"1"`` draws the square ``size x size`` phantoms of earlier releases, pixel for pixel.

>>> case = make_phantom(3, size=128)
>>> case.id, case.image.shape, case.metadata["version"], case.metadata["aspect_ratio"]
('phantom-3', (128, 97), '2', 1.3193)
>>> make_phantom(3, size=128, version=1).image.shape
(128, 128)
>>> bool((case.image.pixels == case.clean_image.pixels)[~case.artifact_mask.array].all())
True
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, overload

import numpy as np

from ...errors import InvalidInputError
from ...records import SUPPORTED_BIT_DEPTHS, Case, Mask, MaskComponent, Radiograph
from ...seeds import derive_seed
from .aspect import PHANTOM_VERSIONS, draw_aspect_ratio, image_width, normalize_version

__all__ = [
    "PHANTOM_VERSION",
    "PHANTOM_VERSIONS",
    "PhantomDataset",
    "make_phantom",
    "make_phantoms",
]

PHANTOM_VERSION = "2"
"""The default generator version. What a seed produces never changes within a version; a
change to it is a new version, and older versions stay available (``version="1"``)."""

MIN_SIZE = 64


def _check(seed: int, size: int, bit_depth: int, bone_age: float | None) -> None:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidInputError(
            f"phantom seed must be a non-negative integer, got {seed!r}",
            fix="pass an int >= 0",
        )
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < MIN_SIZE:
        raise InvalidInputError(
            f"phantom size must be an integer >= {MIN_SIZE} pixels, got {size!r}",
            fix=f"pass size={MIN_SIZE} or more (512 is the default)",
        )
    if bit_depth not in SUPPORTED_BIT_DEPTHS:
        raise InvalidInputError(
            f"unsupported phantom bit depth {bit_depth!r}",
            available=[str(b) for b in SUPPORTED_BIT_DEPTHS],
            fix="use 8 or 16",
        )
    if bone_age is not None and not (0.0 <= float(bone_age) <= 228.0):
        raise InvalidInputError(
            f"phantom bone age must lie in [0, 228] months, got {bone_age!r}",
            fix="pass a bone age between 0 and 228 months, or None to draw one",
        )


def _quantize(pixels: np.ndarray, bit_depth: int, source: str) -> Radiograph:
    top = (1 << bit_depth) - 1
    dtype = np.uint8 if bit_depth == 8 else np.uint16
    return Radiograph.from_uint(np.rint(pixels * top).astype(dtype), bit_depth, source=source)


def make_phantom(
    seed: int,
    *,
    size: int = 512,
    bone_age_months: float | None = None,
    male: bool | None = None,
    artifacts: bool = True,
    bit_depth: int = 16,
    version: str | int = PHANTOM_VERSION,
) -> Case:
    """Draw one synthetic hand radiograph.

    Args:
        seed: any non-negative integer; the same arguments always give the same pixels.
        size: the image height in pixels (at least 64); version 1 images are
            ``size x size``, version 2 images are ``round(size / aspect_ratio)`` wide
            (at least 64).
        bone_age_months: the bone age to draw (0 to 228), or ``None`` for an RSNA-like draw.
        male: the sex to draw, or ``None`` for 50/50.
        artifacts: burn in lead markers, text and rulers (``False``: image == clean image).
        bit_depth: depth of the returned radiographs (8, 10, 12, 14 or 16).
        version: the generator version, ``"2"`` (default) or ``"1"`` (ints accepted).
            Version 2 draws a height / width ratio per seed (from its own random stream,
            so the subject, acquisition, pixels and artifacts streams are those of version
            1): one of the 41 ratios measured on real RSNA radiographs, uniformly, plus a
            uniform jitter of +-0.02 (0.86 to 1.40, 95 % portrait; see :mod:`.aspect`), and
            frames the hand to fit that shape. Version 1 draws the square phantoms of
            earlier releases, bit for bit.

    Returns:
        A :class:`~radinpaint.records.Case` with ``image``, ``clean_image`` (identical outside
        ``artifact_mask``), ``artifact_mask`` (every pixel the artifacts changed),
        ``anatomy_mask`` (the hand with its soft tissue), labels and ``metadata`` (subject,
        acquisition, artifact list, ``version`` and the drawn ``aspect_ratio``, 1.0 for
        version 1).

    Raises:
        InvalidInputError: for a negative seed, a size under 64, an unsupported bit depth,
            a bone age outside 0 to 228 months or an unknown version.
    """
    from ...seeds import rng as make_rng
    from .anatomy import build_skeleton, sample_subject
    from .artifacts import burn_in
    from .render import render_clean, sample_acquisition

    _check(seed, size, bit_depth, bone_age_months)
    version = normalize_version(version)
    seed = int(seed)
    size = int(size)
    ratio = 1.0
    width: int | None = None  # None: the version-1 square framing
    if version == "2":
        ratio = draw_aspect_ratio(make_rng(seed, "phantom", "shape"))
        width = image_width(size, ratio)

    subject = sample_subject(make_rng(seed, "phantom", "subject"), bone_age_months, male)
    shapes, marks = build_skeleton(subject)
    acq = sample_acquisition(
        make_rng(seed, "phantom", "acquisition"), subject, size, width, marks=marks
    )
    geo = acq.geometry
    clean, anatomy, bone = render_clean(
        subject, shapes, marks, acq, make_rng(seed, "phantom", "pixels")
    )
    source = f"phantom:seed={seed}"
    clean_rg = _quantize(clean, bit_depth, source)
    components: list[dict[str, Any]] = []
    if artifacts:
        field = _field_box(acq.collimation, geo.height, geo.width)
        image, mask, components = burn_in(
            clean_rg.pixels,
            anatomy,
            bone,
            make_rng(seed, "phantom", "artifacts"),
            angle_deg=-acq.geometry.angle_deg,
            field=field,
            blur=acq.blur,
            size=acq.frame,
            attempts=_PLACEMENT_ATTEMPTS[version],
        )
        image_rg = _quantize(image, bit_depth, source)
        # Exact by construction: outside the mask the quantized pixels are the clean ones.
        image_pixels = np.where(mask, image_rg.pixels, clean_rg.pixels)
        image_rg = Radiograph(image_pixels, bit_depth, source)
    else:
        mask = np.zeros((geo.height, geo.width), bool)
        image_rg = clean_rg
    carpals = [s.name for s in shapes if s.name in _CARPAL_NAMES]
    epiphyses = [s.name for s in shapes if s.name.endswith("-epiphysis")]
    metadata: dict[str, Any] = {
        "generator": f"radinpaint.phantom/{version}",
        "version": version,
        "seed": seed,
        "size": size,
        "aspect_ratio": round(ratio, 4),
        "subject": {
            "maturity_months": round(subject.maturity, 4),
            "hand_length_mm": round(subject.hand_length_mm, 4),
            "palm_breadth": round(subject.breadth, 5),
            "shaft_thickness": round(subject.shaft, 5),
            "index_ring_ratio": round(subject.index_ring, 5),
            "carpal_scale": round(subject.carpal_scale, 5),
            "carpals_visible": carpals,
            "epiphyses_visible": len(epiphyses),
        },
        "acquisition": acq.to_dict(),
        "artifacts": components,
    }
    comps = tuple(MaskComponent(c["box"], c["kind"], c["score"]) for c in components)
    return Case(
        id=f"phantom-{seed}",
        image=image_rg,
        bone_age_months=subject.bone_age_months,
        male=subject.male,
        artifact_mask=Mask(mask, source, comps),
        anatomy_mask=Mask(anatomy, f"{source}:anatomy"),
        clean_image=clean_rg,
        metadata=metadata,
    )


_PLACEMENT_ATTEMPTS = {"1": 40, "2": 100}
"""Positions tried per artifact before shrinking it: narrow version-2 frames need more."""

_CARPAL_NAMES = frozenset(
    ("capitate", "hamate", "triquetrum", "lunate", "trapezium", "trapezoid", "scaphoid", "pisiform")
)


def _field_box(
    collimation: dict[str, Any] | None, height: int, width: int
) -> tuple[int, int, int, int]:
    """A box safely inside the exposed field (and the image), where artifacts may go."""
    if collimation is None:
        return (2, 2, width - 2, height - 2)
    left, top, right, bottom = collimation["box_fraction"]
    # Stay clear of the rotated edges of the field: a side of the field turned by the angle
    # moves in and out by up to sin(angle) times half the length of the other side.
    sin = abs(np.sin(np.radians(collimation["angle_deg"])))
    slack_x = sin * height * 0.5 + 3
    slack_y = sin * width * 0.5 + 3
    return (
        int(left * width + slack_x),
        int(top * height + slack_y),
        int(width - right * width - slack_x),
        int(height - bottom * height - slack_y),
    )


def _check_n(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise InvalidInputError(
            f"number of phantoms must be an integer >= 1, got {n!r}", fix="pass n >= 1"
        )


def make_phantoms(n: int, *, seed: int = 0, size: int = 512, **kwargs: Any) -> list[Case]:
    """Draw ``n`` phantoms; case ``i`` is ``make_phantom(derive_seed(seed, i), ...)``.

    Keyword arguments are passed on to :func:`make_phantom`.
    """
    _check_n(n)
    _check(seed, size, kwargs.get("bit_depth", 16), kwargs.get("bone_age_months"))
    if "version" in kwargs:
        kwargs["version"] = normalize_version(kwargs["version"])
    return [make_phantom(derive_seed(seed, i), size=size, **kwargs) for i in range(n)]


class PhantomDataset(Sequence[Case]):
    """A lazy sequence of ``n`` phantoms: item ``i`` is built when asked for.

    Item ``i`` equals ``make_phantoms(n, seed=seed, ...)[i]`` pixel for pixel.

    Args:
        n: number of cases.
        seed: the dataset seed.
        size: image height in pixels (and width, for version 1).
        artifacts: burn in artifacts.
        bit_depth: depth of the radiographs.
        version: the generator version (see :func:`make_phantom`), kept as a str.
    """

    content = "phantoms"
    """What the images are: synthetic phantoms (see :attr:`ImageDataset.content
    <radinpaint.datasets.ImageDataset.content>`)."""

    def __init__(
        self,
        n: int,
        *,
        seed: int = 0,
        size: int = 512,
        artifacts: bool = True,
        bit_depth: int = 16,
        version: str | int = PHANTOM_VERSION,
    ) -> None:
        _check_n(n)
        _check(seed, size, bit_depth, None)
        self.version = normalize_version(version)
        self.n = int(n)
        self.seed = int(seed)
        self.size = int(size)
        self.artifacts = bool(artifacts)
        self.bit_depth = int(bit_depth)

    def __len__(self) -> int:
        return self.n

    def case_seed(self, index: int) -> int:
        """The phantom seed of item ``index``."""
        return derive_seed(self.seed, index)

    @property
    def ids(self) -> list[str]:
        """The case ids, in order (cheap: no image is built)."""
        return [f"phantom-{self.case_seed(i)}" for i in range(self.n)]

    @overload
    def __getitem__(self, index: int) -> Case: ...

    @overload
    def __getitem__(self, index: slice) -> list[Case]: ...

    def __getitem__(self, index: int | slice) -> Case | list[Case]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self.n))]
        i = int(index)
        if i < 0:
            i += self.n
        if not 0 <= i < self.n:
            raise IndexError(f"phantom index {index} out of range for {self.n} cases")
        return make_phantom(
            self.case_seed(i),
            size=self.size,
            artifacts=self.artifacts,
            bit_depth=self.bit_depth,
            version=self.version,
        )

    def __iter__(self) -> Iterator[Case]:
        for i in range(self.n):
            yield self[i]

    def __repr__(self) -> str:
        return (
            f"PhantomDataset(n={self.n}, seed={self.seed}, size={self.size}, "
            f"artifacts={self.artifacts}, bit_depth={self.bit_depth}, "
            f"version={self.version!r})"
        )
