"""Every cost benchmark in one command, stored as the performance page's summaries and figures.

    python benchmarks/run_all.py --device cuda --precision bf16-mixed --store   # a GPU check
    python benchmarks/run_all.py --device cpu --store                          # this page's runs
        [--only NAME ...] [--quick] [--threads 1] [--out runs/benchmarks/DEVICE]
        [--results docs/results] [--figures docs/figures]

Each benchmark runs as its own program (what its line under a table says to run), writing
``OUT/NAME.json``. With ``--store`` each is stored as the summary ``RESULTS/NAME.json`` — with a
``_cuda`` suffix on a GPU, so a GPU check stands beside the CPU runs instead of replacing them
— and ``tools/scaling_figures.py`` redraws the scaling figures (``FIGURES``). On a GPU the
benchmarks report absolute times, ``torch.cuda.max_memory_allocated`` and the same ratios as on
the CPU. ``--quick`` shrinks every benchmark to a smoke run (the test suite runs it with
``--device cpu``); its numbers mean nothing and it refuses ``--store`` into ``docs/results``.

The benchmarks (:data:`BENCHMARKS`): the online-selection step on the MLP, LeNet-5 and
ResNet-18; its scaling in ``n_B``, ``d`` and ``k``; the BADS paper's cost table; BADS against
``N_t`` up to ten million instances; and the amortised posterior's top-``n_b`` agreement.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from bayes_dps.diagnostics.summaries import benchmark_summary
from bayes_dps.io import atomic_write_json

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent

SCALING = "uniform,rho_loss,bayesian,bayesian_amortised"
#: name → (script, arguments, the arguments of --quick)
BENCHMARKS: dict[str, tuple[str, list[str], list[str]]] = {
    "cost_selection_mlp": ("selection_cost.py", ["--model", "mlp", "--repeats", "101"],
                           ["--model", "mlp", "--repeats", "1", "--warmup", "0", "--n-big",
                            "16", "--n-small", "4", "--width", "16", "--variance-rank", "4",
                            "--num-samples", "4", "--block", "2"]),
    "cost_selection_lenet5": ("selection_cost.py", ["--model", "lenet5", "--repeats", "21"],
                              ["--model", "lenet5", "--repeats", "1", "--warmup", "0",
                               "--n-big", "8", "--n-small", "2", "--variance-rank", "4",
                               "--num-samples", "4", "--block", "2"]),
    "cost_selection_resnet18": ("selection_cost.py",
                                ["--model", "resnet18", "--repeats", "5", "--block", "1",
                                 "--methods", SCALING],
                                ["--model", "resnet18", "--repeats", "1", "--warmup", "0",
                                 "--n-big", "4", "--n-small", "2", "--variance-rank", "4",
                                 "--block", "1", "--methods", SCALING]),
    **{
        f"scaling_selection_{axis}": (
            "selection_cost.py",
            ["--model", "mlp", "--repeats", "11" if axis == "n_B" else "7", "--scaling", axis,
             "--methods", SCALING],
            ["--model", "mlp", "--repeats", "1", "--warmup", "0", "--scaling", axis,
             "--values", *quick, "--n-big", "16", "--n-small", "4", "--width", "16",
             "--variance-rank", "4", "--block", "2", "--methods", SCALING],
        )
        for axis, quick in (("n_B", ["8", "16"]), ("d", ["8", "16"]), ("k", ["3", "6"]))
    },
    "cost_bads": ("bads_cost.py", [],
                  ["--model", "mlp", "--repeats", "1", "--warmup", "0", "--batch", "4",
                   "--meta-batch", "2", "--memory-steps", "0"]),
    "scaling_bads": ("bads_scaling.py", [], ["--sizes", "100", "1000", "--steps", "12"]),
    "refresh_agreement": ("refresh_agreement.py",
                          ["--epochs", "60", "--settings", "2:0", "4:0", "8:0", "1:32", "1:16",
                           "4:32", "8:32"],
                          ["--seeds", "0", "--epochs", "1", "--settings", "8:32"]),
}  # fmt: skip
#: the benchmarks whose script takes --device and --precision (the agreement is CPU maths)
ON_DEVICE = {
    name for name, (script, _, _) in BENCHMARKS.items() if script != "refresh_agreement.py"
}


def command(name: str, args, out: Path) -> list[str]:
    script, full, quick = BENCHMARKS[name]
    cmd = [script, *(quick if args.quick else full), "--threads", str(args.threads)]
    if name in ON_DEVICE:
        cmd += ["--device", args.device]
        if args.precision != "32" and script == "selection_cost.py":
            cmd += ["--precision", args.precision]
        if args.precision == "bf16-mixed" and script == "bads_cost.py":
            cmd += ["--precision", args.precision]
    return [*cmd, "--out", str(out)]


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", default="32", choices=["32", "bf16-mixed", "16-mixed"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), help="run these only")
    p.add_argument("--quick", action="store_true", help="smoke sizes (tests)")
    p.add_argument("--store", action="store_true", help="store summaries and redraw figures")
    p.add_argument("--out", type=Path, help="default: runs/benchmarks/DEVICE")
    p.add_argument("--results", type=Path, default=ROOT / "docs" / "results")
    p.add_argument("--figures", type=Path, default=ROOT / "docs" / "figures")
    args = p.parse_args(argv)
    if args.quick and args.store and args.results.resolve() == (ROOT / "docs" / "results"):
        p.error("--quick numbers are smoke-test sizes: --store them elsewhere (--results DIR)")
    args.out = args.out or ROOT / "runs" / "benchmarks" / args.device.split(":")[0]
    return args


def main(argv=None) -> dict[str, Path]:
    args = parse(argv)
    suffix = "_cuda" if args.device.startswith("cuda") else ""
    written = {}
    for name in args.only or BENCHMARKS:
        out = args.out / f"{name}.json"
        cmd = command(name, args, out)
        shown = "python benchmarks/" + " ".join(cmd[:-2])
        print(f"[{name}] {shown}", flush=True)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, str(HERE / cmd[0]), *cmd[1:]], check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        print(f"[{name}] {time.perf_counter() - t0:.0f} s", flush=True)
        written[name] = out
        if args.store:
            summary = benchmark_summary(out, name + suffix, shown)
            atomic_write_json(args.results / f"{name}{suffix}.json", summary)
    if args.store:
        subprocess.run([sys.executable, str(ROOT / "tools" / "scaling_figures.py"), "--results",
                        str(args.results), "--out", str(args.figures)], check=True)  # fmt: skip
    return written


if __name__ == "__main__":
    main()
