"""The hand model behind the phantoms: who the subject is, and where each bone lies.

Coordinates are in units of the third metacarpal's length (``M``), ``x`` towards the thumb
and ``y`` towards the fingertips, for a left hand seen postero-anterior (thumb on the image's
right, as in the RSNA radiographs). :func:`sample_subject` draws a subject (bone age, sex,
proportions, individual timing of each ossification centre); :func:`build_skeleton` turns it
into drawable shapes. Rendering lives in :mod:`.render`.

The maturity model follows the Greulich-Pyle atlas in outline: carpal centres appear in the
order capitate, hamate, triquetrum, lunate, trapezium, trapezoid, scaphoid, pisiform;
epiphyses appear in the second and third years, widen to the width of their metaphysis, then
fuse (distal phalanges first, radius last). Girls reach each stage earlier at the same bone
age (up to about 20 months around puberty), and boys' hands are larger, with broader palms,
thicker shafts, a lower index-to-ring finger ratio and relatively larger carpals.
"""

from __future__ import annotations

import math

import attrs
import numpy as np

__all__ = ["Shape", "Subject", "build_skeleton", "sample_bone_age", "sample_subject"]

# Carpal centres: name -> (appearance in maturity months, centre (x, y), semi-axes, angle deg).
CARPALS: dict[str, tuple[float, tuple[float, float], tuple[float, float], float]] = {
    "capitate": (3.0, (0.02, -0.225), (0.085, 0.112), 8.0),
    "hamate": (5.0, (-0.21, -0.2), (0.075, 0.095), -12.0),
    "triquetrum": (30.0, (-0.31, -0.39), (0.065, 0.055), 20.0),
    "lunate": (45.0, (-0.07, -0.46), (0.07, 0.06), 0.0),
    "trapezium": (62.0, (0.37, -0.24), (0.068, 0.06), 30.0),
    "trapezoid": (68.0, (0.2, -0.16), (0.05, 0.055), 10.0),
    "scaphoid": (72.0, (0.2, -0.42), (0.055, 0.105), 50.0),
    "pisiform": (135.0, (-0.34, -0.45), (0.035, 0.035), 0.0),
}

# Rays: 1 thumb .. 5 little finger. Metacarpal base and head (unit M, before breadth scaling).
_MC_BASE = {1: (0.4, -0.1), 2: (0.23, 0.02), 3: (0.0, 0.0), 4: (-0.22, 0.0), 5: (-0.41, -0.05)}
_MC_HEAD = {1: (0.8, 0.43), 2: (0.42, 0.96), 3: (0.04, 1.0), 4: (-0.32, 0.88), 5: (-0.64, 0.74)}
_MC_W = {
    1: (0.245, 0.162, 0.23),
    2: (0.245, 0.153, 0.23),
    3: (0.245, 0.153, 0.245),
    4: (0.199, 0.138, 0.215),
    5: (0.199, 0.131, 0.199),
}  # base, shaft, head widths
_FINGER_ANGLE = {1: 36.0, 2: 8.0, 3: 1.0, 4: -7.0, 5: -16.0}  # degrees from +y towards +x
_PP_LEN = {1: 0.5, 2: 0.62, 3: 0.68, 4: 0.64, 5: 0.52}
_MP_LEN = {2: 0.37, 3: 0.44, 4: 0.42, 5: 0.3}
_DP_LEN = {1: 0.36, 2: 0.27, 3: 0.28, 4: 0.28, 5: 0.25}
_PP_W = {
    1: (0.215, 0.146, 0.177),
    2: (0.215, 0.131, 0.169),
    3: (0.223, 0.138, 0.177),
    4: (0.215, 0.131, 0.169),
    5: (0.184, 0.116, 0.146),
}
_MP_W = {
    2: (0.177, 0.116, 0.138),
    3: (0.184, 0.119, 0.146),
    4: (0.177, 0.116, 0.138),
    5: (0.153, 0.1, 0.123),
}
_DP_W = {
    1: (0.177, 0.1, 0.123),
    2: (0.138, 0.077, 0.1),
    3: (0.146, 0.08, 0.104),
    4: (0.138, 0.077, 0.101),
    5: (0.123, 0.068, 0.092),
}

