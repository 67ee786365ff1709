"""Every paper config builds and runs end to end on a tiny stand-in of its data format.

The stand-ins keep each config's dataset, corruptions, model, methods and predictors; only
run length (epochs, seeds, steps, batch sizes, holdout/proxy epochs, Monte-Carlo samples) is
cut, CLIP is a tiny random-weight open_clip architecture, and the data are small files in the
real formats (CIFAR pickle batches, an image-folder tree of PNGs).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from bayes_dps.config import ONLINE_DEFAULTS, load_config
from bayes_dps.methods.bads import BADS_METHODS
from bayes_dps.methods.online import run_online_experiment
from tests.conftest import write_cifar_balanced, write_imagefolder

CONFIGS = Path(__file__).resolve().parents[1] / "experiments" / "configs"
BADS_PAPER = ("mnist_balance.yaml", "cifar10_denoise.yaml")


def _is_bads(path: Path) -> bool:
    """A BADS config: its methods are BADS methods (language configs are run in
    tests/test_language_configs.py)."""
    methods = yaml.safe_load(path.read_text()).get("methods") or []
    return any(m in BADS_METHODS for m in methods)


PAPER = sorted(
    p
    for p in CONFIGS.glob("*.yaml")
    if not p.name.startswith(("digits", "wordnet_")) and not _is_bads(p)
)  # the WordNet gloss configs run in tests/test_wordnet_glosses.py


def stand_in(cfg_path: Path, root: Path) -> list[str]:
    raw = load_config(cfg_path, [], ONLINE_DEFAULTS)
    ds = raw["dataset"]
    sets = []
    if ds["name"] in ("cifar10", "cifar100"):
        # one holdout image per class; the smallest class keeps >= 1 point after the long tail
        per_class = max(4, int(ds["imbalance"]) + 2)
        write_cifar_balanced(root, ds["name"], per_class)
        sets += [f"dataset.meta_fraction={1 / per_class:.6f}"]
    else:
        write_imagefolder(
            root, classes=[f"{c:04d}" for c in range(ds["num_classes"] + 5)], per_class=2, size=12
        )
        sets += ["dataset.image_size=32"]
    return [
        *sets,
        f"dataset.path={root}",
        "epochs=1",
        "seeds=[0]",
        "max_steps_per_epoch=1",
        "n_B=16",
        "n_b=4",
        "holdout.epochs=1",
        "holdout.cache=false",
        # the check's five cross-fitted ResNets cost more than the rest of a stand-in run;
        # tests/test_predictor_check.py covers it
        "predictor_check.enabled=false",
        "svp.epochs=1",
        "bayesian.num_samples=8",
        "zero_shot.pretrained=null",
        "num_workers=0",
        "eval_batch_size=64",
        "device=cpu",
        "progress=false",
        "checkpoint=false",
    ]


@pytest.mark.parametrize("path", PAPER, ids=[p.stem for p in PAPER])
def test_paper_config_end_to_end(path, tmp_path, tiny_clip_arch):
    sets = stand_in(path, tmp_path / "data")
    cfg = load_config(path, [*sets, f"zero_shot.arch={tiny_clip_arch}"], ONLINE_DEFAULTS)
    results = run_online_experiment(cfg, tmp_path / "out", log=lambda m: None)
    assert set(results["methods"]) == set(cfg["methods"])
    for name, method in results["methods"].items():
        run = method["seeds"][0]
        assert len(run["test_acc"]) == 1, name
        assert 0.0 <= run["selected_noisy_fraction"] <= 1.0
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert saved["config"]["model"] == cfg["model"]


@pytest.mark.parametrize("name", BADS_PAPER)
def test_bads_paper_config_end_to_end(name, tmp_path):
    from bayes_dps.config import BADS_DEFAULTS
    from bayes_dps.methods.bads.experiment import run_bads_experiment
    from tests.conftest import write_mnist

    raw = load_config(CONFIGS / name, [], BADS_DEFAULTS)
    root = tmp_path / "data"
    ratio = int(raw["dataset"]["imbalance"])
    if raw["dataset"]["name"] == "mnist":
        write_mnist(root, n_train=10 * (ratio + 3), n_test=20, balanced=True)
    else:
        write_cifar_balanced(root, "cifar10", 6)
    sets = [
        f"dataset.path={root}",
        "dataset.meta_per_class=2",
        "seeds=[0, 1]",
        "steps=4",
        "eval_every=2",
        "batch_size=8",
        "meta_batch_size=4",
        "bads.s_avg=2",
        "bads.thin=1",
        "contrastive.base_steps=2",
        "contrastive.finetune_steps=2",
        "device=cpu",
        "progress=false",
        "checkpoint=false",
        "num_workers=0",
    ]
    cfg = load_config(CONFIGS / name, sets, BADS_DEFAULTS)
    results, traces, traced = run_bads_experiment(cfg, tmp_path / "out", log=lambda m: None)
    assert set(results["methods"]) == set(cfg["methods"])
    assert len(traces["bads"]) == 2 and traces["bads"][0].shape[1] == len(traced["instances"])
