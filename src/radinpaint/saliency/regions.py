"""Anatomical regions of a phantom case: its growth plates and its carpal bones.

A phantom case carries the hand (``anatomy_mask``) but not its bones. They are redrawn here
from the case's own recipe: the subject is drawn again from the seed in
``case.metadata`` with the case's labels (the same random stream
:func:`~radinpaint.datasets.phantom.make_phantom` used), its skeleton built, and the
acquisition geometry (pose, zoom, framing) drawn again, so every shape lands on the pixels
it was rendered to. The check that the redraw matches is the subject's maturity, recorded
in the metadata: a case whose recipe does not reproduce (not a phantom, another generator
version) has no regions.

Regions (boolean masks in the image frame):

- ``"growth_plates"``: every epiphysis and physeal scar, grown by 0.04 metacarpal lengths so
  the physeal gap between epiphysis and metaphysis is included;
- ``"carpals"``: every carpal bone visible at the subject's maturity.
"""

from __future__ import annotations

import math

import numpy as np

from ..records import Case

__all__ = ["PHANTOM_REGIONS", "phantom_regions"]

PHANTOM_REGIONS: tuple[str, ...] = ("growth_plates", "carpals")
"""The regions :func:`phantom_regions` gives."""

_CARPALS = frozenset(
    ("capitate", "hamate", "triquetrum", "lunate", "trapezium", "trapezoid", "scaphoid", "pisiform")
)
_GROW = 0.04
"""Growth-plate margin, in metacarpal lengths."""


def phantom_regions(case: Case) -> dict[str, np.ndarray]:
    """``{"growth_plates": mask, "carpals": mask}`` of a phantom case, or ``{}`` when the
    case is not a phantom whose recipe reproduces (see the module docs)."""
    import cv2

    from ..datasets.phantom import draw_aspect_ratio, image_width, normalize_version
    from ..datasets.phantom.anatomy import build_skeleton, sample_subject
    from ..datasets.phantom.render import sample_acquisition
    from ..errors import InvalidInputError
    from ..seeds import rng as make_rng

    meta = case.metadata
    generator = str(meta.get("generator", ""))
    if not generator.startswith("radinpaint.phantom/") or "seed" not in meta:
        return {}
    try:
        seed, size = int(meta["seed"]), int(meta["size"])
        version = normalize_version(meta.get("version", "1"))
    except (InvalidInputError, KeyError, TypeError, ValueError):
        return {}
    width: int | None = None
    if version == "2":
        width = image_width(size, draw_aspect_ratio(make_rng(seed, "phantom", "shape")))
    subject = sample_subject(make_rng(seed, "phantom", "subject"), case.bone_age_months, case.male)
    recorded = meta.get("subject", {}).get("maturity_months")
    if recorded is None or not math.isclose(round(subject.maturity, 4), float(recorded)):
        return {}
    shapes, marks = build_skeleton(subject)
    geo = sample_acquisition(
        make_rng(seed, "phantom", "acquisition"), subject, size, width, marks=marks
    ).geometry
    if (geo.height, geo.width) != case.image.shape:
        return {}
    plates = np.zeros(case.image.shape, np.uint8)
    carpals = np.zeros(case.image.shape, np.uint8)
    for s in shapes:
        pts = np.rint(geo.to_px(s.outer)).astype(np.int32).reshape(-1, 1, 2)
        if s.name.endswith("-epiphysis"):
            cv2.fillPoly(plates, [pts], 1)
        elif s.name.endswith("-scar"):
            cv2.polylines(plates, [pts], False, 1, max(1, round(geo.scale * 0.012)))
        elif s.name in _CARPALS:
            cv2.fillPoly(carpals, [pts], 1)
    grow = max(1, round(_GROW * geo.scale))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
    grown = np.asarray(cv2.dilate(plates, kernel))
    return {"growth_plates": grown.astype(bool), "carpals": carpals.astype(bool)}
