"""Keep the command outputs quoted in README.md and docs/*.md equal to what the commands print now.

A quoted output sits between two markers; the first names the command (globs are expanded
as a shell would, relative to the repository root):

    <!-- output: spe stats figures/data/cifar10-se-resnet20 --format markdown -->
    ...what it prints...
    <!-- end output -->

    python scripts/readme_outputs.py           # rewrite every quoted output
    python scripts/readme_outputs.py --check   # exit 1 naming each stale one (the tests run this)
"""
from __future__ import annotations

import argparse
import contextlib
import glob
import io
import re
import shlex
import sys
from pathlib import Path

from spe_analysis.cli import main as spe

ROOT = Path(__file__).resolve().parents[1]
FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"(<!-- output: (?P<command>.+?) -->\n)(?P<output>.*?)(<!-- end output -->)", re.S)


def run(command: str) -> str:
    """What ``spe ARGS`` prints, run in this process from the repository root."""
    words = shlex.split(command)
    if words[0] != "spe":
        raise SystemExit(f"output marker runs {words[0]!r}; only spe commands are quoted")
    args = [match for word in words[1:] for match in (sorted(glob.glob(word, root_dir=ROOT)) or [word])]
    out = io.StringIO()
    with contextlib.chdir(ROOT), contextlib.redirect_stdout(out):
        try:
            spe(args)
        except SystemExit as exc:
            if exc.code:
                raise SystemExit(f"{command}: exit {exc.code}") from None
    return out.getvalue().rstrip("\n") + "\n"


def keep(path: Path, check: bool) -> list[str]:
    """The commands whose quoted output in PATH is stale; unless CHECK, PATH is rewritten."""
    text = path.read_text()
    stale = []

    def refresh(match: re.Match) -> str:
        output = run(match["command"])
        if output != match["output"]:
            stale.append(match["command"])
        return match.group(1) + output + match.group(4)

    updated = BLOCK.sub(refresh, text)
    if check:
        for command in stale:
            print(f"{path}: the output of `{command}` has changed; run python scripts/readme_outputs.py")
    elif updated != text:
        path.write_text(updated)
    return stale


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report stale outputs instead of rewriting them")
    parser.add_argument("--readme", type=Path, action="append",
                        help="a file to keep, repeatable (default: README.md and docs/*.md)")
    args = parser.parse_args()
    stale = [command for path in args.readme or FILES for command in keep(path, args.check)]
    if args.check:
        sys.exit(1 if stale else 0)
    print(f"{len(stale)} output(s) rewritten")


if __name__ == "__main__":
    main()
