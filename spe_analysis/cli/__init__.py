"""Command-line layer: the only part of spe that knows about Typer and Rich.

``main`` runs the Typer app so that every kind of bad input (a click usage error or a
:class:`~spe_analysis.errors.SpeError` from the library) ends as one line on stderr and
exit status 2, never a traceback.
"""
from __future__ import annotations

import sys

import click
import typer

from ..errors import SpeError
from .app import app
from . import train, sweep, export, stats, plan, plot, report, figures  # noqa: F401  (register commands)


def _fail(message: str, code: int = 2) -> int:
    first = " ".join(str(message).split())  # one line, whatever the source
    print(f"spe: error: {first}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="spe", standalone_mode=False)
    except click.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        return _exit(_fail(exc.format_message() + hint))
    except SpeError as exc:
        return _exit(_fail(str(exc)))
    except click.exceptions.Abort:
        return _exit(_fail("interrupted", 130))
    except click.ClickException as exc:
        return _exit(_fail(exc.format_message(), exc.exit_code))
    return _exit(result if isinstance(result, int) else 0)


def _exit(code: int) -> int:
    sys.exit(code)
