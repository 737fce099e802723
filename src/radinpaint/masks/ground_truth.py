"""The ``ground-truth`` mask provider: masks that are already known.

For a :class:`~radinpaint.records.Case` with an ``artifact_mask`` (phantoms, annotated data)
that mask is returned. Otherwise the provider looks for a mask file beside the image's
source: ``<stem>_mask.png`` (or any suffix in ``suffixes``) in the image's folder, then
``masks/<stem>.png`` below it (the layout ``radinpaint phantoms`` writes), or a file of the
same stem in ``directory`` when one is given. Like every provider it takes ``dilate``,
a margin in pixels added around the mask found.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import attrs

from ..errors import MissingLabelError
from ..protocols import as_case
from ..records import Case, Mask, Radiograph, check_same_shape
from ._base import check_dilate, finish_mask

__all__ = ["GroundTruthMasks"]

_EXTENSIONS = (".png", ".tif", ".tiff")


@attrs.define
class GroundTruthMasks:
    """Returns each case's own artifact mask, or the mask file beside its image.

    Args:
        directory: a folder of mask files named like the images (``<stem>.png``); when
            ``None``, masks are looked for beside each image.
        suffixes: stem suffixes tried beside each image (``scan.png`` -> ``scan_mask.png``).
        missing: ``"error"`` (default) or ``"empty"`` (no mask found -> empty mask).
        dilate: margin in pixels added around the mask (default 0: the mask as it is).
    """

    directory: str | None = None
    suffixes: tuple[str, ...] = attrs.field(default=("_mask", ".mask"), converter=tuple)
    missing: str = attrs.field(default="error", validator=attrs.validators.in_(("error", "empty")))
    dilate: int = 0

    name = "ground-truth"

    def __attrs_post_init__(self) -> None:
        self.dilate = check_dilate(self.dilate, self.name)

    def _candidates(self, source: Path) -> list[Path]:
        if self.directory is not None:
            base = Path(self.directory)
            return [base / f"{source.stem}{ext}" for ext in _EXTENSIONS] + [
                base / f"{source.stem}{suf}{ext}" for suf in self.suffixes for ext in _EXTENSIONS
            ]
        beside = [
            source.with_name(f"{source.stem}{suf}{ext}")
            for suf in self.suffixes
            for ext in _EXTENSIONS
        ]
        return beside + [source.parent / "masks" / f"{source.stem}{ext}" for ext in _EXTENSIONS]

    def _one(self, case: Case) -> Mask:
        if case.artifact_mask is not None:
            return case.artifact_mask
        tried: list[Path] = []
        source = case.image.source
        if source and not source.startswith(("phantom:", "memory:")):
            for path in self._candidates(Path(source)):
                tried.append(path)
                if path.exists():
                    from ..io import read_mask

                    mask = read_mask(path)
                    check_same_shape(case.image.shape, mask.shape, f"mask file {path}")
                    return mask
        if self.missing == "empty":
            return Mask.empty(case.image.shape)
        where = ", ".join(str(p) for p in tried[:3]) or "(the image has no source path)"
        raise MissingLabelError(
            f"no ground-truth mask for case {case.id}",
            input=source or case.id,
            fix=f"put a mask file at one of: {where}; or name the folder of masks "
            "(directory=DIR in Python, --masks DIR on the command line); or use another mask "
            "provider (radinpaint plugins lists them)",
        )

    def masks(self, items: Sequence[Case | Radiograph]) -> list[Mask]:
        """One mask per item (see the class docstring for where it comes from)."""
        found = [self._one(as_case(item, i)) for i, item in enumerate(items)]
        if self.dilate == 0:
            return found
        return [finish_mask(m.array, m.source, m.components, self.dilate) for m in found]
