"""The Typer application that every ``spe`` subcommand registers on."""
import typer

app = typer.Typer(
    name="spe",
    help="Check whether alpha*max + beta*min pooling matches or beats average pooling "
    "inside channel attention: train, sweep, test, plot.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",  # rewrap docstring paragraphs to the terminal width
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root() -> None:
    """Check whether alpha*max + beta*min pooling matches or beats average pooling inside
    channel attention: train (spe train), sweep a grid (spe sweep), test (spe stats, spe plan),
    and draw (spe plot, spe report, spe figures)."""
