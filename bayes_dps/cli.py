"""The ``bayes-dps`` command.

    bayes-dps online --config FILE [--set key=value ...] [--out DIR] [--resume]
    bayes-dps demo [--out DIR] [--set key=value ...]

Bad input (unknown keys, values out of range, missing data) ends with one ``error:`` line
naming the value and the fix, exit status 2, and no ``results.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Any

from bayes_dps.config import ONLINE_DEFAULTS, load_config
from bayes_dps.diagnostics.plots import plot_online_curves, save_figure
from bayes_dps.errors import BayesDPSError, ConfigError
from bayes_dps.training.experiment import run_online_experiment

DEMO_CONFIG = "digits.yaml"


def _out_dir(args: argparse.Namespace, cfg: dict[str, Any]) -> Path:
    if args.out:
        return Path(args.out)
    if getattr(args, "resume", False):
        raise ConfigError("--resume needs --out DIR, the folder of the run to continue")
    return Path("runs") / f"{cfg['name'] or 'run'}-{time.strftime('%Y%m%d-%H%M%S')}"


def _table(results: dict[str, Any]) -> str:
    targets = results["config"]["targets"]
    head = ["method", "final acc", *[f"ep→{t:.2f}" for t in targets], "noisy sel", "redundant sel"]
    rows = [head]

    def fmt(stat: dict, pct: bool = False) -> str:
        if stat["mean"] is None:
            return "-"
        scale = 100 if pct else 1
        return f"{stat['mean'] * scale:.1f}±{stat['std'] * scale:.1f}"

    for name, m in results["methods"].items():
        s = m["summary"]
        row = [name, fmt(s["final_acc"], pct=True)]
        for t in targets:
            e = s["epochs_to_target"][f"{t:.2f}"]
            n_seeds = len(m["seeds"])
            row.append(fmt(e) + ("" if e["n"] == n_seeds else f" ({e['n']}/{n_seeds})"))
        row += [
            fmt(s["selected_noisy_fraction"], True),
            fmt(s["selected_redundant_fraction"], True),
        ]
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)


def cmd_online(args: argparse.Namespace, config_path: Path | None = None) -> dict[str, Any]:
    cfg = load_config(config_path or args.config, args.set or [], ONLINE_DEFAULTS)
    if args.quiet:
        cfg["progress"] = False
    out = _out_dir(args, cfg)
    print(f"online selection: {cfg['name']} → {out}")
    results = run_online_experiment(cfg, out, resume=getattr(args, "resume", False))
    save_figure(plot_online_curves(results), out / "curves.png")
    print(_table(results))
    print(f"wrote {out / 'results.json'} and {out / 'curves.png'}")
    return results


def cmd_demo(args: argparse.Namespace) -> None:
    with resources.as_file(resources.files("bayes_dps.configs") / DEMO_CONFIG) as path:
        args.resume = False
        if not args.out:
            args.out = str(Path("runs") / "demo" / "online")
        cmd_online(args, config_path=path)


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
    common(online)
    online.set_defaults(func=cmd_online)

    demo = sub.add_parser("demo", help="run the offline default experiment (digits)")
    common(demo)
    demo.set_defaults(func=cmd_demo)
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
