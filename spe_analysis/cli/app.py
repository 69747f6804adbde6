"""The Typer application that every ``spe`` subcommand registers on.

Help text is Rich-formatted in "rich" markup mode: unlike "markdown" mode it leaves
``alpha*max``, ``train/<class>/*`` and the like as written; a help string that needs a literal
``[tag]`` escapes it with :func:`rich.markup.escape`.
"""
from typing import Annotated, Optional

import typer

from .. import __version__

app = typer.Typer(
    name="spe",
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"spe {__version__}")
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def _root(context: typer.Context, version: Annotated[Optional[bool], typer.Option(
        "--version", callback=_version, is_eager=True, help="Print spe's version and exit.")] = None) -> None:
    """Check whether alpha*max + beta*min pooling matches or beats average pooling inside
    channel attention: train (spe train), sweep a grid (spe sweep), test (spe stats, spe meta,
    spe plan), and draw (spe plot, spe report, spe figures)."""
    if context.invoked_subcommand is None:  # bare `spe`: the help, and no error for asking
        typer.echo(context.get_help(), nl=False)
        raise typer.Exit()
