"""The paper style every figure uses: sizes, fonts, palettes, and byte-reproducible saving.

Figures are drawn at the size they are printed (one or two columns), so the font sizes
below are the sizes a reader sees.  Saving fixes every date, salt and version string, so
the same data gives the same bytes and figures can be committed and diffed.
"""
from __future__ import annotations

import contextlib
import math
from pathlib import Path

import matplotlib
# Figures are built on an explicit Agg canvas, never through pyplot: no GUI backend, no
# global figure registry, and the user's own backend choice is left alone.
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..errors import SpeError, choose
from ..names import FIGURE_FORMATS, WIDTHS

FORMATS = FIGURE_FORMATS
DPI = 300

# DejaVu Sans ships with matplotlib, so the glyphs (and the bytes) do not depend on which
# fonts a machine has; it also has the α β Δ λ ± ≈ symbols the labels use.
RC = {
    "font.family": "DejaVu Sans",
    "font.size": 7,
    "axes.titlesize": 7,
    "axes.labelsize": 7,
    "xtick.labelsize": 6,
    "ytick.labelsize": 6,
    "legend.fontsize": 6,
    "legend.title_fontsize": 6,
    "figure.titlesize": 7,
    "axes.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "xtick.major.size": 2.5,
    "ytick.major.size": 2.5,
    "lines.linewidth": 1.0,
    "lines.markersize": 3,
    "legend.frameon": False,
    "hatch.linewidth": 0.5,
    "hatch.color": "0.45",
    "savefig.dpi": DPI,
    "figure.dpi": DPI,
    # TrueType (Type 42) fonts in PDF/PS: editable text, accepted by publishers; no Type 3.
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "svg.fonttype": "none",  # text stays text in SVG
    "svg.hashsalt": "spe",  # fixed ids inside SVG files
    "path.simplify": True,
}

# Okabe-Ito, the usual colourblind-safe qualitative palette.
OKABE_ITO = ("#000000", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00",
             "#CC79A7")
# Verdicts: the two decided-good outcomes in blue and green, worse in vermillion, the
# undecided ones in greys so that colour draws the eye to what was shown.
VERDICT_COLORS = {
    "better": "#0072B2",
    "equivalent": "#009E73",
    "worse": "#D55E00",
    "inconclusive": "#8C8C8C",
    "insufficient": "#D0D0D0",
}
BASELINE_COLOR = "#333333"
DIVERGING_CMAP = "RdBu"  # ColorBrewer, colourblind-safe; red below the baseline, blue above
DEPTH_CMAP = "viridis"  # sequential, colourblind-safe, monotone in lightness

# Only fixed strings in the files: no dates, no software versions; the creator is "spe", so
# that a later command knows the file is a figure it may redraw (outputs.check_replace).
_METADATA = {
    "pdf": {"Creator": "spe", "Producer": None, "CreationDate": None},
    "svg": {"Creator": "spe", "Date": None},
    "png": {"Software": "spe"},
}
_MARKS = {"pdf": b"/Creator (spe)", "svg": b"<dc:title>spe</dc:title>", "png": b"tEXtSoftware\x00spe"}


def is_spe_figure(path: Path) -> bool:
    """Whether ``path`` is a figure file that spe wrote (it carries spe's creator mark)."""
    mark = _MARKS.get(path.suffix.lstrip(".").lower())
    return mark is not None and mark in path.read_bytes()


def fit_xticks(ax, labels: list[str], span: float, fontsize: float,
               stacked: list[str] | None = None, offset: float = 0.0) -> None:
    """One x tick label at each of ``offset + 0, 1, 2, ...``, laid out so that none overlap.

    ``span`` is the axis length in inches.  Labels stay horizontal (``stacked``, the
    multi-line variant, first) while they fit their column, else turn upright, else only
    every k-th is shown.  Widths are estimated at a generous 0.6 em per glyph.
    """
    column = 72 * span / len(labels)  # points per tick
    for variant in ([stacked] if stacked else []) + [labels]:
        widest = max(len(line) for label in variant for line in label.split("\n"))
        if widest * 0.6 * fontsize < 0.9 * column:
            ax.set_xticks([i + offset for i in range(len(variant))], variant, fontsize=fontsize,
                          linespacing=0.95)
            return
    step = max(1, math.ceil(1.4 * fontsize / column))
    ax.set_xticks([i + offset for i in range(0, len(labels), step)], labels[::step],
                  fontsize=fontsize, rotation=90)


def number(value: float, spec: str = "g") -> str:
    """``value`` formatted with a true minus sign, as matplotlib writes axis numbers."""
    return format(value, spec).replace("-", "\u2212")


def width_inches(width: str) -> float:
    return WIDTHS[choose("width", width, WIDTHS)]


def check_format(fmt: str) -> str:
    return choose("format", fmt, FORMATS)


@contextlib.contextmanager
def paper_style():
    """Apply the paper style for the figures drawn and saved inside the block only."""
    with matplotlib.rc_context(RC):
        yield


def new_figure(width: str, height: float) -> Figure:
    """A figure ``width`` ('single' or 'double') wide and ``height`` inches tall, on Agg."""
    fig = Figure(figsize=(width_inches(width), height), layout="constrained")
    FigureCanvasAgg(fig)
    fig.get_layout_engine().set(w_pad=0.02, h_pad=0.02, wspace=0.04, hspace=0.04)
    return fig


def save(fig: Figure, path: str | Path, fmt: str) -> Path:
    """Write ``fig`` to ``path`` as ``fmt``; the same figure always gives the same bytes."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SpeError(f"cannot create the output folder {path.parent}: {exc.strerror}") from None
    fig.savefig(path, format=check_format(fmt), dpi=DPI, metadata=_METADATA[fmt])
    return path
