"""Every `reidbench ...` command and every Python snippet of the README works as written.

Each command is parsed by the real argument parser, abbreviations refused, in every variant its
syntax summary allows (``a|b`` alternatives, ``[optional]`` parts), and the methods, datasets and
published result files it names must exist. Commands that are cheap on the tiny replicas are then
run (in README order, in one shared folder with a copy of ``results/``), rewritten only as
:func:`executable` says: named datasets become their ``-tiny`` replica, ``run`` keeps a cheap
hand-crafted method it names, and placeholders get real files. Training deep methods, real
datasets, GPUs, Slurm, and the two set-up commands CI runs itself are parsed only.
"""
from __future__ import annotations

import argparse
import contextlib
import glob
import io
import itertools
import logging
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pandas as pd
import pytest

from reidbench.cli import build_parser, main
from reidbench.data.layouts import named_datasets
from reidbench.errors import ReidbenchError
from reidbench.registry import ENTRY_POINT_GROUP, get_method
from reidbench.runner import expand_methods

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
PLUGIN_EXAMPLE = "mean_colour"  # the README's example plugin: registered only by its own snippet (run below)
CHEAP = ("hog_euclidean", "lomo_euclidean", "hog_cca", "lomo_cca", "lomo_lfda")  # seconds on the tiny replica
PARSE_ONLY_COMMANDS = ("show", "report", "sweep", "bench")  # need synthetic-small's images, training or a GPU
PLACEHOLDERS = {"M": "hog_cca", "N": "2", "S": "0", "KEY=v1,v2": "pca_dim=1,2", "METHOD": "hog_cca",
                "RESULT.json": "runs/synthetic-small/hog_euclidean__sysu__*.json", "FILE.toml": "run.toml"}


@dataclass(frozen=True)
class Command:
    argv: tuple[str, ...]
    line: int
    setup: bool  # one of the set-up commands CI runs: parsed only

    def __str__(self) -> str:
        return f"README line {self.line}: reidbench {shlex.join(self.argv)}"


# ----------------------------------------------------------------------------- reading the README
def fenced_blocks(lang: str) -> list[tuple[int, str]]:
    """(first line number, code) of every ```lang block."""
    return [(README.count("\n", 0, m.start()) + 2, m.group(1))
            for m in re.finditer(rf"^```{lang}\n(.*?)^```", README, re.MULTILINE | re.DOTALL)]


def setup_spans() -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in re.finditer(r"<!-- setup:\w+ -->.*?<!-- /setup:\w+ -->", README, re.DOTALL)]


def commands_of(code: str, first_line: int, setup: bool = False) -> list[Command]:
    """The reidbench invocations of a shell block: continuation lines joined, `&&` chains split,
    comments and redirections dropped; `torchrun -m reidbench` and `sbatch --wrap` unwrapped."""
    out = []
    for i, line in enumerate(code.replace("\\\n", " ").split("\n")):
        tokens = shlex.split(line, comments=True)
        for _, part in itertools.groupby(tokens, lambda t: t == "&&"):
            argv = reidbench_argv(list(part))
            if argv is not None:
                out.append(Command(tuple(argv), first_line + i, setup))
    return out


def reidbench_argv(tokens: list[str]) -> list[str] | None:
    if not tokens or tokens == ["&&"]:
        return None
    if tokens[0] == "sbatch" and "--wrap" in tokens:
        return reidbench_argv(shlex.split(tokens[tokens.index("--wrap") + 1]))
    if tokens[0] == "torchrun" and "-m" in tokens:
        tokens = tokens[tokens.index("-m") + 1:]
    if not tokens[0].endswith("reidbench"):
        return None
    argv = tokens[1:]
    for i, token in enumerate(argv):  # `> table.csv 2> caption.txt`: the shell's business
        if token in (">", "2>", "|"):
            return argv[:i]
    return argv


