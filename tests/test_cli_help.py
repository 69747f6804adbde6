"""`spe --help` and every subcommand's help: fast (no torch, scipy or matplotlib imported),
verbatim (Rich markup eats nothing the source says), built from the registries the code uses,
and the small things a newcomer meets first (bare `spe`, `--version`)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import click
import pytest
import typer

from conftest import REPO, run_spe
from spe_analysis import __version__
from spe_analysis.cli import app

COMMANDS = sorted(typer.main.get_command(app).commands)
HEAVY = ("torch", "scipy", "matplotlib")


def _spe(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "spe_analysis", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, cwd=REPO, timeout=120)


def test_help_of_spe_and_of_every_subcommand_imports_no_torch_scipy_or_matplotlib():
    # A fresh interpreter, as `spe --help` starts one; every help in the same process.
    script = (
        "import json, sys\n"
        "from spe_analysis.cli import main\n"
        f"for args in [['--help'], *[[c, '--help'] for c in {COMMANDS!r}], ['--version']]:\n"
        "    try:\n"
        "        main(args)\n"
        "    except SystemExit as exc:\n"
        "        assert exc.code == 0, (args, exc.code)\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == []


def _words(text: str) -> str:
    return " ".join(text.split())


def _help_texts(command: click.Command):
    yield command.name, command.help or ""
    for param in command.params:
        if getattr(param, "help", None):
            yield f"{command.name} {param.name}", param.help


@pytest.mark.parametrize("name", COMMANDS)
def test_help_shows_every_help_text_exactly_as_the_source_writes_it(name):
    command = typer.main.get_command(app).commands[name]
    shown = _words(_spe(name, "--help", COLUMNS="2000", TERMINAL_WIDTH="2000").stdout.replace("│", " "))
    for where, text in _help_texts(command):
        assert _words(text.strip()) in shown, where


def test_root_help_shows_alpha_max_plus_beta_min():
    assert "alpha*max + beta*min" in _words(_spe("--help", COLUMNS="2000").stdout)


def test_figure_kinds_agree_between_plot_help_its_error_and_figures_help():
    from spe_analysis import names

    plot_help = _words(run_spe("plot", "--help").stdout)
    figures_help = _words(run_spe("figures", "--help").stdout)
    for kind in names.PLOT_KINDS:
        assert f"- {kind}:" in plot_help and kind in figures_help
    for kind in names.META_PLOT_KINDS:
        assert f"- {kind}:" in plot_help and f"meta-{kind}" in figures_help
    error = run_spe("plot", str(REPO / "figures" / "data" / "cifar10-se-resnet20"), "--kind", "nope")
    assert error.code == 2
    accepted = error.stderr.split("accepted:")[1]
    for kind in names.PLOT_KINDS:
        assert kind in accepted


def test_choice_lists_in_help_come_from_the_registries():
    from spe_analysis import names

    train = _words(run_spe("train", "--help").stdout)
    for pool in names.POOL_NAMES:
        assert pool in train
    sweep = _words(_spe("sweep", "--help", COLUMNS="2000").stdout)
    for executor in names.EXECUTORS:
        assert f"{executor} (" in sweep
    for dataset in names.DATASET_NAMES:
        assert dataset in sweep


def test_registries_match_the_names_the_help_lists():
    from spe_analysis import attention, data, models, names, plots, pool_labels, pooling
    from spe_analysis.stats import corrections, hypothesis, meta, verdicts

    assert tuple(pooling.POOLS) == names.POOL_NAMES
    assert tuple(attention.HOSTS) == names.ATTENTION_NAMES
    assert (*models.ARCHITECTURES, "airbench") == models.MODEL_NAMES == names.MODEL_NAMES
    assert data.DATASET_NAMES == names.DATASET_NAMES
    assert tuple(plots.KINDS) == tuple(names.PLOT_KINDS)
    assert tuple(plots.META_KINDS) == tuple(names.META_PLOT_KINDS)
    assert corrections.CORRECTIONS == names.CORRECTIONS and hypothesis.TESTS == names.TESTS
    assert tuple(pool_labels.PARAMETERS) == tuple(names.POOL_PARAMETERS)
    assert meta.CI_METHODS == names.CI_METHODS and verdicts.DIVERGED == names.DIVERGED


def test_a_name_added_to_one_registry_only_fails_at_import():
    from spe_analysis import names

    with pytest.raises(RuntimeError, match="names.py"):
        names.registered("pool", ("avg",), {"avg": 1, "gem": 2})


def test_bare_spe_prints_help_and_exits_0():
    done = _spe()
    assert done.returncode == 0, done.stderr
    assert "Usage: spe" in done.stdout and done.stderr == ""


def test_version():
    result = run_spe("--version")
    assert result.code == 0 and result.stdout.strip() == f"spe {__version__}"
