"""`spe report`: one file that reads well on GitHub: the answer to the claim, the statistics
table of `spe stats`, every figure the data supports, and the sweep's specification.

The report is written as Markdown with the figures as PNG files beside it; the HTML variant
renders that same Markdown (markdown-it) with the figures inlined, so it is one file.
"""
from __future__ import annotations

import base64
import html
import tempfile
from pathlib import Path
from typing import Mapping
from urllib.parse import quote

from PIL import Image

from ..errors import SpeError
from . import ALL, KINDS, META_KINDS, Meta, Sweep, draw
from .style import DPI
from ..atomic import atomic_write_text
from ..outputs import check_replace
from ..stats import meta_tables
from ..stats.tables import to_markdown
from ..stats.verdicts import VERDICTS

# Screen pixels per inch of figure in the HTML report: 6 pt text shows at 12.5 px, and a
# double-column figure (6.9 in, 1035 px) fits the page (66rem) without being scaled down.
SCREEN_PPI = 150
HTML_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; max-width: 66rem;
       margin: 2rem auto; padding: 0 1rem; line-height: 1.5; color: #1f2328; }}
table {{ border-collapse: collapse; font-size: 0.85rem; }}
th, td {{ border: 1px solid #d0d7de; padding: 0.2rem 0.5rem; text-align: right; }}
th:first-child, td:first-child, td:last-child {{ text-align: left; }}
img {{ max-width: 100%; height: auto; }}
pre {{ background: #f6f8fa; padding: 0.8rem; overflow-x: auto; }}
</style>
</head>
<body>
{body}
</body>
</html>
"""


# The titles of a report; an existing file with one is an earlier report, which a new one may replace.
SWEEP_TITLE, META_TITLE = "Sweep report:", "Report across"


def is_report(path: Path) -> bool:
    """Whether ``path`` is a report spe wrote: Markdown opening with its title, or HTML naming it."""
    head = path.read_bytes()[:2048].decode("utf-8", "replace")
    return any(head.startswith(f"# {title} ") or f"<title>{title} " in head
               for title in (SWEEP_TITLE, META_TITLE))


def report_markdown(sweep: Sweep, images: Mapping[str, str], skipped: Mapping[str, str]) -> str:
    """The report as Markdown; ``images`` maps each drawn kind to the URL of its PNG."""
    claim = sweep.stats["claim"]
    counts = ", ".join(f"{claim[v]} {v}" for v in VERDICTS if claim[v])
    parts = [f"# {SWEEP_TITLE} {sweep.name}",
             f"Does α·max + β·min pooling match or exceed average pooling? "
             f"**The claim {'holds' if claim['holds'] else 'is not supported'}** in this sweep "
             f"(cells: {counts}).",
             "## Statistics", to_markdown([sweep.stats]).strip(),
             *_figures(images, skipped, KINDS),
             "## Sweep specification"]
    if sweep.spec is None:
        parts.append("The sweep directory has no sweep.toml.")
    else:
        parts.append("From the sweep directory's sweep.toml:\n\n"
                     f"```toml\n{sweep.spec.rstrip()}\n```")
    return "\n\n".join(parts) + "\n"


def _figures(images: Mapping[str, str], skipped: Mapping[str, str], kinds) -> list[str]:
    """The figures section: each drawn kind with its caption, then the kinds not drawn."""
    parts = ["## Figures"]
    for kind, url in images.items():
        parts += [f"### {kind}", f"![{kind}]({url})", kinds[kind].CAPTION]
    if skipped:
        parts.append("Not drawn: " + "; ".join(f"{kind} ({why})" for kind, why in skipped.items())
                     + ".")
    return parts


def meta_report_markdown(meta: Meta, images: Mapping[str, str],
                         skipped: Mapping[str, str]) -> str:
    """The cross-setting report as Markdown: the claim, the spe meta tables, the figures."""
    claim = meta.result["claim"]
    parts = [f"# {META_TITLE} {meta.name}",
             "Does α·max + β·min pooling match or exceed average pooling across settings? "
             f"**The claim {'holds' if claim['holds'] else 'is not supported'}** when the "
             f"settings are pooled; alone it holds in {claim['settings_holding']} of "
             f"{len(meta.result['settings'])}.",
             "Read from: " + ", ".join(f"`{path}`" for path in meta.paths) + ".",
             "## Statistics", meta_tables.to_markdown(meta.result).strip(),
             *_figures(images, skipped, META_KINDS)]
    return "\n\n".join(parts) + "\n"


def _html(markdown: str, title: str, widths: Mapping[str, int]) -> str:
    """The page; ``widths`` maps each image URL to its width on screen in CSS pixels."""
    from markdown_it import MarkdownIt  # comes with rich; only the HTML report needs it

    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown)
    for url, width in widths.items():
        body = body.replace(f'<img src="{url}"', f'<img width="{width}" src="{url}"')
    return HTML_PAGE.format(title=html.escape(title), body=body)


def screen_width(png: Path) -> int:
    """CSS pixels to show a figure PNG at SCREEN_PPI: every figure at one scale, whatever its
    column width, so its 6-7 pt text reads at the size of the page's tables."""
    with Image.open(png) as image:
        return round(image.width / DPI * SCREEN_PPI)


def write_report(sweep: Sweep | Meta, out: str | Path, as_html: bool = False,
                 force: bool = False) -> list[Path]:
    """Write the report to ``out``; return every file written (the figures come first).

    Markdown: the PNG figures go beside ``out`` as ``<stem>-<kind>.png`` and are linked by
    relative paths.  HTML: one self-contained file, the figures inlined as data URIs.
    Refuses to write over a file that is not an earlier report (or figure), unless ``force``.
    """
    out = Path(out)
    if out.is_dir():
        raise SpeError(f"--out {out} is a folder; give the report's file name, "
                       f"e.g. {out / 'report.md'}")
    check_replace(out, force, is_report)
    markdown = meta_report_markdown if isinstance(sweep, Meta) else report_markdown
    title = f"{META_TITLE if isinstance(sweep, Meta) else SWEEP_TITLE} {sweep.name}"
    if as_html:
        with tempfile.TemporaryDirectory() as tmp:
            drawn = draw(sweep, ALL, tmp, formats=("png",))
            images = {kind: "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode()
                      for kind, (png,) in drawn.files.items()}
            widths = {images[kind]: screen_width(png) for kind, (png,) in drawn.files.items()}
        atomic_write_text(out, _html(markdown(sweep, images, drawn.skipped), title, widths))
        return [out]
    drawn = draw(sweep, ALL, out.parent, formats=("png",), prefix=f"{out.stem}-", force=force)
    images = {kind: quote(png.name) for kind, (png,) in drawn.files.items()}
    atomic_write_text(out, markdown(sweep, images, drawn.skipped))
    return [*drawn.written, out]
