"""Channel-attention hosts (placeholder: the core helper replaces this module)."""
ATTENTION_NAMES = ("none", "se", "spem", "eca", "cbam")
