"""Command line: ``reidbench run | table | eval | list | data synth | features`` and the figures.

User mistakes end with one line on stderr and exit status 2, never a traceback.
Nothing here imports torch: ``--help``, ``list``, ``table`` and argument or
dataset-layout errors answer without it.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from reidbench.errors import ReidbenchError
from reidbench.store import DEFAULT_RESULTS



class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line and exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        command = self.prog.removeprefix("reidbench").strip()
        raise ReidbenchError(f"{command}: {message}" if command else message)


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _ints(value: str) -> list[int]:
    try:
        return [int(v) for v in _csv(value)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got '{value}'") from None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="reidbench", description="RGB-IR person re-identification benchmark (SYSU-MM01).")
    parser.add_argument("--version", action="version", version=f"reidbench {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    run = sub.add_parser("run", help="fit, embed and evaluate methods under a protocol")
    run.add_argument("--config", type=Path, help="a run config (TOML); options given here win over it")
    run.add_argument("--methods", type=_csv, help="comma-separated method names (see `list`), or a group: "
                                                  "table1, handcrafted, deep, all (required without --config)")
    where = run.add_mutually_exclusive_group()
    where.add_argument("--data", type=Path, help="root of a SYSU-MM01-layout dataset")
    where.add_argument("--dataset", help="a named dataset: synthetic-small (default), synthetic-tiny, synthetic-full")
    run.add_argument("--protocol", help="sysu (official, default) or sysu-agw")
    run.add_argument("--modes", type=_csv, help="all, indoor (default: both)")
    run.add_argument("--shots", type=_csv, help="single, multi (default: both)")
    run.add_argument("--trials", type=int, help="gallery trials, 1-10 (default 10)")
    run.add_argument("--seeds", "--seed", dest="seeds", type=_ints,
                     help="training seed(s), e.g. 0 or 0,1,2: one result per seed, one table row (default 0)")
    run.add_argument("--defaults", action="store_true",
                     help="registry defaults, not the configs tuned on the embedded default's val identities")
    run.add_argument("--device", help="auto (default), cpu, cuda or cuda:N")
    run.add_argument("--results", type=Path, help="results folder (default: runs/<dataset name>)")
    run.add_argument("--cache", type=Path, help="cache folder (default: ~/.cache/reidbench/cache)")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="[METHOD:]KEY=VALUE",
                     help="override a config value (repeatable)")
    run.add_argument("--resume", action="store_true", help="continue interrupted training from its checkpoint")
    run.add_argument("--no-progress", action="store_true")

    table = sub.add_parser("table", help="print a Table-1-style report of a results folder")
    table.add_argument("--results", type=Path, default=DEFAULT_RESULTS,
                       help=f"results folder (default: {DEFAULT_RESULTS}; published ones: results/synthetic-small)")
    table.add_argument("--variants", default="default",
                       help="default: each method's default config (other seeds and trial counts labelled); "
                            "all: every config, labelled with what it changes")
    table.add_argument("--format", default="markdown", help="markdown, latex, csv or html")
    table.add_argument("--protocol", default="sysu")
    table.add_argument("--std", action="store_true", help="show mean ± std over the trials")
    table.add_argument("--with-paper", action="store_true", help="add the paper's Table 1 rows")
    table.add_argument("--minp", action="store_true", help="add mINP columns")
    table.add_argument("--baseline", metavar="METHOD",
                       help="add each method's difference to METHOD with a 95%% CI over the paired trials")

    ev = sub.add_parser("eval", help="evaluate your own features (npz with features and paths)")
    ev.add_argument("--features", type=Path, required=True)
    ev.add_argument("--protocol", default="sysu")
    ev.add_argument("--trials", type=int, default=10)
    ev.add_argument("--distance", default="euclidean", help="euclidean, cosine or neg_dot")
    ev.add_argument("--data", type=Path, help="the dataset the features come from: its test IDs and full listing")
    ev.add_argument("--json", action="store_true", help="print one JSON object")

    tune = sub.add_parser("tune", help="choose hyper-parameters on the validation identities (never test images)")
    tune.add_argument("--method", required=True, help="a registered method (see `list`)")
    tune.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2,...",
                      help="values of one config key (repeat: the grid is the product)")
    tune.add_argument("--metric", default="mAP", help="validation metric to maximise: mAP (default) or r1")
    tune.add_argument("--budget", type=int, help="score this many points drawn at random from the grid")
    tune.add_argument("--seed", type=int, default=0, help="training seed, and the draw of --budget points")
    twhere = tune.add_mutually_exclusive_group()
    twhere.add_argument("--data", type=Path, help="root of a SYSU-MM01-layout dataset")
    twhere.add_argument("--dataset", help="a named dataset (default synthetic-small)")
    tune.add_argument("--val-trials", type=int, default=10, help="seeded validation galleries averaged (default 10)")
    tune.add_argument("--jobs", type=int, help="points run at once, each in its own process (default: one per "
                                               "device, else 1)")
    tune.add_argument("--devices", type=_csv, default=[], help="e.g. cuda:0,cuda:1, given to points round-robin")
    tune.add_argument("--cache", type=Path)
    tune.add_argument("--out", type=Path, help="folder for tuning.json and METHOD.toml "
                                               "(default: tunes/<dataset>/<method>)")
    tune.add_argument("--no-progress", action="store_true")

    conf = sub.add_parser("config", help="write the run config (TOML) that runs these results again")
    conf.add_argument("results", nargs="+", type=Path, help="result JSON files of one dataset and protocol")
    conf.add_argument("--out", type=Path, help="file to write (default: print it)")

    sub.add_parser("list", help="list the registered methods")

    data = sub.add_parser("data", help="dataset tools")
    data_sub = data.add_subparsers(dest="data_command", required=True, parser_class=_Parser)
    synth = data_sub.add_parser("synth", help="write a synthetic SYSU-MM01 replica")
    synth.add_argument("--out", type=Path, required=True)
    synth.add_argument("--preset", default="small", help="tiny, small or full")
    synth.add_argument("--seed", type=int, default=0)

    feats = sub.add_parser("features", help="extract a hand-crafted descriptor for every image of a folder")
    feats.add_argument("--method", required=True, help="lomo or hog")
    feats.add_argument("--images", type=Path, required=True)
    feats.add_argument("--out", type=Path, required=True)

    from reidbench.figures.cli import add_commands

    COMMANDS.update(add_commands(sub))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help(sys.stderr)
            return 2
        return COMMANDS[args.command](args) or 0
    except ReidbenchError as exc:
        print(f"reidbench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        hint = "; run the same command with --resume to continue training from its last checkpoint" \
            if getattr(args, "command", None) == "run" else ""
        print(f"reidbench: interrupted{hint}", file=sys.stderr)
        return 130


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("reidbench")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def cmd_run(args: argparse.Namespace) -> int:
    from reidbench.registry import get_method
    from reidbench.report import build_table, caption_for, render
    from reidbench.runner import RunOptions, expand_methods, run
    from reidbench.selection import select_rows
    from reidbench.store import load_results

    from reidbench.runconfig import RunConfig, load_run_config

    cfg = load_run_config(args.config) if args.config else RunConfig()
    pick = lambda flag, key, default: flag if flag is not None else getattr(cfg, key) or default  # noqa: E731
    if args.methods is None and not cfg.methods:
        raise ReidbenchError("run: the following arguments are required: --methods (or --config FILE)")
    methods = expand_methods(list(pick(args.methods, "methods", [])))
    data, dataset = (args.data, args.dataset) if args.data or args.dataset else (cfg.data, cfg.dataset)
    tuned = {m: {"overrides": cfg.overrides.get(m, {}), "tuning": info} for m, info in cfg.tuned.items()}
    manual = {m: v for m, v in cfg.overrides.items() if m not in tuned}
    cli = parse_overrides(args.overrides, methods, lambda n: get_method(n).config)
    overrides = {m: {**manual.get(m, {}), **cli.get(m, {})} for m in methods}
    protocol = pick(args.protocol, "protocol", "sysu")
    opts = RunOptions(methods=methods, data=data, dataset=dataset, protocol=protocol,
                      modes=tuple(pick(args.modes, "modes", ["all", "indoor"])),
                      shots=tuple(pick(args.shots, "shots", ["single", "multi"])),
                      trials=pick(args.trials, "trials", 10), seeds=tuple(pick(args.seeds, "seeds", [0])),
                      device=pick(args.device, "device", "auto"), results=args.results, cache=args.cache,
                      overrides=overrides, tuned=tuned, defaults=args.defaults,
                      progress=not args.no_progress, resume=args.resume)
    written = run(opts)
    if written:
        results = [r for r in load_results(written[0].parent) if r["_path"] in {str(p) for p in written}]
        rows = select_rows(results, protocol, variants="all")
        print()
        print(render(build_table(rows), "markdown", caption_for(rows)))
        print()
        for path in written:
            print(f"reidbench: wrote {path}")
    return 0


def parse_overrides(items: list[str], methods: list[str], defaults_of) -> dict[str, dict[str, Any]]:
    """``[METHOD:]KEY=VALUE`` -> {method: {key: value}}; a bare key goes to every method that has it."""
    out: dict[str, dict[str, Any]] = {m: {} for m in methods}
    for item in items:
        target, _, assignment = item.rpartition(":") if ":" in item.split("=", 1)[0] else ("", "", item)
        key, sep, value = assignment.partition("=")
        if not sep or not key:
            raise ReidbenchError(f"--set expects [METHOD:]KEY=VALUE, got '{item}'")
        if target:
            if target not in out:
                raise ReidbenchError(f"--set names method '{target}', which is not in --methods")
            out[target][key] = value
            continue
        owners = [m for m in methods if key in defaults_of(m)]
        if not owners:
            raise ReidbenchError(f"--set {key}: no selected method has a config key '{key}'")
        for m in owners:
            out[m][key] = value
    return out


def cmd_table(args: argparse.Namespace) -> int:
    from reidbench.report import FORMATS, build_table, caption_for, render
    from reidbench.selection import select_rows
    from reidbench.store import load_results

    if args.format not in FORMATS:
        raise ReidbenchError(f"unknown format '{args.format}' (known: {', '.join(FORMATS)})")
    results = load_results(args.results)
    if not results:
        raise ReidbenchError(f"no result files in {args.results}; run `reidbench run` first "
                             "(the published reference results are in results/synthetic-small)")
    rows = select_rows(results, args.protocol, variants=args.variants)
    caption = caption_for(rows, args.with_paper, args.std)
    diffs = None
    if args.baseline:
        from reidbench.stats import baseline_columns

        diffs = baseline_columns(rows, args.baseline)
        caption += (f"; Δ = difference to {args.baseline}, 95% t-interval over the paired trials, "
                    "(n.s.) where the trials do not support it")
    frame = build_table(rows, with_paper=args.with_paper, std=args.std, minp=args.minp, extra=diffs)
    print(render(frame, args.format, caption))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from reidbench.data.sysu import load_sysu
    from reidbench.evaluation import METRICS
    from reidbench.external import evaluate_feature_file
    from reidbench.protocols import get_protocol

    get_protocol(args.protocol).check_trials(args.trials)
    if args.distance not in METRICS:
        raise ReidbenchError(f"unknown distance '{args.distance}' (known: {', '.join(METRICS)})")
    reference = load_sysu(args.data) if args.data else None
    out = evaluate_feature_file(args.features, args.protocol, args.trials, args.distance, reference)
    for note in sorted({res["gallery_note"] for res in out.values() if res["gallery_note"]}):
        print(f"reidbench: note: {note}", file=sys.stderr)
    if args.json:
        print(json.dumps(out))
        return 0
    for key, res in out.items():
        print(f"{key:14s} r1 {res['r1']:6.2f}  r5 {res['r5']:6.2f}  r10 {res['r10']:6.2f}  r20 {res['r20']:6.2f}  "
              f"mAP {res['mAP']:6.2f}  mINP {res['mINP']:6.2f}  valid probes {res['num_valid_probes']}  "
              f"[{res['gallery_source']}]")
    from reidbench.protocols import describe_source

    print(f"protocol {args.protocol}, {args.trials} trials, distance {args.distance}; galleries: "
          f"{describe_source(next(iter(out.values()))['gallery_source'])}")
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    from reidbench.figures.sweep import parse_assignment
    from reidbench.tuning import TuneOptions, run_tune

    grid = tuple(parse_assignment(item) for item in args.grid)
    opts = TuneOptions(method=args.method, grid=grid, metric=args.metric, seed=args.seed, budget=args.budget,
                       data=args.data, dataset=args.dataset, out=args.out, val_trials=args.val_trials,
                       jobs=args.jobs or max(1, len(args.devices)), devices=tuple(args.devices),
                       cache=args.cache, progress=not args.no_progress)
    record, config = run_tune(opts)
    chosen = record["chosen"]
    print(f"reidbench: chose {', '.join(f'{k}={v}' for k, v in chosen['overrides'].items())} for {args.method}: "
          f"val mAP {chosen['scores']['mAP']:.2f}, r1 {chosen['scores']['r1']:.2f} "
          f"(best {args.metric} of {len(record['points'])} points; no test image was read)")
    print(f"reidbench: wrote {config.parent / 'tuning.json'}")
    print(f"reidbench: wrote {config}  (use: reidbench run --config {config})")
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    from reidbench.runconfig import config_from_results, dump_run_config, write_run_config
    from reidbench.store import read_result

    results = [read_result(p) for p in args.results]
    for path, r in zip(args.results, results):
        if not isinstance(r, dict) or "method" not in r or "settings" not in r:
            raise ReidbenchError(f"{path} is not a reidbench result file")
    cfg = config_from_results(results)
    header = "written by `reidbench config` from " + ", ".join(p.name for p in args.results)
    if args.out is None:
        print(dump_run_config(cfg, header), end="")
        return 0
    print(f"reidbench: wrote {write_run_config(args.out, cfg, header)}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from reidbench.registry import all_methods

    specs = all_methods()
    width = max(len(n) for n in specs)
    for name, spec in specs.items():
        print(f"{name:{width}s}  {spec.family:11s}  {spec.label}")
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    from reidbench.data.synth import generate

    path = generate(args.out, preset=args.preset, seed=args.seed, progress=True)
    meta = json.loads((path / "SYNTHETIC.json").read_text())
    print(f"reidbench: wrote {path} ({meta['n_images']} images, content digest {meta['content_digest'][:16]})")
    return 0


def cmd_features(args: argparse.Namespace) -> int:
    from reidbench.methods.handcrafted.export import export_features

    path = export_features(args.method, args.images, args.out)
    print(f"reidbench: wrote {path}")
    return 0


COMMANDS = {"run": cmd_run, "table": cmd_table, "eval": cmd_eval, "tune": cmd_tune, "config": cmd_config,
            "list": cmd_list, "data": cmd_data, "features": cmd_features}


if __name__ == "__main__":
    sys.exit(main())