# Epiphysis appearance and fusion (start, end), in maturity months (boys' timetable).
_EPI_APPEAR = {
    "radius": 14.0,
    "ulna": 86.0,
    "mc": 22.0,
    "mc1": 30.0,
    "pp": 18.0,
    "mp": 30.0,
    "dp": 24.0,
}
_FUSION = {
    "dp": (168.0, 184.0),
    "mp": (178.0, 192.0),
    "pp": (182.0, 196.0),
    "mc": (186.0, 200.0),
    "mc1": (184.0, 198.0),
    "ulna": (194.0, 210.0),
    "radius": (200.0, 218.0),
}
# Hand length (wrist crease to tip of the middle finger, mm) against boys' bone age (months).
_LEN_AGE = np.array([0.0, 12.0, 36.0, 72.0, 120.0, 156.0, 192.0, 228.0])
_LEN_MM = np.array([62.0, 84.0, 104.0, 126.0, 150.0, 172.0, 188.0, 192.0])


@attrs.frozen
class Subject:
    """One synthetic child: labels, proportions and individual timing.

    Attributes:
        bone_age_months: the label.
        male: the label.
        maturity: the maturity (boys' months) the skeleton shows: bone age, plus the
            girls' lead, plus individual deviation.
        hand_length_mm: wrist crease to middle fingertip.
        breadth: palm breadth factor (x spread of the rays).
        shaft: shaft thickness factor.
        index_ring: index finger length over ring finger length (2D:4D).
        carpal_scale: carpal size factor.
        soft_tissue: soft-tissue thickness factor.
        density: bone mineral density factor.
        timing: per-centre offsets (months) added to the maturity.
        angles: per-ray finger angle offsets (degrees).
        lengths: per-ray length factors.
        shape_seed: seed for the carpal outlines.
    """

    bone_age_months: float
    male: bool
    maturity: float
    hand_length_mm: float
    breadth: float
    shaft: float
    index_ring: float
    carpal_scale: float
    soft_tissue: float
    density: float
    timing: dict[str, float]
    angles: dict[int, float]
    lengths: dict[int, float]
    shape_seed: int


@attrs.frozen
class Shape:
    """A drawable shape in hand units.

    Attributes:
        kind: ``"bone"`` (filled outline with a medulla), ``"blob"`` (carpal/epiphysis),
            ``"line"`` (physeal scar).
        outer: ``(N, 2)`` outline.
        inner: ``(K, 2)`` medulla outline or ``None``.
        group: shapes of one group are drawn together (a bone and its epiphysis never add).
        density: relative density of the cortex.
        inner_density: relative density of the medulla.
        name: anatomical name.
    """

    kind: str
    outer: np.ndarray
    inner: np.ndarray | None
    group: int
    density: float
    inner_density: float
    name: str


def sample_bone_age(rng: np.random.Generator) -> float:
    """A bone age in whole months resembling the RSNA training distribution (mostly 60-200)."""
    if rng.random() < 0.12:
        return float(round(rng.uniform(1.0, 228.0)))
    return float(round(np.clip(rng.normal(132.0, 38.0), 1.0, 228.0)))


def _smooth(x: float) -> float:
    x = min(max(x, 0.0), 1.0)
    return x * x * (3.0 - 2.0 * x)


def girls_lead(bone_age: float) -> float:
    """Months by which girls' skeletons are ahead of boys' at the same bone age."""
    return 20.0 * _smooth((bone_age - 18.0) / 130.0)


def sample_subject(
    rng: np.random.Generator, bone_age_months: float | None, male: bool | None
) -> Subject:
    """Draw one subject; labels not given are drawn (bone age RSNA-like, sex 50/50)."""
    drawn_age = sample_bone_age(rng)
    drawn_male = bool(rng.random() < 0.5)
    ba = drawn_age if bone_age_months is None else float(bone_age_months)
    is_male = drawn_male if male is None else bool(male)
    sign = 1.0 if is_male else -1.0
    # Sex differences in proportions grow towards puberty.
    strength = 0.55 + 0.45 * _smooth((ba - 60.0) / 120.0)
    deviation = rng.normal(0.0, 1.2 + 0.022 * ba)
    maturity = ba + (0.0 if is_male else girls_lead(ba)) + deviation
    length = float(np.interp(ba, _LEN_AGE, _LEN_MM))
    length *= (1.0 if is_male else 0.93) * math.exp(rng.normal(0.0, 0.06))
    timing = {name: float(rng.normal(0.0, 5.0)) for name in CARPALS}
    for key in ("radius", "ulna", "mc", "mc1", "pp", "mp", "dp"):
        timing[key] = float(rng.normal(0.0, 5.0))
    return Subject(
        bone_age_months=ba,
        male=is_male,
        maturity=float(maturity),
        hand_length_mm=float(length),
        breadth=float(1.0 + sign * 0.065 * strength + rng.normal(0.0, 0.04)),
        shaft=float(1.0 + sign * 0.075 * strength + rng.normal(0.0, 0.055)),
        index_ring=float(0.975 - sign * 0.018 * strength + rng.normal(0.0, 0.018)),
        carpal_scale=float(1.0 + sign * 0.04 * strength + rng.normal(0.0, 0.045)),
        soft_tissue=float(math.exp(rng.normal(-0.06 * sign * strength, 0.12))),
        density=float(math.exp(rng.normal(0.0, 0.06))),
        timing=timing,
        angles={r: float(rng.normal(0.0, 3.5)) for r in range(1, 6)},
        lengths={r: float(math.exp(rng.normal(0.0, 0.025))) for r in range(1, 6)},
        shape_seed=int(rng.integers(0, 2**31 - 1)),
    )


