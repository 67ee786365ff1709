"""The ``bayes-dps`` command.

    bayes-dps online --config FILE|NAME [--set key=value ...] [--out DIR] [--resume [--extend]]
                     [--sweep key=v1,v2,...] [--threads N] [--quiet]
    bayes-dps bads   --config FILE|NAME [--set key=value ...] [--out DIR] [--resume [--extend]]
                     [--sweep key=v1,v2,...] [--threads N] [--quiet]
    bayes-dps demo   [--out DIR] [--set key=value ...] [--bads-set key=value ...]
    bayes-dps report RUN_DIR [--summary FILE]
    bayes-dps configs
    bayes-dps --version

Bad input (unknown keys, values out of range, missing data, an unwritable ``--out``) ends
with one ``error:`` line naming the value and the fix, exit status 2, and no
``results.json``. Ctrl-C ends with one line giving the command that continues the run, its
``--set`` options included (exit status 130). Set
``BAYES_DPS_DEBUG=1`` to see the traceback instead.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import shlex
import shutil
import sys
import textwrap
import time
import warnings
from pathlib import Path
from typing import Any

from bayes_dps import __version__
from bayes_dps import configs as bundled_configs
from bayes_dps.errors import BayesDPSError, ConfigError

# The heavy modules (torch, pyro, arviz, matplotlib) are imported inside the commands, so that
# `bayes-dps --version`, `configs` and argument errors answer at once.

#: the offline defaults `bayes-dps demo` runs: online selection, then BADS
DEMO_CONFIG = "digits_noisy"
DEMO_BADS_CONFIG = "digits_denoise"


def _say(line: str) -> None:
    """Print on the process that reports (rank 0 of a ``torchrun`` launch, or the only one)."""
    from bayes_dps import distributed as dist

    if dist.launch_rank() == 0:
        print(line)


def _load(args: argparse.Namespace, command: str) -> dict[str, Any]:
    from bayes_dps.config import load_config

    path = bundled_configs.resolve(args.config)
    overrides = list(args.set or [])
    if getattr(args, "threads", None) is not None:
        overrides.append(f"threads={args.threads}")
    if args.quiet:
        overrides.append("progress=false")
    for item in getattr(args, "sweep", None) or []:  # --sweep KEY=V1,V2 joins the grid
        key, values = parse_sweep(item)
        overrides.append(f"sweep.{key}={json.dumps(values)}")
    return load_config(path, overrides, command)


def _out_dir(args: argparse.Namespace, cfg: dict[str, Any]) -> Path:
    if getattr(args, "extend", False) and not args.resume:
        raise ConfigError(
            "--extend widens a run that --resume continues; use --resume --extend --out DIR"
        )
    if args.out:
        out = Path(args.out)
    elif getattr(args, "resume", False):
        raise ConfigError("--resume needs --out DIR, the folder of the run to continue")
    else:
        out = Path("runs") / f"{cfg['name'] or 'run'}-{time.strftime('%Y%m%d-%H%M%S')}"
    args.resolved_out = out  # for the Ctrl-C message
    return out


def parse_sweep(item: str) -> tuple[str, list[Any]]:
    """``"bayesian.alpha=0.1,0.2"`` → ``("bayesian.alpha", [0.1, 0.2])`` (values parsed as YAML;
    a YAML list ``key=[0.1, 0.2]`` works too)."""
    from bayes_dps.config import parse_set

    if not isinstance(item, str) or "=" not in item:
        raise ConfigError(
            f"--sweep expects KEY=V1,V2,..., got {item!r} "
            "(example: --sweep bayesian.alpha=0.1,0.2,0.3)"
        )
    key, raw = parse_set(item)
    if not isinstance(raw, list):
        raw = [parse_set(f"{key}={v}")[1] for v in item.split("=", 1)[1].split(",")]
    if not raw or any(v is None for v in raw) or len(raw) > 100:
        raise ConfigError(f"--sweep expects key=v1,v2,... (at most 100 values), got {item!r}")
    return key, raw


def _plots() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # the CLI only writes files; set before pyplot is imported
    from bayes_dps.diagnostics import plots

    return plots


def _run_and_plot(
    cfg: dict[str, Any], out: Path, resume: bool, extend: bool = False
) -> dict[str, Any]:
    from bayes_dps import distributed as dist
    from bayes_dps.diagnostics.predictor_plots import (
        has_predictor_diagnosis,
        plot_predictor_diagnosis,
    )
    from bayes_dps.diagnostics.tables import as_text, online_rows
    from bayes_dps.methods.online.experiment import run_online_experiment

    plots = _plots()
    results = run_online_experiment(cfg, out, resume=resume, extend=extend)
    if not dist.is_main():  # rank 0 alone writes files and prints
        return results
    plots.save_figure(plots.plot_online_curves(results), out / "curves.png")
    plots.save_figure(plots.plot_selection_stats(results), out / "selection.png")
    figures = "curves.png, selection.png"
    if has_predictor_diagnosis(results):
        plots.save_figure(plot_predictor_diagnosis(results), out / "predictor.png")
        figures += ", predictor.png"
    print(as_text(online_rows(results)))
    print(f"wrote {out / 'results.json'}, {figures}")
    return results


def _run_sweep(cfg: dict[str, Any], out: Path, command: str, run) -> dict[str, Any]:
    from bayes_dps.config import sweep_points
    from bayes_dps.runs.sweep import run_sweep

    points = sweep_points(cfg, command)
    cfg_cache = cfg.get("cache_dir") or str(out / "cache")  # one holdout model for all points
    points = [(p, {**c, "cache_dir": cfg_cache} if "cache_dir" in c else c) for p, c in points]
    sweep = run_sweep(points, out, run, targets=cfg.get("targets"), metric=cfg.get("metric"))
    from bayes_dps import distributed as dist

    if not dist.is_main():
        return sweep
    plots = _plots()
    plot = plots.plot_sweep if command == "online" else plots.plot_bads_sweep
    plots.save_figure(plot(sweep), out / "sweep.png")
    extra = ""
    if command == "bads":
        from bayes_dps.diagnostics.report import point_results

        contrast = plots.sweep_contrast_results(sweep, point_results(out, sweep))
        if contrast["methods"]:
            plots.save_figure(plots.plot_group_contrast(contrast), out / "contrast.png")
            extra = f" and {out / 'contrast.png'}"
    print(f"wrote {out / 'sweep.json'} and {out / 'sweep.png'}{extra}")
    return sweep


def cmd_online(args: argparse.Namespace) -> dict[str, Any]:
    cfg = _load(args, "online")
    out = _out_dir(args, cfg)
    resume = getattr(args, "resume", False)
    extend = getattr(args, "extend", False)
    if not cfg["sweep"]:
        _say(f"online selection: {cfg['name']} → {out}")
        return _run_and_plot(cfg, out, resume, extend)

    def run(c: dict[str, Any], folder: Path) -> dict[str, Any]:
        _say(f"sweep point → {folder}")
        return _run_and_plot(c, folder, resume, extend)

    return _run_sweep(cfg, out, "online", run)


def cmd_bads(args: argparse.Namespace) -> dict[str, Any]:
    cfg = _load(args, "bads")
    out = _out_dir(args, cfg)
    resume = getattr(args, "resume", False)
    extend = getattr(args, "extend", False)
    if not cfg["sweep"]:
        _say(f"BADS: {cfg['name']} → {out}")
        return _run_bads(cfg, out, resume, extend)

    def run(c: dict[str, Any], folder: Path) -> dict[str, Any]:
        _say(f"sweep point → {folder}")
        return _run_bads(c, folder, resume, extend)

    return _run_sweep(cfg, out, "bads", run)


def _run_bads(cfg: dict[str, Any], out: Path, resume: bool, extend: bool = False) -> dict[str, Any]:
    from bayes_dps import distributed as dist
    from bayes_dps.diagnostics.arviz_export import save_inference_data, weights_to_inference_data
    from bayes_dps.diagnostics.convergence import convergence
    from bayes_dps.diagnostics.tables import as_text, bads_rows, group_weight_rows, has_fine_groups
    from bayes_dps.methods.bads.experiment import run_bads_experiment

    results, traces, traced = run_bads_experiment(cfg, out, resume=resume, extend=extend)
    headlines: list[str] = []
    if not dist.is_main():  # rank 0 alone writes files and prints
        return results
    for i, (method, chains) in enumerate(traces.items()):
        idata = weights_to_inference_data(
            chains,
            traced["instances"],
            traced["group"],
            thin=cfg["bads"]["thin"],
            sample_stats=traced["stats"].get(method),
            attrs={**traced["attrs"], "method": method},
        )
        save_inference_data(idata, out / ("posterior.nc" if i == 0 else f"posterior_{method}.nc"))
        headlines.append(f"{method} weights: {convergence(idata).headline()}")
    plots = _plots()
    plots.save_figure(plots.plot_bads_curves(results), out / "curves.png")
    plots.save_figure(plots.plot_group_weights(results), out / "weights.png")
    extra = ""
    if plots.has_group_contrast(results):
        plots.save_figure(plots.plot_group_contrast(results), out / "contrast.png")
        extra += ", contrast.png"
    if has_fine_groups(results):  # per domain / per task (language scenarios)
        plots.save_figure(plots.plot_final_weights(results), out / "group_weights.png")
        print(as_text(group_weight_rows(results)))
        extra += ", group_weights.png"
    print(as_text(bads_rows(results)))
    for line in headlines:  # the posterior's state, before a reader takes R-hat from the report
        print(line)
    print(f"wrote {out / 'results.json'}, curves.png, weights.png{extra} and the posterior traces")
    return results


def cmd_report(args: argparse.Namespace) -> Path:
    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise ConfigError(f"run directory {run_dir} does not exist; pass the --out folder of a run")
    _plots()
    from bayes_dps.diagnostics.report import write_report

    path, notes = write_report(run_dir)
    print(f"wrote {path}")
    if notes:
        print("missing or unreadable:\n" + "\n".join(f"- {n}" for n in notes))
    if args.summary:
        print(f"wrote {_summary(run_dir, Path(args.summary))}")
    return path


def _summary(run_dir: Path, out: Path) -> Path:
    """``report --summary``: the run's table with the command that regenerates it."""
    from bayes_dps.config.regenerate import regenerating_command
    from bayes_dps.diagnostics.summaries import write_summary

    if (run_dir / "sweep.json").is_file():  # a sweep: its points' results are read there
        return write_summary(run_dir, {}, regenerating_command, out)
    try:
        results = json.loads((run_dir / "results.json").read_text())
    except (OSError, ValueError) as err:
        raise ConfigError(
            f"{run_dir / 'results.json'} cannot be read ({err}); summarise a finished run"
        ) from err
    return write_summary(run_dir, results, regenerating_command, out)