def readme_commands() -> list[Command]:
    spans = setup_spans()
    commands = []
    for line, code in fenced_blocks("bash"):
        at = README.index(code)
        commands += commands_of(code, line, setup=any(a <= at < b for a, b in spans))
    for m in re.finditer(r"`(reidbench [^`]+)`", README):  # commands quoted in the prose
        tokens = m.group(1).split()
        if len(tokens) > 2 or (len(tokens) == 2 and tokens[1].startswith("-")):
            commands.append(Command(tuple(tokens[1:]), README.count("\n", 0, m.start()) + 1, False))
    return commands


def variants(argv: tuple[str, ...]) -> list[list[str]]:
    """The command lines a syntax summary stands for: each ``a|b`` alternative once, ``[...]``
    parts included (``[--grid ...]`` and ``...`` are "more of the same": left out)."""
    tokens: list[str] = []
    group: list[str] | None = None
    for token in argv:
        if group is None and token.startswith("["):
            group, token = [], token[1:]
        if group is not None:
            closes = token.endswith("]")
            group.append(token.rstrip("]"))
            if closes:
                tokens += [] if "..." in group else group
                group = None
            continue
        if token != "...":
            tokens.append(token)
    tokens = [PLACEHOLDERS.get(t, t) for t in tokens]
    choices = [t.split("|") if "|" in t else [t] for t in tokens]
    base = [c[0] for c in choices]
    out = [base]
    for i, alternatives in enumerate(choices):
        out += [base[:i] + [alt] + base[i + 1:] for alt in alternatives[1:]]
    return out


COMMANDS = readme_commands()


# ----------------------------------------------------------------------------- parsing
def strict_parser() -> argparse.ArgumentParser:
    """The real parser with abbreviations refused, so a renamed option never passes as a prefix."""
    parser = build_parser()
    todo = [parser]
    while todo:
        p = todo.pop()
        p.allow_abbrev = False
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                todo += list(action.choices.values())
    return parser


def parse(argv: list[str]) -> argparse.Namespace:
    """Parse as the command line does, and check the names the command gives."""
    if argv == ["--version"]:
        return argparse.Namespace(command=None)
    args = strict_parser().parse_args(argv)
    methods = getattr(args, "methods", None) or []
    if methods:
        for name in expand_methods([m for m in methods if m != PLUGIN_EXAMPLE]):
            get_method(name)
    for name in [getattr(args, "method", None)] if args.command in ("tune", "sweep", "list") else []:
        if name is not None:
            get_method(name)
    dataset = getattr(args, "dataset", None)
    if dataset is not None and dataset not in named_datasets():
        raise ReidbenchError(f"unknown dataset '{dataset}'")
    for token in argv:  # published results the README points at
        if token.startswith("results/") and not glob.glob(str(ROOT / token)):
            raise ReidbenchError(f"{token} does not exist in the repository")
    return args


@pytest.mark.parametrize("command", COMMANDS, ids=str)
def test_every_readme_command_parses(command: Command) -> None:
    for argv in variants(command.argv):
        try:
            parse(argv)
        except ReidbenchError as exc:
            pytest.fail(f"{command}\n  as: reidbench {shlex.join(argv)}\n  {exc}")


def test_the_readme_has_the_commands_this_test_expects() -> None:
    """A README reorganised past this test's reach fails here rather than passing with nothing checked."""
    subcommands = {c.argv[0] for c in COMMANDS}
    assert {"run", "table", "eval", "tune", "config", "features", "data", "plot", "list"} <= subcommands
    assert sum(c.setup for c in COMMANDS) == 2  # `reidbench run ...` and `reidbench table ...` of command 1