def _rot(deg: float) -> np.ndarray:
    a = math.radians(deg)
    return np.array([math.sin(a), math.cos(a)])  # angle measured from +y towards +x


_T11 = np.linspace(0.0, 1.0, 11)
_NEAR0 = np.clip(1.0 - _T11 / 0.55, 0.0, 1.0) ** 1.8
_NEAR1 = np.clip((_T11 - 0.45) / 0.55, 0.0, 1.0) ** 1.8
_CAPS = np.linspace(0.0, math.pi, 7)[1:-1]
_CAP_COS = np.array([math.cos(c) for c in _CAPS])
_CAP_SIN = np.array([math.sin(c) for c in _CAPS])


def _scaled(widths: tuple[float, float, float], factor: float) -> tuple[float, float, float]:
    """Each of the three widths times ``factor``."""
    w0, ws, w1 = widths
    return (w0 * factor, ws * factor, w1 * factor)


def bone_outline(
    a: np.ndarray, b: np.ndarray, widths: tuple[float, float, float], n: int = 11
) -> np.ndarray:
    """Outline of a tubular bone from ``a`` (proximal) to ``b``: end, waist, end widths."""
    w0, ws, w1 = widths
    d = b - a
    length = float(np.hypot(*d)) or 1e-6
    u = d / length
    v = np.array([u[1], -u[0]])  # to the right of the axis
    if n == 11:
        t, near0, near1 = _T11, _NEAR0, _NEAR1
    else:
        t = np.linspace(0.0, 1.0, n)
        near0 = np.clip(1.0 - t / 0.55, 0.0, 1.0) ** 1.8
        near1 = np.clip((t - 0.45) / 0.55, 0.0, 1.0) ** 1.8
    half = 0.5 * (ws + (w0 - ws) * near0 + (w1 - ws) * near1)
    axis = a[None, :] + t[:, None] * d[None, :]
    right = axis + half[:, None] * v[None, :]
    left = axis - half[:, None] * v[None, :]
    cos_v = _CAP_COS[:, None] * v[None, :]
    cap1 = b[None, :] + (0.5 * w1) * cos_v + ((0.16 * w1) * _CAP_SIN)[:, None] * u[None, :]
    cap0 = a[None, :] - (0.5 * w0) * cos_v - ((0.12 * w0) * _CAP_SIN)[:, None] * u[None, :]
    return np.vstack([right, cap1, left[::-1], cap0])


_CIRCLES: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}


