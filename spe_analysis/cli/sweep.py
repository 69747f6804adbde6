"""`spe sweep`: the alpha x beta grid of mix pools plus the avg baseline, over seeds,
resumable, parallel (local processes or Ray), with a live display."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from ..training.config import RunConfig
from ..errors import SpeError, choose
from ..names import (AUTO_FUSE, DEFAULT_STALE_AFTER, DEVICES, EXECUTORS, EXTRA_POOLS, FUSE_HELP, GRID_HELP,
                     MIXES_HELP)
from ..pool_labels import pool_label
from . import options as opt
from .app import app

GRID = "Grid"
SEQUENTIAL = "Group-sequential design"
SLURM = "Slurm executor"


def _cell(config: RunConfig) -> str:
    pool = (f"mix a={config.alpha:g} b={config.beta:g}" if config.pool == "mix"
            else pool_label(config.pool, config.pool_param))
    return f"{pool} seed {config.seed}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    if seconds < 60:
        return f"{seconds:.1f}s"
    seconds = round(seconds)
    h, rest = divmod(seconds, 3600)
    return f"{h}h{rest // 60:02d}m" if h else f"{rest // 60}m{rest % 60:02d}s"


@app.command()
def sweep(
    out: Annotated[Path, typer.Option(help="Sweep directory: OUT/sweep.toml and OUT/runs/<run_id>.json.")],
    alpha_grid: Annotated[Optional[str], typer.Option(help=f"Weights of global max: {GRID_HELP}.",
                                                      rich_help_panel=GRID)] = None,
    beta_grid: Annotated[Optional[str], typer.Option(help=f"Weights of global min: {GRID_HELP}.",
                                                     rich_help_panel=GRID)] = None,
    mixes: Annotated[Optional[str], typer.Option(
        help=f"Only these mix cells, {MIXES_HELP}; the grids default to their alphas and betas.",
        rich_help_panel=GRID)] = None,
    seeds: Annotated[Optional[str], typer.Option(
        help="A count (5 means seeds 0-4) or a comma list of seeds, 0,1,2 (default: 5).",
        rich_help_panel=GRID)] = None,
    also: Annotated[Optional[str], typer.Option(
        help=f"Extra pools to run with the same seeds, each its own cell, comma list of "
        f"{', '.join(EXTRA_POOLS)} (see spe train --pool) or a name registered under spe.pools, e.g. "
        "lse:1,lse:4,gem:3,meanstd:1,dct. With --also alone (no grids) the sweep has no mix cells.",
        rich_help_panel=GRID)] = None,
    include_zero: Annotated[Optional[bool], typer.Option(
        "--include-zero", help="Also run alpha = beta = 0 (a constant statistic; left out by default).",
        rich_help_panel=GRID)] = None,
    dataset: opt.Dataset = None,
    model: opt.Model = None,
    attention: opt.Attention = None,
    epochs: opt.Epochs = None,
    preset: opt.Preset = None,
    train_subset: opt.TrainSubset = None,
    val_split: opt.ValSplit = None,
    precision: opt.Precision = None,
    data_dir: opt.DataDir = None,
    device: Annotated[Optional[str], typer.Option(
        help=f"Device of every run: {', '.join(DEVICES)} (default: auto).", rich_help_panel=opt.EXEC)] = None,
    deterministic: opt.Deterministic = False,
    workers: Annotated[Optional[str], typer.Option(
        help="Runs at once, each in its own process, or auto: four per CUDA device, else the "
        "measured best layout for this CPU (default: auto).", rich_help_panel=opt.EXEC)] = None,
    threads: Annotated[Optional[int], typer.Option(
        help="Torch threads per run (default: the CPU threads divided among the workers).",
        rich_help_panel=opt.EXEC)] = None,
    fuse: Annotated[Optional[str], typer.Option(
        help=f"Train up to K runs at a time as one fused model: {FUSE_HELP}; auto is off on CPUs "
        f"(measured no faster there) and {AUTO_FUSE['cuda']} on CUDA (not yet measured); with --deterministic "
        "each run trains bit for bit as unfused (default: auto).",
        rich_help_panel=opt.EXEC)] = None,
    executor: Annotated[Optional[str], typer.Option(
        help=f"{opt.described(EXECUTORS, EXECUTORS)}; with ray and slurm OUT must be on storage every "
        "node shares (default: local).", rich_help_panel=opt.EXEC)] = None,
    ray_address: Annotated[Optional[str], typer.Option(
        help="Ray cluster to submit to, e.g. auto or ray://head:10001 (default: start a local one).",
        rich_help_panel=opt.EXEC)] = None,
    num_cpus: Annotated[Optional[float], typer.Option(
        help="CPUs each Ray task reserves, also its torch threads (default: 1).", rich_help_panel=opt.EXEC)] = None,
    num_gpus: Annotated[Optional[float], typer.Option(
        help="GPUs each Ray task reserves, fractions allowed (default: 0).", rich_help_panel=opt.EXEC)] = None,
    stale_after: Annotated[Optional[float], typer.Option(
        help=f"Seconds without a heartbeat after which another host's run lock counts as abandoned "
        f"(default: {DEFAULT_STALE_AFTER:g}).", rich_help_panel=opt.EXEC)] = None,
    slurm_partition: Annotated[Optional[str], typer.Option(
        help="Partition of the jobs (default: the cluster's default).", rich_help_panel=SLURM)] = None,
    slurm_time: Annotated[Optional[int], typer.Option(
        help="Time limit of each job in minutes (default: the partition's).", rich_help_panel=SLURM)] = None,
    slurm_gpus: Annotated[Optional[int], typer.Option(
        help="GPUs per job (default: none).", rich_help_panel=SLURM)] = None,
    slurm_cpus: Annotated[Optional[int], typer.Option(
        help="CPUs per job, also the run's torch threads (default: 1).", rich_help_panel=SLURM)] = None,
    slurm_mem: Annotated[Optional[str], typer.Option(
        help="Memory per job, e.g. 8G (default: the partition's).", rich_help_panel=SLURM)] = None,
    slurm_array_parallelism: Annotated[Optional[int], typer.Option(
        help="Jobs of the sweep's job array running at once (default: 256).", rich_help_panel=SLURM)] = None,
    slurm_option: Annotated[Optional[list[str]], typer.Option(
        help="Any other sbatch option as KEY=VALUE, e.g. qos=high or account=lab; repeatable.",
        rich_help_panel=SLURM)] = None,
    until_decided: Annotated[Optional[bool], typer.Option(
        "--until-decided", help="Run seeds look by look (--looks) and stop each cell once it is decided: "
        "better/worse by a two-sided Welch test at total alpha = --significance, split over the cells "
        "(Bonferroni); equivalent by TOST at --margin, each half at one-sided alpha from the same "
        "spending. Boundaries on the z scale come from the joint normal of the looks, "
        "corr(Z_i, Z_j) = sqrt(t_i / t_j); a Welch t crosses when its p is below the look's nominal p. "
        "The baseline runs while any cell is open; spe stats applies the same analysis.",
        rich_help_panel=SEQUENTIAL)] = None,
    looks: Annotated[Optional[str], typer.Option(
        help="Seeds per arm at each look, e.g. 3,5,8,12 (the last is the maximum), or a count K with "
        "--max-seeds N (looks at ceil(k N / K)).", rich_help_panel=SEQUENTIAL)] = None,
    max_seeds: Annotated[Optional[int], typer.Option(
        help="Seeds per arm at the last look, with --looks K.", rich_help_panel=SEQUENTIAL)] = None,
    spending: Annotated[Optional[str], typer.Option(
        help="Lan-DeMets alpha spending by information fraction t = seeds at the look / max seeds: "
        "obf, alpha(t) = 2 - 2 Phi(z_{1-alpha/2} / sqrt(t)) (O'Brien-Fleming type, spends little "
        "early), or pocock, alpha ln(1 + (e - 1) t) (default: obf).", rich_help_panel=SEQUENTIAL)] = None,
    significance: Annotated[Optional[float], typer.Option(
        help="Family-wise two-sided alpha of the design (default: 0.05).", rich_help_panel=SEQUENTIAL)] = None,
    margin: Annotated[Optional[float], typer.Option(
        help="Equivalence margin of the design, in accuracy points (default: 0.5).",
        rich_help_panel=SEQUENTIAL)] = None,
    config: Annotated[Optional[Path], typer.Option(
        help="TOML file with any of these options (underscored keys, e.g. alpha_grid = \"0:1:0.25\") "
        "and hyperparameters (lr, batch_size...); flags override it. OUT/sweep.toml is one.")] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Print the specification, the runs (done / to do) and a time estimate; run nothing.")] = False,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Run the failed runs again.")] = False,
    force: Annotated[bool, typer.Option(
        "--force", help="Run into OUT even when it holds a sweep with other hyperparameters.")] = False,
    quiet: Annotated[bool, typer.Option(
        "--quiet", help="Log lines (one per finished run) instead of the live display.")] = False,
) -> int:
    """Train every (alpha, beta) mix cell and the avg baseline (plus --also pools) for every seed.

    Finished runs are skipped, so the same command resumes an interrupted sweep; a wider grid
    or more seeds into the same OUT runs only the new runs. Exits 1 when a run failed.

    Example: spe sweep --alpha-grid 0:1:0.5 --beta-grid 0:1:0.5 --seeds 3 --epochs 5 --out sweeps/demo
    """
    from ..sweep import build_spec, make_executor, read_config, run_sweep, sequential
    from ..sweep.executors.slurm import parse_options as parse_slurm_options, settings as slurm_settings
    from ..sweep.executors import fuse_size

    flags = dict(alpha_grid=alpha_grid, beta_grid=beta_grid, mixes=mixes, seeds=seeds, also=also,
                 include_zero=include_zero, dataset=dataset, model=model, attention=attention,
                 epochs=epochs, preset=preset, train_subset=train_subset, val_split=val_split,
                 precision=precision,
                 data_dir=str(data_dir) if data_dir else None, device=device, workers=workers, fuse=fuse,
                 threads=threads, executor=executor, ray_address=ray_address, num_cpus=num_cpus,
                 num_gpus=num_gpus, stale_after=stale_after, slurm_partition=slurm_partition,
                 slurm_time=slurm_time, slurm_gpus=slurm_gpus, slurm_cpus=slurm_cpus, slurm_mem=slurm_mem,
                 slurm_array_parallelism=slurm_array_parallelism,
                 slurm_option=parse_slurm_options(slurm_option) if slurm_option else None,
                 until_decided=until_decided, looks=looks,
                 max_seeds=max_seeds, spending=spending, significance=significance, margin=margin)
    options: dict[str, Any] = read_config(config) if config else {}
    options.update({k: v for k, v in flags.items() if v is not None})
    spec = build_spec(options)
    run_options = dict(device=options.get("device", "auto"), data_dir=options.get("data_dir"))
    fuse_runs = fuse_size(options.get("fuse"), run_options["device"])  # refuse a bad --fuse before anything
    slots, threads_each, where = _execution(options)  # as the real run checks it, before any output
    console = Console(soft_wrap=True)  # log lines stay whole lines, for grep
    if dry_run:
        return _dry_run(console, out, spec, slots, where, retry_failed, force,
                        dict(run_options, threads=threads_each))
    _name_unreadable(out, spec)
    engine = make_executor(options.get("executor", "local"), workers=options.get("workers", "auto"),
                           device=run_options["device"], threads=options.get("threads"),
                           ray_address=options.get("ray_address"), num_cpus=options.get("num_cpus", 1),
                           num_gpus=options.get("num_gpus", 0), slurm=slurm_settings(options))
    labels = {c.run_id: _cell(c) for c in spec.configs()}
    display = _Display(console, labels, quiet)
    try:
        with display:
            runner = sequential.run_until_decided if spec.until_decided else run_sweep
            summary = runner(spec, out, engine, retry_failed=retry_failed, force=force,
                                deterministic=deterministic,
                                stale_after=options.get("stale_after", DEFAULT_STALE_AFTER),
                                fuse=fuse_runs,
                                on_event=display, **run_options)
    finally:
        engine.close()
    _print_summary(console, out, summary, labels)
    for line in sequential.outcome(spec, out) if spec.until_decided else ():
        console.print(line, highlight=False, markup=False)
    return summary.exit_code


# Options that only one executor reads (besides every --slurm-* option, which only slurm reads):
# with another executor they would be ignored, so they are refused instead.
ONLY_WITH = {"workers": "local", "threads": "local", "ray_address": "ray", "num_cpus": "ray",
             "num_gpus": "ray"}


def _execution(options: dict[str, Any]) -> tuple[int, int, str]:
    """Check where the runs would go as the real run does, starting nothing: (runs at once,
    torch threads per run, where, as the dry run says it)."""
    from ..sweep import local_layout
    from ..sweep.executors import RAY_INSTALL, SlurmExecutor
    from ..sweep.executors.slurm import settings as slurm_settings
    from ..training.run import pick_device

    executor = choose("executor", options.get("executor", "local"), EXECUTORS)
    for name in options:
        owner = "slurm" if name.startswith("slurm_") else ONLY_WITH.get(name)
        if owner is not None and owner != executor:
            raise SpeError(f"--{name.replace('_', '-')} applies only with --executor {owner}, "
                           f"not with {executor}")
    if executor == "slurm":
        jobs = SlurmExecutor(**slurm_settings(options))  # checks submitit, sbatch and the values
        return jobs.slots, jobs.threads, f"as Slurm jobs, up to {jobs.slots} at once"
    if executor == "ray":
        if importlib.util.find_spec("ray") is None:
            raise SpeError(f"--executor ray needs Ray, which is not installed: {RAY_INSTALL}")
        slots = local_layout("auto", options.get("device", "auto"))[0]  # the cluster is not reached yet
        return slots, 1, f"as Ray tasks (timed as {slots} at once, as on this machine)"
    pick_device(options.get("device", "auto"))
    slots, threads, _ = local_layout(options.get("workers", "auto"), options.get("device", "auto"),
                                     options.get("threads"))
    return slots, threads, f"on {slots} worker(s)"


def _name_unreadable(out: Path, spec) -> None:
    """One line on stderr for each record file of the sweep that cannot be read: its run runs again."""
    from ..records import check_record, record_path

    for config in spec.configs():
        path = record_path(out, config.run_id)
        reason = check_record(path)[1] if path.exists() else None
        if reason:
            print(f"spe: warning: {path} {reason}; run {config.run_id} ({_cell(config)}) runs again "
                  "and replaces it", file=sys.stderr)


def _dry_run(console: Console, out: Path, spec, slots: int, where: str, retry_failed: bool, force: bool,
             run_options: dict) -> int:
    from ..sweep import check_directory, estimate, plan, sequential

    stored = check_directory(out, spec, force)
    _name_unreadable(out, spec)
    print(f"# {out / 'sweep.toml'}\n{stored.to_toml()}")
    the_plan = plan(spec, out, sequential.worst_case(spec, out) if spec.until_decided else None)
    seeds = f"up to {len(spec.seeds)} seeds (group-sequential)" if spec.until_decided else f"{len(spec.seeds)} seeds"
    table = Table(title=f"{len(the_plan.configs)} runs: {len(spec.cells())} cells x {seeds}")
    columns = ("pool", "alpha", "beta", "runs", "done", "failed", "to run")
    for name in columns:
        table.add_column(name, justify="left" if name == "pool" else "right")
    for row in the_plan.cell_table(retry_failed):
        table.add_row(*("" if row[k] is None else f"{row[k]:g}" if isinstance(row[k], float) else str(row[k])
                        for k in columns))
    console.print(table)
    for line in sequential.describe(spec) if spec.until_decided else ():
        console.print(line, highlight=False, markup=False)
    guess = estimate(the_plan, slots, retry_failed, **run_options)
    console.print(f"{guess.runs_left} of {len(the_plan.configs)} runs to run {where}; "
                  f"about {_duration(guess.seconds_left)} left "
                  f"({_duration(guess.seconds_per_run)} per run, {guess.source}). Nothing was written.",
                  highlight=False)
    return 0


def _print_summary(console: Console, out: Path, summary, labels: dict[str, str]) -> None:
    table = Table(title=f"sweep {out}: {summary.total} runs in {_duration(summary.seconds)}")
    for name in ("done", "failed", "diverged", "skipped"):
        table.add_column(name, justify="right")
    c = summary.counts
    table.add_row(str(c["ok"]), str(c["failed"]), str(c["diverged"]), str(c["skipped"]))
    console.print(table)
    for rid, error in summary.failed_runs:
        console.print(f"failed {labels.get(rid, '')} (run {rid}): {error}", highlight=False, markup=False)
    if summary.failed_before:
        console.print(f"{summary.failed_before} run(s) failed in an earlier sweep; --retry-failed runs them "
                      "again.", highlight=False)


class _Display:
    """Rich live view on a terminal; plain log lines otherwise (or with --quiet)."""

    def __init__(self, console: Console, labels: dict[str, str], quiet: bool):
        self.console, self.labels, self.quiet = console, labels, quiet
        self.live = None if quiet or not console.is_terminal else Live(console=console, refresh_per_second=4)
        self.running: dict[str, dict] = {}
        self.counts = {"ok": 0, "failed": 0, "diverged": 0, "skipped": 0}
        self.finished, self.todo = 0, 0
        self.bar = Progress(TextColumn("runs"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            TextColumn("eta"), TimeRemainingColumn(), console=console)
        self.task = self.bar.add_task("runs", total=None)

    def __enter__(self) -> "_Display":
        if self.live is not None:
            self.live.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.live is not None:
            self.live.update(self._view(), refresh=True)
            self.live.stop()

    def __call__(self, event: dict) -> None:
        kind = event["event"]
        rid = event.get("run_id", "")
        if kind == "sweep":
            self.todo = event["todo"]
            self.bar.update(self.task, total=event["todo"])
            self._log(f"sweep {event['out']}: {event['total']} runs, {event['skipped']} already done, "
                      f"{event['todo']} to run on {event['workers']} worker(s)", always=True)
        elif kind == "start":
            self.running[rid] = {}
            self._log(f"start {self.labels.get(rid, '')} (run {rid}) on {event['host']} pid {event['pid']}")
        elif kind == "progress" and rid in self.running:
            self.running[rid].update(event)
            if "test_acc" in event:
                self._log(f"      {self.labels.get(rid, '')} epoch {event['epoch']}/{event['epochs']} "
                          f"test {event['test_acc']:.2f}%")
        elif kind == "end":
            self.running.pop(rid, None)
            self.counts[event["status"]] = self.counts.get(event["status"], 0) + 1
            if event["status"] != "skipped":
                self.finished += 1
                self.bar.update(self.task, completed=self.finished)
            acc = event.get("final_test_acc")
            detail = f"test {acc:.2f}%" if acc is not None else (event.get("error") or "")
            seconds = f"{event['seconds']:.1f} s" if event.get("seconds") is not None else ""
            self._log(f"[{self.finished}/{self.todo}] {event['status']:<8} {self.labels.get(rid, '')}  "
                      f"{detail}  {seconds}  (run {rid})", always=True)
        elif kind == "look":
            self._log(f"look {event['look']}: {event['open']} of {event['cells']} cells open, "
                      f"{event['runs']} runs to run", always=True)
        elif kind == "waiting":
            self._log(f"waiting for {len(event['run_ids'])} run(s) that another sweep is running", always=True)
        if self.live is not None:
            self.live.update(self._view())

    def _log(self, line: str, always: bool = False) -> None:
        if self.live is not None:
            if always:
                self.live.console.print(line, highlight=False, markup=False)
        elif always or not self.quiet:
            self.console.print(line, highlight=False, markup=False, soft_wrap=True)

    def _view(self):
        c = self.counts
        status = (f"done {c['ok']}  failed {c['failed']}  diverged {c['diverged']}  "
                  f"running {len(self.running)}  skipped {c['skipped']}")
        table = Table(box=None, show_header=bool(self.running))
        for name in ("run", "cell", "epoch", "step", "loss", "test acc"):
            table.add_column(name)
        for rid, state in self.running.items():
            epoch = f"{state['epoch']}/{state['epochs']}" if "epoch" in state else "-"
            step = f"{state['step']}/{state['steps']}" if "step" in state else "-"
            loss = f"{state['train_loss']:.3f}" if "train_loss" in state else "-"
            acc = f"{state['test_acc']:.2f}%" if "test_acc" in state else "-"
            table.add_row(rid, self.labels.get(rid, ""), epoch, step, loss, acc)
        return Group(self.bar, status, table)
