"""Command-line layer: the only part of spe that knows about Typer and Rich.

``main`` runs the Typer app so that every kind of bad input (a usage error found by Typer or
a :class:`~spe_analysis.errors.SpeError` from the library) ends as one line on stderr and
exit status 2, never a traceback.
"""
from __future__ import annotations

import signal
import sys
import threading

import typer
from typer.exceptions import TyperException

from ..errors import SpeError
from .app import app
from . import train, sweep, export, stats, meta, plan, plot, report, figures  # noqa: F401  (register commands)


def _fail(message: str, code: int = 2) -> None:
    line = " ".join(str(message).split())  # one line, whatever the source
    print(f"spe: error: {line}", file=sys.stderr)
    sys.exit(code)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt  # SIGTERM ends a command as Ctrl-C does: a sweep stops its workers


def main(argv: list[str] | None = None) -> None:
    command = typer.main.get_command(app)
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if in_main_thread else None
    try:
        result = command.main(args=argv, prog_name="spe", standalone_mode=False)
    except SpeError as exc:
        _fail(str(exc))
    except typer.Abort:
        _fail("interrupted", 130)
    except TyperException as exc:  # usage errors (exit 2) and other Typer-reported problems
        ctx = getattr(exc, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        _fail(exc.format_message() + hint, getattr(exc, "exit_code", 2))
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)
    sys.exit(result if isinstance(result, int) else 0)
