"""``python -m spe_analysis`` is ``spe``, for environments where the script is not on PATH."""
from .cli import main

main()
