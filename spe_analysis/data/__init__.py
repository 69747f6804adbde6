"""Datasets as uint8 tensors, decoded once and cached on disk.

```python
from . import load_dataset, select_splits
data = load_dataset("digits")                      # or cifar10, imagefolder:PATH, ...
train_x, train_y, val_x, val_y = select_splits(data, train_subset=1000, val_split=0.1)
```
"""
from __future__ import annotations

from ..names import DATASET_NAMES, IMAGEFOLDER, check_dataset_name
from .cache import cache_root
from .imagedata import ImageData, channel_stats
from .splits import select_splits


__all__ = ["DATASET_NAMES", "ImageData", "cache_root", "channel_stats", "check_dataset_name",
           "load_dataset", "select_splits"]


def load_dataset(name: str, data_dir: str | None = None, *, download: bool = True) -> ImageData:
    """Load a dataset by name (see DATASET_NAMES, or ``imagefolder:PATH``).

    ``data_dir`` is where the torchvision datasets live (default: ``torchvision/`` in the
    cache folder); ``download=False`` never touches the network.  Raises SpeError with one
    line when the name is unknown or the files are missing or malformed.
    """
    check_dataset_name(name)
    if name == "digits":
        from .digits import load_digits_data

        return load_digits_data(name)
    if name.startswith(IMAGEFOLDER):
        from .imagefolder import load_imagefolder

        return load_imagefolder(name, name[len(IMAGEFOLDER):])
    from .torchvision_sets import load_torchvision_set

    return load_torchvision_set(name, data_dir, download=download)
