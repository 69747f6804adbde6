"""CIFAR ResNets (placeholder: the core helper replaces this module)."""
MODEL_NAMES = ("resnet20", "resnet56", "resnet110", "resnet164")
