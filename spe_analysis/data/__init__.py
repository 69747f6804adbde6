"""Datasets (placeholder: the data helper replaces this package)."""
from ..errors import SpeError

DATASET_NAMES = ("digits", "cifar10", "cifar100", "mnist", "fashion-mnist", "svhn")


def check_dataset_name(name: str) -> str:
    if name in DATASET_NAMES or (name.startswith("imagefolder:") and len(name) > len("imagefolder:")):
        return name
    raise SpeError(f"unknown dataset {name!r}; accepted: {', '.join(DATASET_NAMES)}, imagefolder:PATH")
