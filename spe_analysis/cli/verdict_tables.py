"""Rich tables of verdicts, shared by `spe stats` and `spe meta`."""
from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

TABLE_FORMATS = ("table", "json", "csv", "markdown")
# Colour only repeats the word in the verdict column; blue/orange stay apart for colour-blind readers.
VERDICT_STYLES = {"better": "bold blue", "equivalent": "cyan", "worse": "bold dark_orange",
                  "inconclusive": "yellow", "insufficient": "dim", "baseline": "bold"}


def table_console() -> Console:
    console = Console()
    return console if console.is_terminal else Console(width=160)  # files and pipes: no wrapping


def verdict_table(title: str, columns, rows) -> Table:
    """``rows`` (dicts of strings) under ``columns``, the verdict column coloured by its word."""
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, justify="left" if column in ("cell", "verdict") else "right")
    for row in rows:
        verdict = row.get("verdict")
        values = [Text(row[c], style=VERDICT_STYLES.get(verdict, "")) if c == "verdict" else row[c]
                  for c in columns]
        table.add_row(*values, style="bold" if verdict == "baseline" else None)
    return table
