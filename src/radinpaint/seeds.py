"""Deterministic seed derivation.

Variant ``k`` of a request with seed ``s`` uses ``derive_seed(s, k)``: the same inputs always
give the same seed, different variants give unrelated seeds, and the result fits every
random-number generator we use (numpy, torch, Python's ``random``, API ``seed`` fields).
"""

from __future__ import annotations

import hashlib
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

__all__ = ["derive_seed", "rng"]

_MAX_SEED = 2**31 - 1


def _canonical(key: object) -> object:
    """The plain Python value of a key: numpy scalars become int, float, bool or str.

    Tuples and lists are canonicalised item by item. Python values come back unchanged, so
    their ``repr`` (and the seeds derived from it) is what it always was.
    """
    np = sys.modules.get("numpy")  # without numpy imported, no key can be a numpy scalar
    if np is not None and isinstance(key, np.generic):
        return key.item()
    if type(key) is tuple:
        return tuple(_canonical(k) for k in key)
    if type(key) is list:
        return [_canonical(k) for k in key]
    return key


def derive_seed(seed: int, *keys: object) -> int:
    """Return a seed in ``[0, 2**31 - 1)`` derived from ``seed`` and any number of keys.

    Keys are hashed by the ``repr`` of their plain Python value, so ``np.int64(0)`` and
    ``0``, or ``np.str_("a")`` and ``"a"``, derive the same seed (``True`` and ``1`` do not).

    >>> derive_seed(7, 0) == derive_seed(7, 0)
    True
    >>> derive_seed(7, 0) != derive_seed(7, 1)
    True
    """
    text = "\x1f".join([str(int(seed)), *(repr(_canonical(k)) for k in keys)])
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") % _MAX_SEED


def rng(seed: int, *keys: object) -> np.random.Generator:
    """A numpy ``Generator`` seeded with ``derive_seed(seed, *keys)``."""
    import numpy as np

    return np.random.default_rng(derive_seed(seed, *keys))
