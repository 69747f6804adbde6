"""The plotting environment: the versions that decide a figure file's exact bytes.

matplotlib draws, FreeType rasterises the text (a new FreeType moves glyph pixels), Pillow
writes the PNGs and zlib compresses PNG and PDF streams.  `spe figures` records them beside
the figures, so that a byte-for-byte check of committed figures knows when it applies.
"""
from __future__ import annotations

import json
import zlib
from pathlib import Path

from ..atomic import atomic_write_text

ENV_FILE = "plotting-env.json"


def plotting_env() -> dict[str, str]:
    import matplotlib
    import PIL
    from matplotlib import ft2font

    return {"matplotlib": matplotlib.__version__, "freetype": ft2font.__freetype_version__,
            "pillow": PIL.__version__, "zlib": zlib.ZLIB_RUNTIME_VERSION}


def write_plotting_env(folder: str | Path) -> Path:
    """Write ``folder/plotting-env.json`` (the same bytes for the same environment)."""
    path = Path(folder) / ENV_FILE
    atomic_write_text(path, json.dumps(plotting_env(), indent=1, sort_keys=True) + "\n")
    return path


def read_plotting_env(folder: str | Path) -> dict[str, str] | None:
    """The environment recorded in ``folder``, None when there is no record."""
    path = Path(folder) / ENV_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