# ----------------------------------------------------------------------------- running
@dataclass
class Workspace:
    folder: Path
    tiny_root: Path
    features: Path


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Iterator[Workspace]:
    """A folder with a copy of the published results and runs of the tiny replica, where commands run;
    the session's cache folder (conftest's), set here too since module fixtures come first."""
    import numpy as np

    import reidbench
    from reidbench.data.default import named_dataset
    from reidbench.methods.handcrafted.export import export_features

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REIDBENCH_HOME", str(tmp_path_factory.getbasetemp() / "home"))
        folder = tmp_path_factory.mktemp("readme")
        shutil.copytree(ROOT / "results", folder / "results")
        tiny = named_dataset("synthetic-tiny", progress=False)
        with contextlib.chdir(folder):
            reidbench.run(methods=["hog_euclidean", "lomo_cca"], dataset="synthetic-tiny", progress=False)
        features = export_features("hog", tiny.root, folder / "features.npz", progress=False)
        assert np.load(features)["features"].dtype == np.float32
        yield Workspace(folder, tiny.root, features)


def executable(argv: list[str], ws: Workspace) -> list[str] | None:
    """The command as it runs here, or None where it is only parsed. The rewrites: ``--dataset X-small``
    (or ``-full``) -> ``X-tiny``, no dataset (run, tune) -> ``synthetic-tiny``; ``runs/X-small`` ->
    ``runs/X-tiny``; ``table`` without ``--results`` reads ``runs/synthetic-tiny``; ``run`` keeps the
    first CHEAP method it names (RegDB: 2 trials, each a split of its own); ``tune`` scores one point
    (``--budget 1``); ``DIR`` is the tiny replica (features) or a new folder (data synth: tiny presets
    only); ``eval`` scores HOG features of the tiny replica, with ``--data`` pointing at it."""
    command = argv[0] if argv else ""
    if (command in PARSE_ONLY_COMMANDS or "--data" in argv or "--config" in argv or "--launcher" in argv
            or any(a.startswith("cuda") for a in argv)
            or any(re.match(r"(runs|tunes)/(?!synthetic)", a) for a in argv)  # a real dataset's runs
            or command not in
            ("list", "run", "table", "tune", "config", "eval", "features", "data", "plot", "--version")):
        return None
    out = [re.sub(r"^(synthetic(?:-\w+?)?)-(small|full)$", r"\1-tiny", a) for a in argv]
    out = [re.sub(r"^(runs|tunes)/(synthetic(?:-\w+?)?)-(small|full)", r"\1/\2-tiny", a) for a in out]
    if command == "run":
        i = out.index("--methods") + 1
        cheap = [m for m in expand_methods(out[i].split(",")) if m in CHEAP]
        if not cheap:
            return None
        out[i] = cheap[0]
    if command in ("run", "tune") and "--dataset" not in out:
        out += ["--dataset", "synthetic-tiny"]
    if command == "run" and "regdb" in out[out.index("--dataset") + 1] and "--trials" not in out:
        out += ["--trials", "2"]  # RegDB's trials are separate splits: each one is a run of its own
    if command == "tune":
        out += ["--budget", "1"]
    if command == "table" and "--results" not in out:
        out += ["--results", "runs/synthetic-tiny"]
    if command == "config":
        out = [command, *sorted(f for a in out[1:-2] for f in glob.glob(a, root_dir=ws.folder)), *out[-2:]]
    if command == "features":
        out[out.index("--images") + 1] = str(ws.tiny_root)
    if command == "data":
        if out[out.index("--preset") + 1] != "tiny":
            return None
        layout = out[out.index("--dataset") + 1]
        out[out.index("--out") + 1] = str(ws.folder / "synth" / layout)
        shutil.rmtree(ws.folder / "synth" / layout, ignore_errors=True)
    if command == "eval":
        out[out.index("--features") + 1] = str(ws.features)
        out += ["--data", str(ws.tiny_root)]
    return out


