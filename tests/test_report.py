"""`spe report`: one Markdown file (figures beside it) or one self-contained HTML file."""
from __future__ import annotations

import base64
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest

from conftest import assert_usage_error, run_spe
from spe_analysis.plots import KINDS
from spe_analysis.plots.style import WIDTHS
from spe_analysis.records import load_records
from spe_analysis.stats import analyze
from spe_analysis.stats.tables import to_markdown
from test_plots import DRAWN_KINDS, write_all_verdicts

SPEC = '[sweep]\nalpha_grid = "0:1:0.5"\nbeta_grid = "0:1:0.5"\nseeds = 5\n'
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory) -> Path:
    directory = write_all_verdicts(tmp_path_factory.mktemp("sweep"))
    (directory / "sweep.toml").write_text(SPEC)
    return directory


def test_markdown_report_holds_spec_table_claim_and_figures_with_links_that_resolve(sweep_dir,
                                                                                   tmp_path):
    out = tmp_path / "docs" / "my report.md"
    result = run_spe("report", sweep_dir, "--out", out)
    assert result.code == 0, result.stderr
    text = out.read_text(encoding="utf-8")
    stats = analyze(load_records(sweep_dir))
    assert to_markdown([stats]).strip() in text  # the table of `spe stats --format markdown`
    assert stats["claim"]["statement"] in text
    assert f"```toml\n{SPEC}```" in text
    links = LINK.findall(text)
    assert len(links) == len(DRAWN_KINDS)  # heatmap, strip, curves, lambda, dynamics
    for link in links:
        assert "://" not in link and not link.startswith("/")  # relative, so it works on GitHub
        target = out.parent / unquote(link)
        assert target.is_file() and target.read_bytes().startswith(b"\x89PNG"), link
    assert sorted(p.name for p in out.parent.iterdir()) == sorted(
        ["my report.md"] + [f"my report-{k}.png" for k in DRAWN_KINDS])
    assert result.stdout.split("\n")[-2] == str(out)


def test_report_is_reproducible_and_defaults_to_the_sweep_directory(tmp_path):
    directory = write_all_verdicts(tmp_path / "sweep", learned=False)
    assert run_spe("report", directory).code == 0
    first = {p.name: p.read_bytes() for p in directory.iterdir() if p.is_file()}
    assert set(first) == {"report.md", *(f"report-{k}.png" for k in ("heatmap", "strip", "curves"))}
    assert run_spe("report", directory).code == 0
    assert first == {p.name: p.read_bytes() for p in directory.iterdir() if p.is_file()}
    text = first["report.md"].decode()
    assert "Not drawn: lambda (no learned runs" in text
    assert "no sweep.toml" in text


class _Sources(HTMLParser):
    def __init__(self):
        super().__init__()
        self.sources, self.tags = [], set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.sources += [value for name, value in attrs if name in ("src", "href")]


def test_html_report_is_one_self_contained_file(sweep_dir, tmp_path):
    out = tmp_path / "report.html"
    result = run_spe("report", sweep_dir, "--html", "--out", out)
    assert result.code == 0, result.stderr
    assert list(tmp_path.iterdir()) == [out]
    parser = _Sources()
    parser.feed(out.read_text(encoding="utf-8"))
    assert {"table", "img", "pre"} <= parser.tags
    assert len(parser.sources) == len(DRAWN_KINDS)
    for source in parser.sources:
        prefix = "data:image/png;base64,"
        assert source.startswith(prefix)
        assert base64.b64decode(source[len(prefix):]).startswith(b"\x89PNG")


def test_html_report_shows_every_figure_at_one_legible_scale(sweep_dir, tmp_path):
    """Single- and double-column figures at the same pixels per inch, the double one not
    squeezed into the text column: their 6-7 pt text reads at the size of the tables."""
    out = tmp_path / "report.html"
    assert run_spe("report", sweep_dir, "--html", "--out", out).code == 0
    page = out.read_text(encoding="utf-8")
    widths = {alt: int(width) for width, alt in re.findall(r'<img width="(\d+)" src="[^"]+" alt="([^"]+)"', page)}
    assert set(widths) == set(DRAWN_KINDS)
    scale = {kind: widths[kind] / WIDTHS[KINDS[kind].WIDTH] for kind in DRAWN_KINDS}
    assert max(scale.values()) - min(scale.values()) < 2  # px per inch, rounding aside
    assert min(scale.values()) >= 144  # 6 pt text at 12 px or more
    page_rem = float(re.search(r"max-width: ([\d.]+)rem", page).group(1))
    assert max(widths.values()) <= page_rem * 16


def test_html_default_name(sweep_dir):
    result = run_spe("report", sweep_dir, "--html")
    assert result.code == 0, result.stderr
    assert (sweep_dir / "report.html").is_file()


def test_bad_report_input_exits_2_with_one_line(sweep_dir, tmp_path):
    assert_usage_error(run_spe("report", tmp_path / "nope"), "not a directory")
    assert_usage_error(run_spe("report", sweep_dir, "--out", tmp_path), "is a folder")
    assert_usage_error(run_spe("report", sweep_dir, "--correction", "bonferroni"), "correction")
