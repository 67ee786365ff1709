"""Config loading: --set parsing, dotted keys, validation messages."""

from __future__ import annotations

import pytest

from bayes_dps.config import ONLINE_DEFAULTS, load_config, parse_set
from bayes_dps.errors import ConfigError


def test_parse_set_yaml_values():
    assert parse_set("epochs=20") == ("epochs", 20)
    assert parse_set("methods=[uniform, bayesian]") == ("methods", ["uniform", "bayesian"])
    assert parse_set("dataset.noise=0.2") == ("dataset.noise", 0.2)
    assert parse_set("dataset.path=") == ("dataset.path", None)
    assert parse_set("name=a=b") == ("name", "a=b")


@pytest.mark.parametrize(
    ("item", "match"),
    [
        ("epochs", "key=value"),
        ("=3", "dotted name"),
        ("data set.noise=1", "dotted name"),
        ("methods=[uniform", "cannot parse"),
    ],
)
def test_malformed_set(item, match):
    with pytest.raises(ConfigError, match=match):
        parse_set(item)


def test_overrides_and_suggestions(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("dataset:\n  noise: 0.1\nepochs: 5\n")
    cfg = load_config(path, ["dataset.noise=0.3", "seeds=3", "model_options.hidden=[8]"])
    assert cfg["name"] == "c" and cfg["epochs"] == 5 and cfg["dataset"]["noise"] == 0.3
    assert cfg["dataset"]["name"] == "digits"  # default kept beside the file's keys
    assert cfg["seeds"] == [0, 1, 2] and cfg["model_options"] == {"hidden": [8]}
    with pytest.raises(ConfigError, match="did you mean 'epochs'"):
        load_config(path, ["epoch=3"])
    with pytest.raises(ConfigError, match=r"did you mean 'noise'"):
        load_config(path, ["dataset.nosie=0.1"])
    path.write_text("optimiser:\n  lr: 0.1\n")
    with pytest.raises(ConfigError, match="optimizer"):
        load_config(path)


@pytest.mark.parametrize(
    ("item", "match"),
    [
        ("n_b=400", "n_b=400 exceeds n_B=320"),
        ("epochs=0", r"epochs must be an integer in \[1, 100_000\], got 0"),
        ("epochs=1.5", "epochs must be an integer"),
        ("dataset.noise=1.2", r"dataset.noise must be a number in \[0, 1\], got 1.2"),
        ("optimizer.lr=0", r"optimizer.lr must be a number in \(0, 10\], got 0"),
        ("seeds=[a]", r"seeds\[0\] must be an integer"),
        ("targets=[95]", r"targets\[0\] must be a number in \(0, 1\], got 95"),
        ("dataset.imbalance=0.5", r"dataset.imbalance must be a number in \[1, 1e6\]"),
    ],
)
def test_value_checks(item, match):
    with pytest.raises(ConfigError, match=match):
        load_config(None, [item], ONLINE_DEFAULTS)


def test_missing_or_bad_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(bad)


def test_scientific_notation_is_a_number(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("optimizer:\n  lr: 1e-3\n  weight_decay: 5e-4\n")
    cfg = load_config(path, ["bayesian.n_e=1e3"])
    assert cfg["optimizer"]["lr"] == 1e-3 and cfg["optimizer"]["weight_decay"] == 5e-4
    assert cfg["bayesian"]["n_e"] == 1000.0