def run_here(argv: list[str], folder: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.chdir(folder), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # --version
            code = exc.code
    return code, out.getvalue(), err.getvalue()


def blocks_of_commands() -> list[tuple[int, list[Command]]]:
    """The README's commands grouped by their section (a test each), in README order."""
    sections = [m.start() for m in re.finditer(r"^## ", README, re.MULTILINE)]
    grouped: dict[int, list[Command]] = {}
    for c in COMMANDS:
        offset = len("\n".join(README.split("\n")[:c.line - 1]))
        grouped.setdefault(max(s for s in sections if s <= offset), []).append(c)
    return [(README.count("\n", 0, s) + 1, cs) for s, cs in sorted(grouped.items())]


def _line_id(value: object) -> str:
    return f"line{value}" if isinstance(value, int) else ""


@pytest.mark.parametrize("section, commands", blocks_of_commands(), ids=_line_id)
def test_readme_commands_run_on_the_tiny_replicas(section: int, commands: list[Command], workspace: Workspace) -> None:
    ran = 0
    for command in commands:
        for argv in ([] if command.setup else variants(command.argv)):
            runnable = executable(argv, workspace)
            if runnable is None:
                continue
            code, out, err = run_here(runnable, workspace.folder)
            assert code == 0, f"{command}\n  ran as: reidbench {shlex.join(runnable)}\n  {err.strip()[-600:]}"
            ran += 1
            if runnable[:3] == ["table", "--format", "csv"]:  # what the README promises of csv
                assert "caption" in err and not out.startswith("#")
                assert pd.read_csv(io.StringIO(out), index_col=0).shape[1] > 0
    print(f"README section at line {section}: ran {ran} command line(s)")


# ----------------------------------------------------------------------------- Python and TOML
@contextlib.contextmanager
def root_logging_restored() -> Iterator[None]:
    """A snippet's logging.basicConfig must not reach the other tests."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        root.handlers[:], root.level = handlers, level


def python_snippets() -> list[tuple[int, str]]:
    return [(line, code) for line, code in fenced_blocks("python") if "@register_method" not in code]


@pytest.mark.parametrize("line, code", python_snippets(), ids=_line_id)
def test_python_snippets_run(line: int, code: str, workspace: Workspace) -> None:
    code = code.replace('"synthetic-small"', '"synthetic-tiny"').replace("runs/synthetic-small", "runs/synthetic-tiny")
    with contextlib.chdir(workspace.folder), root_logging_restored(), contextlib.redirect_stderr(io.StringIO()):
        exec(compile(code, f"README.md line {line}", "exec"), {"__name__": "__readme__"})


def test_the_plugin_example_registers_and_runs(workspace: Workspace, tmp_path: Path) -> None:
    """The "Adding a method" snippet, then `reidbench run --methods mean_colour,hog_cca` as the README says
    (in a fresh interpreter, so the plugin never reaches the other tests' registry)."""
    (snippet,) = [code for _, code in fenced_blocks("python") if "@register_method" in code]
    (command,) = [c for c in COMMANDS if PLUGIN_EXAMPLE in " ".join(c.argv)]
    script = (snippet + "\nimport sys\nfrom reidbench.cli import main\n"
              f"sys.exit(main({list(command.argv)!r} + ['--dataset', 'synthetic-tiny', '--trials', '1', "
              f"'--modes', 'all', '--shots', 'single', '--quiet', '--results', {str(tmp_path)!r}]))\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=workspace.folder, capture_output=True, text=True,
                          env={**os.environ}, timeout=300)
    assert done.returncode == 0, done.stderr[-1500:]
    assert "Mean colour" in done.stdout and len(list(tmp_path.glob("mean_colour__sysu__*.json"))) == 1


def test_toml_examples_are_what_reidbench_reads(tmp_path: Path) -> None:
    """The run config is a valid run config of real methods; the entry-point tables name reidbench's groups."""
    from reidbench.runconfig import load_run_config
    from reidbench.runner import resolve_methods

    groups = {ENTRY_POINT_GROUP, "reidbench.datasets", "reidbench.protocols"}
    for line, code in fenced_blocks("toml"):
        data = tomllib.loads(code)
        if "entry-points" in data.get("project", {}):
            assert set(data["project"]["entry-points"]) <= groups, f"README line {line}"
            continue
        path = tmp_path / f"line{line}.toml"
        path.write_text(code)
        cfg = load_run_config(path)
        resolve_methods(list(cfg.methods), cfg.overrides)
        assert cfg.methods and cfg.dataset in named_datasets()
