"""scikit-learn's 8x8 handwritten digits: the embedded default that works offline anywhere."""
from __future__ import annotations

from importlib.metadata import version

import numpy as np

from .cache import cache_key, cached
from .imagedata import ImageData, make_image_data

TEST_FRACTION = 0.25
SPLIT_SEED = 0


def load_digits_data(name: str = "digits") -> ImageData:
    # The data ship inside scikit-learn, so its version keys the cache (read without importing it).
    key = cache_key("digits", f"scikit-learn {version('scikit-learn')}")
    return cached(name, "digits", key, lambda: _build(name))


def _build(name: str) -> ImageData:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    # Pixel values are counts 0..16; stretch them to the 0..255 range of every other dataset.
    images = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)[:, None]
    train_x, test_x, train_y, test_y = train_test_split(
        images, digits.target, test_size=TEST_FRACTION, stratify=digits.target,
        random_state=SPLIT_SEED)
    return make_image_data(name, train_x, train_y, test_x, test_y,
                           [str(c) for c in digits.target_names])
