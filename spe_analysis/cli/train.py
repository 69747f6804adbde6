"""`spe train`: one training run, one record."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from ..training.config import constant_mix, resolve_config
from ..errors import SpeError
from ..pool_labels import POOL_FORMS
from . import options as opt
from .app import app


@app.command()
def train(
    out: Annotated[Path, typer.Option(help="Output directory; the record goes to OUT/runs/<run_id>.json.")],
    dataset: opt.Dataset = "digits",
    model: opt.Model = "resnet20",
    attention: opt.Attention = "se",
    pool: Annotated[str, typer.Option(
        help=f"Squeeze pooling: {POOL_FORMS}. The parameter, or a user's pool's factory and the "
        "version of its code, is part of the run's identity.", rich_help_panel=opt.RUN)] = "avg",
    alpha: Annotated[Optional[float], typer.Option(help="Weight of global max for --pool mix.",
                                                   rich_help_panel=opt.RUN)] = None,
    beta: Annotated[Optional[float], typer.Option(help="Weight of global min for --pool mix.",
                                                  rich_help_panel=opt.RUN)] = None,
    seed: Annotated[int, typer.Option(help="Seed of initialisation, data order and augmentation.",
                                      rich_help_panel=opt.RUN)] = 0,
    epochs: opt.Epochs = None,
    preset: opt.Preset = None,
    train_subset: opt.TrainSubset = None,
    val_split: opt.ValSplit = None,
    precision: opt.Precision = None,
    data_dir: opt.DataDir = None,
    device: opt.Device = "auto",
    deterministic: opt.Deterministic = False,
    include_zero: Annotated[bool, typer.Option(
        "--include-zero", help="Allow --pool mix --alpha 0 --beta 0 (a constant statistic; refused "
        "otherwise, as spe sweep leaves it out).", rich_help_panel=opt.RUN)] = False,
    force: Annotated[bool, typer.Option(
        "--force", help="Train even when OUT holds this run's record (and replace it) or runs with "
        "other hyperparameters.")] = False,
    quiet: Annotated[bool, typer.Option(help="Print only the final line.")] = False,
) -> None:
    """Train one CIFAR-style ResNet with the chosen attention pooling and write its run record.

    OUT is treated as spe sweep treats it: a record of the same run already there is kept and
    reported, not trained again; runs there with other hyperparameters (epochs, recipe,
    dataset, ...) are refused, since spe stats could not compare them.

    Example: spe train --pool mix --alpha 0.5 --beta 0.5 --epochs 5 --out runs/demo
    """
    config = resolve_config(dataset=dataset, preset=preset, model=model, attention=attention,
                            pool=pool, alpha=alpha, beta=beta, seed=seed, epochs=epochs,
                            train_subset=train_subset, val_split=val_split, precision=precision)
    if constant_mix(config.alpha, config.beta) and not include_zero:
        raise SpeError("--pool mix --alpha 0 --beta 0 pools every channel to a constant, a cell spe "
                       "sweep leaves out; add --include-zero to train it anyway")
    kept = None if force else _existing_record(Path(out), config)
    if kept is not None:
        print(_summary(kept, out, "already recorded, kept (--force trains it again)"))
        return
    from ..training import train_run

    console = Console(stderr=True)
    with _progress_display(console, config.run_id, quiet) as on_progress:
        record = train_run(config, out, device=device, data_dir=str(data_dir) if data_dir else None,
                           deterministic=deterministic, on_progress=on_progress)
    print(_summary(record, out, f"{record['metrics']['train_seconds']:.1f} s training"))
    if record["status"] == "failed":
        console.print(f"[red]training failed:[/red] {record['error']}")
        raise typer.Exit(1)


def _summary(record: dict, out: Path, how: str) -> str:
    acc, epochs = record["metrics"]["final_test_acc"], len(record["history"])
    return (f"run {record['run_id']}: {record['status']}, final test accuracy "
            f"{'n/a' if acc is None else f'{acc:.2f}%'} after {epochs} epoch{'' if epochs == 1 else 's'}, "
            f"{how} -> {Path(out) / 'runs' / (record['run_id'] + '.json')}")


def _existing_record(out: Path, config) -> dict | None:
    """The record of this very run in OUT, to keep; None when there is none.  Refuses (SpeError)
    an unreadable record at its path, and an OUT whose sweep.toml or runs have other shared
    hyperparameters than ``config`` (as spe sweep refuses a different sweep in its OUT)."""
    from ..records import check_record, load_records, record_path
    from ..sweep.spec import TRAIN_KEYS, read_spec

    if out.exists() and not out.is_dir():
        raise SpeError(f"--out {out} is a file, not a directory")
    path = record_path(out, config.run_id)
    if path.exists():
        record, reason = check_record(path)
        if record is None:
            raise SpeError(f"{path} {reason}; --force trains the run again and replaces it")
        return record
    spec = read_spec(out)
    mine = config.to_dict()
    others = [("sweep.toml", spec.base.to_dict())] if spec is not None else []
    others += [(f"run {r.get('run_id')}", r["config"]) for r in load_records(out)]
    for where, theirs in others:
        differs = [f"{k} {theirs.get(k)!r}, here {mine.get(k)!r}" for k in TRAIN_KEYS if theirs.get(k) != mine.get(k)]
        if differs:
            raise SpeError(f"{out} holds runs with other hyperparameters ({where}: {'; '.join(differs)}); "
                           "use another --out, or --force to train into it anyway")
    return None


class _progress_display:
    """A Rich bar on a terminal, one plain line per epoch elsewhere, nothing when quiet."""

    def __init__(self, console: Console, run_id: str, quiet: bool):
        self.console, self.run_id, self.quiet = console, run_id, quiet
        self.progress: Progress | None = None

    def __enter__(self):
        if self.quiet:
            return None
        if self.console.is_terminal:
            self.progress = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[status]}"),
                TimeElapsedColumn(), console=self.console, transient=False)
            self.progress.start()
            self.task = self.progress.add_task(f"run {self.run_id}", total=None, status="starting")
        return self.update

    def update(self, event: dict) -> None:
        epoch, epochs = event["epoch"], event["epochs"]
        if "test_acc" in event:
            text = (f"epoch {epoch}/{epochs}  loss {event['train_loss']:.3f}  "
                    f"test {event['test_acc']:.2f}%  {event['images_per_second']:.0f} img/s")
            if self.progress is None:
                self.console.print(text, highlight=False)
        else:
            text = f"epoch {epoch}/{epochs}  step {event['step']}/{event['steps']}  loss {event['train_loss']:.3f}"
        if self.progress is not None:
            done = (epoch - 1) * event["steps"] + event["step"]
            self.progress.update(self.task, completed=done, total=epochs * event["steps"], status=text)

    def __exit__(self, *exc):
        if self.progress is not None:
            self.progress.stop()
        return False