def _circle(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Angles, ones, cosines and sines of ``n`` points round a circle (cached)."""
    found = _CIRCLES.get(n)
    if found is None:
        t = np.linspace(0.0, 2.0 * math.pi, n, endpoint=False)
        found = (t, np.ones_like(t), np.cos(t), np.sin(t))
        _CIRCLES[n] = found
    return found


def ellipse(
    c: np.ndarray, ax: float, ay: float, deg: float, n: int = 20, wobble: np.ndarray | None = None
) -> np.ndarray:
    """Outline of an ellipse (semi-axes ``ax``, ``ay``, rotated ``deg``), optionally wobbly."""
    t, r, cos_t, sin_t = _circle(n)
    if wobble is not None:
        for k, (amp, phase) in enumerate(wobble, start=2):
            r = r + amp * np.cos(k * t + phase)
    x = ax * r * cos_t
    y = ay * r * sin_t
    a = math.radians(deg)
    ca, sa = math.cos(a), math.sin(a)
    return np.stack([c[0] + ca * x - sa * y, c[1] + sa * x + ca * y], axis=1)


def _growth(m: float, appear: float, span: float) -> float:
    """0 before appearance, then rising from 0.22 to 1 over ``span`` months."""
    if m < appear:
        return 0.0
    return float(min(1.0, 0.22 + 0.78 * ((m - appear) / span) ** 0.75))


def _fusion(m: float, window: tuple[float, float]) -> float:
    return float(np.clip((m - window[0]) / (window[1] - window[0]), 0.0, 1.0))


class _Builder:
    def __init__(self, subject: Subject) -> None:
        self.s = subject
        self.shapes: list[Shape] = []
        self.group = 0
        m = subject.maturity
        self.m = m
        # Cortical density and thickness grow with maturity.
        self.cortex = subject.density * (0.55 + 0.45 * _smooth(m / 200.0))
        self.medulla = 0.42 + 0.18 * _smooth(m / 200.0)
        self.wall = 0.16 + 0.12 * _smooth(m / 200.0)  # cortex as a fraction of width
        # Young bones are slender relative to their length; ends are cartilage.
        self.slender = 0.8 + 0.2 * _smooth(m / 150.0)

    def _new_group(self) -> int:
        self.group += 1
        return self.group

    def tubular(
        self,
        name: str,
        a: np.ndarray,
        b: np.ndarray,
        widths: tuple[float, float, float],
        epi: str | None,
        epi_at_start: bool,
        epi_height: float,
    ) -> None:
        """A tubular bone with an optional epiphysis at its start (``a``) or end (``b``)."""
        s = self.s
        group = self._new_group()
        w0, ws, w1 = widths
        ws = ws * s.shaft * self.slender
        d = b - a
        length = float(np.hypot(*d))
        u = d / length
        v = np.array([u[1], -u[0]])
        key = epi if epi is not None else ""
        if epi is not None:
            m = self.m + s.timing.get(key, 0.0)
            grow = _growth(m, _EPI_APPEAR[key], 95.0)
            fuse = _fusion(m, _FUSION[key])
            end_w = w0 if epi_at_start else w1
            physis = 0.06 * (1.0 - fuse) * (0.6 + 0.4 * (1.0 - grow))
            if epi_at_start:
                joint, inward = a, u
            else:
                joint, inward = b, -u
            meta = joint + inward * (epi_height + physis)
            if epi_at_start:
                a2, b2 = meta, b
                body_w = (end_w * (0.75 + 0.25 * grow), ws, w1)
            else:
                a2, b2 = a, meta
                body_w = (w0, ws, end_w * (0.75 + 0.25 * grow))
            outer = bone_outline(a2, b2, body_w)
            inner = bone_outline(
                a2 + 0.06 * length * u,
                b2 - 0.06 * length * u,
                _scaled(body_w, 1.0 - 2.0 * self.wall),
            )
            self.shapes.append(
                Shape("bone", outer, inner, group, self.cortex, self.cortex * self.medulla, name)
            )
            if grow > 0.0:
                ew = end_w * min(1.06, grow * (1.0 + 0.06 * fuse))
                eh = min(ew * 0.9, epi_height * (0.45 + 0.55 * grow))
                centre = joint + inward * (epi_height - 0.5 * eh + 0.15 * epi_height * (1 - grow))
                if fuse > 0.0:
                    centre = centre + inward * 0.5 * physis * fuse
                angle = math.degrees(math.atan2(u[1], u[0]))
                outline = ellipse(centre, 0.5 * eh, 0.5 * ew, angle, n=22)
                inner_e = ellipse(centre, 0.5 * eh * 0.55, 0.5 * ew * 0.75, angle, n=16)
                self.shapes.append(
                    Shape(
                        "blob",
                        outline,
                        inner_e,
                        group,
                        self.cortex * 0.95,
                        self.cortex * self.medulla,
                        f"{name}-epiphysis",
                    )
                )
                if 0.3 < fuse < 1.0 or (fuse >= 1.0 and m < _FUSION[key][1] + 14):
                    scar = 0.5 * (1.0 - abs(fuse - 0.7) / 0.7) if fuse < 1.0 else 0.25
                    mid = meta - inward * 0.5 * physis
                    line = np.array([mid - 0.45 * end_w * v, mid + 0.45 * end_w * v])
                    self.shapes.append(
                        Shape("line", line, None, group, scar * self.cortex, 0.0, f"{name}-scar")
                    )
        else:
            outer = bone_outline(a, b, (w0, ws, w1))
            inner = bone_outline(
                a + 0.06 * length * u,
                b - 0.06 * length * u,
                _scaled((w0, ws, w1), 1.0 - 2.0 * self.wall),
            )
            self.shapes.append(
                Shape("bone", outer, inner, group, self.cortex, self.cortex * self.medulla, name)
            )

    def carpals(self) -> None:
        s = self.s
        rng = np.random.default_rng(s.shape_seed)
        for name, (appear, centre, axes, angle) in CARPALS.items():
            wobble = rng.normal(0.0, 0.05, size=(3, 2))
            wobble[:, 1] = rng.uniform(0.0, 2 * math.pi, size=3)
            m = self.m + s.timing[name]
            grow = _growth(m, appear, 125.0 if name != "pisiform" else 60.0)
            if grow <= 0.0:
                continue
            angular = _smooth((m - appear) / 110.0)
            wob = wobble * np.array([[angular, 1.0]])
            scale = 1.55 * s.carpal_scale * grow
            roundish = 1.0 - 0.5 * angular
            ax = axes[0] * scale
            ay = axes[1] * scale
            ax, ay = ax + (ay - ax) * 0.5 * roundish * 0.0, ay
            c = np.array([centre[0] * s.breadth * 1.1, centre[1]]) * (0.92 + 0.08 * s.carpal_scale)
            outer = ellipse(c, ax, ay, angle, n=24, wobble=wob)
            inner = ellipse(c, ax * 0.72, ay * 0.72, angle, n=16, wobble=wob)
            self.shapes.append(
                Shape(
                    "blob",
                    outer,
                    inner,
                    self._new_group(),
                    self.cortex,
                    self.cortex * self.medulla,
                    name,
                )
            )


def build_skeleton(subject: Subject) -> tuple[list[Shape], dict[str, np.ndarray]]:
    """The bones of ``subject`` as shapes, and landmark points for the soft tissue."""
    s = subject
    bld = _Builder(s)
    marks: dict[str, np.ndarray] = {}
    young = 0.93 - 0.1 * (1.0 - _smooth(bld.m / 120.0))  # short fingers in infancy
    for ray in range(1, 6):
        base = np.array([_MC_BASE[ray][0] * s.breadth * 1.1, _MC_BASE[ray][1]])
        head = np.array([_MC_HEAD[ray][0] * s.breadth * 1.18, _MC_HEAD[ray][1]])
        head = base + (head - base) * s.lengths[ray]
        epi = "mc1" if ray == 1 else "mc"
        bw, sw, hw = _MC_W[ray]
        bld.tubular(
            f"mc{ray}", base, head, (bw, sw, hw), epi, ray == 1, 0.045 if ray == 1 else 0.11
        )
        marks[f"mc{ray}_base"] = base
        marks[f"mc{ray}_head"] = head
        direction = _rot(_FINGER_ANGLE[ray] + s.angles[ray])
        finger_len = s.lengths[ray] * young
        if ray == 2:
            finger_len *= math.sqrt(s.index_ring)
        elif ray == 4:
            finger_len /= math.sqrt(s.index_ring)
        gap = 0.035
        p = head + direction * gap
        segs = [("pp", _PP_LEN, _PP_W)]
        if ray != 1:
            segs.append(("mp", _MP_LEN, _MP_W))
        segs.append(("dp", _DP_LEN, _DP_W))
        for i, (kind, lens, widths) in enumerate(segs):
            q = p + direction * lens[ray] * finger_len
            bend = direction if i == 0 else _rot(_FINGER_ANGLE[ray] + s.angles[ray] * (1 + i))
            q = p + bend * lens[ray] * finger_len
            bld.tubular(f"{kind}{ray}", p, q, widths[ray], kind, True, 0.045)
            p = q + bend * gap * 0.8
        marks[f"tip{ray}"] = p + direction * 0.03
    # Forearm: radius (thumb side) and ulna, distal ends near the carpus.
    r_end = np.array([0.19 * s.breadth, -0.62])
    u_end = np.array([-0.28 * s.breadth, -0.66])
    tilt = np.array([0.04, -1.0])
    bld.tubular("radius", r_end + 2.2 * tilt, r_end, (0.3, 0.25, 0.5), "radius", False, 0.09)
    bld.tubular("ulna", u_end + 2.2 * tilt, u_end, (0.23, 0.17, 0.24), "ulna", False, 0.075)
    marks["radius_end"] = r_end
    marks["ulna_end"] = u_end
    bld.carpals()
    return bld.shapes, marks