def cmd_configs(args: argparse.Namespace) -> None:
    rows = [("name", "command", "description")]
    for name, path in bundled_configs.bundled().items():
        command, text = bundled_configs.describe(path)
        rows.append((name, command, text))
    width = [max(len(r[i]) for r in rows) for i in range(2)]
    indent = " " * (width[0] + width[1] + 4)
    columns = max(shutil.get_terminal_size((100, 24)).columns, len(indent) + 30)
    for name, command, text in rows:
        head = f"{name.ljust(width[0])}  {command.ljust(width[1])}  "
        print(
            textwrap.fill(
                text,
                columns,
                initial_indent=head,
                subsequent_indent=indent,
                break_long_words=False,
                break_on_hyphens=False,
            )
        )
    print("\nrun one by name: bayes-dps online --config digits_noisy (or bads --config ...)")


def _fresh(folder: Path) -> None:
    """Empty a previous demo's folder (only a bayes-dps run folder is removed)."""
    if not folder.exists():
        return
    if not (folder / "run.json").is_file():
        if any(folder.iterdir()):
            raise ConfigError(
                f"{folder} exists and is not a bayes-dps run folder; choose another --out"
            )
        return
    shutil.rmtree(folder)


def cmd_demo(args: argparse.Namespace) -> None:
    """Both offline defaults: ``OUT/online`` (noisy digits, every Table-1 rule) and ``OUT/bads``
    (the denoising scenario, BADS and its baselines); ``--set`` overrides the online config,
    ``--bads-set`` the BADS one. A previous demo in ``OUT`` is replaced."""
    root = Path(args.out or Path("runs") / "demo")
    online = argparse.Namespace(
        **{**vars(args), "config": DEMO_CONFIG, "out": str(root / "online"), "resume": False}
    )
    bads = argparse.Namespace(
        **{
            **vars(args),
            "config": DEMO_BADS_CONFIG,
            "out": str(root / "bads"),
            "resume": False,
            "set": args.bads_set,
        }
    )
    # both configs are checked before either runs
    _load(online, "online"), _load(bads, "bads")
    for folder in (root / "online", root / "bads"):
        _fresh(folder)
    cmd_online(online)
    cmd_bads(bads)


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one ``error:`` line (with where to find the usage), exit
    status 2 — like every other bad input."""

    def error(self, message: str):
        self.exit(2, f"error: {message}; see `{self.prog} --help`\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="bayes-dps", description="Bayesian data point selection experiments.")
    parser.add_argument("--version", action="version", version=f"bayes-dps {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    def common(p: argparse.ArgumentParser, out_help: str) -> None:
        p.add_argument(
            "--set",
            action="extend",
            nargs="+",
            metavar="KEY=VALUE",
            help="override config keys (dotted, YAML values), e.g. --set dataset.noise=0.2 "
            "epochs=20 (one or more after each --set)",
        )
        p.add_argument("--out", help=out_help)
        p.add_argument("--quiet", action="store_true", help="no progress bars")
        p.add_argument(
            "--threads",
            type=int,
            metavar="N",
            help="CPU threads of PyTorch (the config's `threads`; default auto: 1 for small "
            "networks on CPU — use 1 on a shared machine)",
        )

    for name, func, helptext in (
        ("online", cmd_online, "online batch selection (Deng et al. 2023)"),
        ("bads", cmd_bads, "BADS and its baselines (Xu et al. 2024)"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument(
            "--config", required=True, help="YAML config file, or the name of a bundled config"
        )
        p.add_argument(
            "--resume",
            action="store_true",
            help="continue a killed run in --out (with the options it was started with)",
        )
        p.add_argument(
            "--extend",
            action="store_true",
            help="with --resume: also run methods or seeds the stored run did not list "
            "(its finished runs are reused)",
        )
        p.add_argument(
            "--sweep",
            action="append",
            metavar="KEY=V1,V2,...",
            help="run the config once per value of KEY (e.g. bayesian.alpha=0.1,0.2,0.3); "
            "repeat for a grid",
        )
        common(p, "output folder (default runs/<name>-<date>-<time>)")
        p.set_defaults(func=func)

    demo = sub.add_parser(
        "demo",
        help="run both offline defaults: online selection on noisy digits (every Table-1 "
        "rule) and BADS on the digits denoising scenario",
    )
    common(demo, "output folder; OUT/online and OUT/bads are replaced (default runs/demo)")
    demo.add_argument(
        "--bads-set",
        action="extend",
        nargs="+",
        metavar="KEY=VALUE",
        help="override a key of the BADS demo config (--set applies to the online one)",
    )
    demo.set_defaults(func=cmd_demo)

    report = sub.add_parser("report", help="regenerate a run's figures and write RUN_DIR/report.md")
    report.add_argument("run_dir", help="output folder of `bayes-dps online` or `bayes-dps bads`")
    report.add_argument(
        "--summary",
        metavar="FILE",
        help="also store the run's table with its provenance (e.g. docs/results/NAME.json), "
        "for the tables `make docs-tables` renders",
    )
    report.set_defaults(func=cmd_report)

    configs = sub.add_parser("configs", help="list the bundled configs (usable by name)")
    configs.set_defaults(func=cmd_configs)
    return parser


def continue_command(args: argparse.Namespace) -> str:
    """The command line that continues the run ``args`` started: the same arguments, with
    ``--out`` (the folder actually used) and ``--resume`` added where they were missing."""
    argv = list(getattr(args, "argv", None) or [args.command, "--config", args.config])
    if not args.out:
        argv += ["--out", str(args.resolved_out)]
    if "--resume" not in argv:
        argv.append("--resume")
    return shlex.join(["bayes-dps", *argv])


def _resume_hint(args: argparse.Namespace) -> str:
    out = getattr(args, "resolved_out", None)
    if args.command == "demo":
        return "run `bayes-dps demo` again to start it afresh (its folders are replaced)"
    started = out is not None and ((out / "run.json").is_file() or any(out.glob("*/run.json")))
    if not started or args.command not in ("online", "bads"):
        return "nothing was written"
    from bayes_dps.runs.run_folder import holds_finished_work

    what = (
        f"finished runs and the last checkpoint are kept in {out}"
        if holds_finished_work(out)
        else f"no run had finished or checkpointed yet in {out}"
    )
    return f"{what}; continue with `{continue_command(args)}`"


def _out_of_memory(err: BaseException) -> bool:
    text = str(err)
    return isinstance(err, MemoryError) or (
        isinstance(err, RuntimeError)
        and ("out of memory" in text or "can't allocate memory" in text)
    )


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"warning: {' '.join(str(message).split())}\n"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    debug = os.environ.get("BAYES_DPS_DEBUG") == "1"
    saved = warnings.formatwarning
    if not debug:
        warnings.formatwarning = _one_line_warning
    try:
        return _run(args, debug)
    finally:
        warnings.formatwarning = saved
        _leave_process_group()


def _leave_process_group() -> None:
    import torch.distributed

    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def _run(args: argparse.Namespace, debug: bool) -> int:
    try:
        args.func(args)
    except BayesDPSError as err:
        if debug:
            raise
        print(f"error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"\ninterrupted: {_resume_hint(args)}", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `bayes-dps configs | head`: the reader has gone, say nothing
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as err:  # a full disk, a folder that went away, permissions
        if debug:
            raise
        what = "no space left on the device" if err.errno == errno.ENOSPC else err.strerror
        where = f" ({err.filename})" if err.filename else ""
        print(f"error: {what or err}{where}; {_resume_hint(args)}", file=sys.stderr)
        return 2
    except (MemoryError, RuntimeError) as err:
        if debug or not _out_of_memory(err):
            raise
        print(
            "error: out of memory; lower the batch sizes (n_B, batch_size), "
            "bayesian.num_samples or the model size",
            file=sys.stderr,
        )
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
