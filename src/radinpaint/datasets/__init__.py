"""Datasets: RSNA Bone Age (all three layouts), folders of images, synthetic phantoms.

Every dataset is a lazy ``Sequence[Case]``: it holds paths and labels, and reads pixels only
when a case is accessed.
"""

from __future__ import annotations

from typing import Any

from .base import IMAGE_EXTENSIONS, ImageDataset
from .folder import attach_side_folders, load_folder, open_dataset
from .rsna import RSNA_LAYOUTS, detect_rsna_layout, load_rsna

__all__ = [
    "IMAGE_EXTENSIONS",
    "RSNA_LAYOUTS",
    "ImageDataset",
    "PhantomDataset",
    "attach_side_folders",
    "detect_rsna_layout",
    "load_folder",
    "load_rsna",
    "make_phantom",
    "make_phantoms",
    "open_dataset",
]

_PHANTOM_NAMES = ("PhantomDataset", "make_phantom", "make_phantoms")


def __getattr__(name: str) -> Any:
    """Import the phantom generator on first use."""
    if name in _PHANTOM_NAMES:
        from . import phantom

        return getattr(phantom, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
