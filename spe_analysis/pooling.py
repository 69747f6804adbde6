"""Global pooling strategies (placeholder: the core helper replaces this module)."""
POOL_NAMES = ("avg", "max", "min", "mix", "learned", "avgmax")
