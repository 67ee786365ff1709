"""The ``bayes-dps`` command.

    bayes-dps online --config FILE [--set key=value ...] [--out DIR] [--resume]
                     [--sweep key=v1,v2,...]
    bayes-dps bads --config FILE [--set key=value ...] [--out DIR] [--resume]
    bayes-dps demo [--out DIR] [--set key=value ...]

Bad input (unknown keys, values out of range, missing data) ends with one ``error:`` line
naming the value and the fix, exit status 2, and no ``results.json``.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time

import matplotlib

matplotlib.use("Agg")  # the CLI only writes files; set before pyplot is imported
from importlib import resources
from pathlib import Path
from typing import Any

from bayes_dps.config import (
    BADS_DEFAULTS,
    ONLINE_DEFAULTS,
    load_config,
    parse_set,
    set_dotted,
    validate_common,
)
from bayes_dps.diagnostics.arviz_export import save_inference_data, weights_to_inference_data
from bayes_dps.diagnostics.plots import (
    plot_bads_curves,
    plot_group_weights,
    plot_online_curves,
    plot_selection_stats,
    plot_sweep,
    save_figure,
)
from bayes_dps.diagnostics.report import write_report
from bayes_dps.diagnostics.tables import as_text, bads_rows, online_rows
from bayes_dps.errors import BayesDPSError, ConfigError
from bayes_dps.io import atomic_write_json
from bayes_dps.training.bads_experiment import run_bads_experiment
from bayes_dps.training.experiment import run_online_experiment

#: the offline defaults `bayes-dps demo` runs: online selection, then BADS
DEMO_CONFIG = "digits_noisy.yaml"
DEMO_BADS_CONFIG = "digits_denoise.yaml"


def _out_dir(args: argparse.Namespace, cfg: dict[str, Any]) -> Path:
    if args.out:
        return Path(args.out)
    if getattr(args, "resume", False):
        raise ConfigError("--resume needs --out DIR, the folder of the run to continue")
    return Path("runs") / f"{cfg['name'] or 'run'}-{time.strftime('%Y%m%d-%H%M%S')}"


def _table(results: dict[str, Any]) -> str:
    return as_text(online_rows(results))


def parse_sweep(item: str) -> tuple[str, list[Any]]:
    """``"bayesian.alpha=0.1,0.2"`` → ``("bayesian.alpha", [0.1, 0.2])`` (values parsed as YAML;
    a YAML list ``key=[0.1, 0.2]`` works too)."""
    key, raw = parse_set(item)
    if not isinstance(raw, list):
        raw = [parse_set(f"{key}={v}")[1] for v in item.split("=", 1)[1].split(",")]
    if not raw or any(v is None for v in raw):
        raise ConfigError(f"--sweep expects key=v1,v2,..., got {item!r}")
    return key, raw


def _run_and_plot(cfg: dict[str, Any], out: Path, resume: bool) -> dict[str, Any]:
    results = run_online_experiment(cfg, out, resume=resume)
    save_figure(plot_online_curves(results), out / "curves.png")
    save_figure(plot_selection_stats(results), out / "selection.png")
    print(_table(results))
    print(f"wrote {out / 'results.json'}, curves.png and selection.png")
    return results


def cmd_online(args: argparse.Namespace, config_path: Path | None = None) -> dict[str, Any]:
    cfg = load_config(config_path or args.config, args.set or [], ONLINE_DEFAULTS)
    if args.quiet:
        cfg["progress"] = False
    out = _out_dir(args, cfg)
    resume = getattr(args, "resume", False)
    sweep = getattr(args, "sweep", None)
    if not sweep:
        print(f"online selection: {cfg['name']} → {out}")
        return _run_and_plot(cfg, out, resume)
    key, values = parse_sweep(sweep)
    cfg["cache_dir"] = cfg["cache_dir"] or str(out / "cache")  # one holdout model for all values
    configs = []
    for value in values:  # validate every value before training any
        c = copy.deepcopy(cfg)
        set_dotted(c, key, value, ONLINE_DEFAULTS)
        validate_common(c)
        configs.append(c)
    runs = {}
    for value, c in zip(values, configs, strict=True):
        print(f"sweep {key}={value} → {out / f'{key}={value}'}")
        runs[str(value)] = _run_and_plot(c, out / f"{key}={value}", resume)
    sweep_data = {"key": key, "values": values, "targets": cfg["targets"], "runs": runs}
    atomic_write_json(
        out / "sweep.json",
        {
            "key": key,
            "values": values,
            "summary": {
                v: {m: r["methods"][m]["summary"] for m in r["methods"]} for v, r in runs.items()
            },
        },
    )
    save_figure(plot_sweep(sweep_data), out / "sweep.png")
    print(f"wrote {out / 'sweep.json'} and {out / 'sweep.png'}")
    return sweep_data


def cmd_bads(args: argparse.Namespace, config_path: Path | None = None) -> dict[str, Any]:
    cfg = load_config(config_path or args.config, args.set or [], BADS_DEFAULTS)
    if args.quiet:
        cfg["progress"] = False
    out = _out_dir(args, cfg)
    print(f"BADS: {cfg['name']} → {out}")
    results, traces, traced = run_bads_experiment(cfg, out, resume=getattr(args, "resume", False))
    for i, (method, chains) in enumerate(traces.items()):
        idata = weights_to_inference_data(
            chains,
            traced["instances"],
            traced["group"],
            thin=cfg["bads"]["thin"],
            sample_stats=traced["stats"].get(method),
        )
        save_inference_data(idata, out / ("posterior.nc" if i == 0 else f"posterior_{method}.nc"))
    save_figure(plot_bads_curves(results), out / "curves.png")
    save_figure(plot_group_weights(results), out / "weights.png")
    print(_bads_table(results))
    print(f"wrote {out / 'results.json'}, curves.png, weights.png and the posterior traces")
    return results


def _bads_table(results: dict[str, Any]) -> str:
    return as_text(bads_rows(results))


def cmd_report(args: argparse.Namespace) -> Path:
    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise ConfigError(f"run directory {run_dir} does not exist; pass the --out folder of a run")
    path, notes = write_report(run_dir)
    print(f"wrote {path}")
    if notes:
        print("missing or unreadable:\n" + "\n".join(f"- {n}" for n in notes))
    return path


def cmd_demo(args: argparse.Namespace) -> None:
    """Both offline defaults: ``OUT/online`` (noisy digits, every Table-1 rule) and ``OUT/bads``
    (the denoising scenario, BADS and its baselines); ``--set`` overrides the online config,
    ``--bads-set`` the BADS one."""
    root = Path(args.out or Path("runs") / "demo")
    configs = resources.files("bayes_dps.configs")
    online = argparse.Namespace(**{**vars(args), "out": str(root / "online"), "resume": False})
    with resources.as_file(configs / DEMO_CONFIG) as path:
        cmd_online(online, config_path=path)
    bads = argparse.Namespace(
        **{**vars(args), "out": str(root / "bads"), "resume": False, "set": args.bads_set}
    )
    with resources.as_file(configs / DEMO_BADS_CONFIG) as path:
        cmd_bads(bads, config_path=path)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bayes-dps", description="Bayesian data point selection experiments."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--set",
            action="append",
            metavar="KEY=VALUE",
            help="override a config key (dotted, YAML value), e.g. --set dataset.noise=0.2",
        )
        p.add_argument("--out", help="output folder (default runs/<name>-<time>)")
        p.add_argument("--quiet", action="store_true", help="no progress bars")

    online = sub.add_parser("online", help="online batch selection (Deng et al. 2023)")
    online.add_argument("--config", required=True, help="YAML config file")
    online.add_argument("--resume", action="store_true", help="continue a killed run in --out")
    online.add_argument(
        "--sweep",
        metavar="KEY=V1,V2,...",
        help="run the config once per value of KEY (e.g. bayesian.alpha=0.1,0.2,0.3,0.4)",
    )
    common(online)
    online.set_defaults(func=cmd_online)

    bads = sub.add_parser("bads", help="BADS and its baselines (Xu et al. 2024)")
    bads.add_argument("--config", required=True, help="YAML config file")
    bads.add_argument("--resume", action="store_true", help="continue a killed run in --out")
    common(bads)
    bads.set_defaults(func=cmd_bads)

    demo = sub.add_parser(
        "demo",
        help="run both offline defaults: online selection on noisy digits (every Table-1 "
        "rule) and BADS on the digits denoising scenario",
    )
    common(demo)
    demo.add_argument(
        "--bads-set",
        action="append",
        metavar="KEY=VALUE",
        help="override a key of the BADS demo config (--set applies to the online one)",
    )
    demo.set_defaults(func=cmd_demo)

    report = sub.add_parser("report", help="regenerate a run's figures and write RUN_DIR/report.md")
    report.add_argument("run_dir", help="output folder of `bayes-dps online` or `bayes-dps bads`")
    report.set_defaults(func=cmd_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except BayesDPSError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
