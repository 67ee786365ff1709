"""The WordNet noun-gloss classification set and its fastText-style model, on WordNet files the
tests write in the real ``data.noun`` / ``data.verb`` format (CI has no ``wordnet-base``)."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch
from text_files import write_gloss_wordnet

from bayes_dps.configs import resolve
from bayes_dps.data import load_data
from bayes_dps.data import wordnet_glosses as wg
from bayes_dps.errors import ConfigError, DatasetNotFoundError
from bayes_dps.models import build_model

SIZES = {"noun.animal": 300, "noun.artifact": 200, "noun.body": 40, "noun.plant": 60,
         "verb.body": 50, "verb.motion": 30}  # fmt: skip


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_gloss_wordnet(tmp_path_factory.mktemp("wordnet"), SIZES)


def spec(folder, tmp_path, **kw):
    return {"name": "wordnet_glosses", "path": str(folder), "cache": str(tmp_path), **kw}


def test_hashing_is_crc32_of_unigrams_then_bigrams_with_zero_padding():
    x = wg.encode(["A small Fox, hunting."], buckets=101, max_words=3)
    ids = [1 + zlib.crc32(g.encode()) % 100 for g in ("a", "small", "fox", "a small", "small fox")]
    assert x.dtype == np.int64 and x.shape == (1, 5)
    assert x[0].tolist() == ids
    assert wg.encode(["one"], buckets=101, max_words=3)[0].tolist()[1:] == [0, 0, 0, 0]


def test_splits_are_fixed_by_synset_offset_and_disjoint(folder, tmp_path):
    a = load_data(spec(folder, tmp_path, seed=0))
    b = load_data(spec(folder, tmp_path, seed=5))
    assert a.classes == ["noun.animal", "noun.artifact", "noun.body", "noun.plant"]
    assert torch.equal(a.test.inputs, b.test.inputs) and torch.equal(a.val.inputs, b.val.inputs)
    nouns = sum(v for k, v in SIZES.items() if k.startswith("noun"))
    assert len(a.train) + len(a.val) + len(a.test) == nouns
    assert 0.03 < len(a.test) / nouns < 0.09 and 0.01 < len(a.val) / nouns < 0.06
    rows = lambda d: {tuple(r) for r in d.inputs.tolist()}  # noqa: E731
    assert not rows(a.test) & rows(a.train) and not rows(a.val) & rows(a.train)
    assert not a.train.annotations["off_domain"].any()


def test_minority_marks_classes_below_the_median_training_size(folder, tmp_path):
    s = load_data(spec(folder, tmp_path))
    counts = s.train.class_counts()
    minority = s.train.annotations["minority"]
    assert set(s.train.targets[minority]) == set(np.flatnonzero(counts < np.median(counts)))
    groups = s.train.group_masks("imbalance")
    assert groups["minority"].sum() == (counts[counts < np.median(counts)]).sum()


def test_verb_glosses_join_as_off_domain_with_their_noun_counterpart(folder, tmp_path):
    s = load_data(spec(folder, tmp_path, off_domain="verbs"))
    off = s.train.annotations["off_domain"]
    assert off.sum() == SIZES["verb.body"]  # verb.motion has no noun counterpart: left out
    assert (s.train.targets[off] == s.classes.index("noun.body")).all()
    assert not s.train.annotations["minority"][off].any()
    fewer = load_data(spec(folder, tmp_path, off_domain="verbs", off_domain_size=10))
    assert fewer.train.annotations["off_domain"].sum() == 10


def test_train_size_subsamples_stratified(folder, tmp_path):
    full = load_data(spec(folder, tmp_path))
    s = load_data(spec(folder, tmp_path, train_size=200))
    assert abs(len(s.train) - 200) <= 4
    share = lambda d: d.class_counts() / len(d)  # noqa: E731
    assert np.abs(share(s.train) - share(full.train)).max() < 0.03
    with pytest.raises(ConfigError, match="train_size"):
        load_data(spec(folder, tmp_path, train_size=10**6))


def test_tokenised_arrays_are_cached_and_reread(folder, tmp_path, monkeypatch):
    first = load_data(spec(folder, tmp_path))
    assert len(list(tmp_path.glob("wordnet_glosses-*.npz"))) == 1

    def no_parse(*a, **k):
        raise AssertionError("the cache was not used")

    monkeypatch.setattr(wg, "parse_data_file", no_parse)
    again = load_data(spec(folder, tmp_path))
    assert torch.equal(first.train.inputs, again.train.inputs)
    monkeypatch.undo()
    load_data(spec(folder, tmp_path, buckets=999))  # other settings: another cache entry
    assert len(list(tmp_path.glob("wordnet_glosses-*.npz"))) == 2


def test_missing_files_name_the_package_and_the_setting(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"apt-get install wordnet-base.*dataset\.path"):
        load_data(spec(tmp_path / "nowhere", tmp_path))


def test_hashbag_features_are_the_mean_of_non_padding_embeddings():
    torch.manual_seed(0)
    model = build_model("hashbag", (5,), 3, {"buckets": 50, "dim": 4})
    x = torch.tensor([[3, 7, 0, 0, 0], [9, 9, 2, 0, 0]])
    table = model.bag.weight
    want = torch.stack([table[[3, 7]].mean(0), table[[9, 9, 2]].mean(0)])
    torch.testing.assert_close(model.features(x), want)
    torch.testing.assert_close(model(x), model.head(want))
    with pytest.raises(TypeError, match="int64"):
        model(x.float())


def test_a_table_smaller_than_the_ids_is_refused_before_training(folder, tmp_path):
    from bayes_dps.runs.session import preflight_model

    splits = load_data(spec(folder, tmp_path, buckets=4096))
    cfg = {"model": "hashbag", "model_options": {"buckets": 64}}
    with pytest.raises(ConfigError, match=r"model_options\.buckets to \d+"):
        preflight_model(cfg, splits)
    preflight_model({"model": "hashbag", "model_options": {"buckets": 4096}}, splits)


def test_evaluate_on_val_reports_on_the_validation_split(folder, tmp_path):
    s = load_data(spec(folder, tmp_path, evaluate_on="val"))
    ref = load_data(spec(folder, tmp_path))
    assert torch.equal(s.test.inputs, ref.val.inputs)
    assert any("evaluate_on=val" in n for n in s.notes)
    with pytest.raises(ConfigError, match="no validation split"):
        load_data({"name": "digits", "evaluate_on": "val"})


# ------------------------------------------------------- the four bundled configs, end to end
TINY_RUN = ["seeds=[0]", "device=cpu", "progress=false", "checkpoint=false", "num_workers=0",
            "model_options.buckets=32768"]  # fmt: skip


@pytest.mark.parametrize("name", ["wordnet_balance", "wordnet_denoise", "wordnet_domain"])
def test_bads_wordnet_configs_end_to_end(name, folder, tmp_path):
    from bayes_dps.config import BADS_DEFAULTS, load_config
    from bayes_dps.methods.bads.experiment import run_bads_experiment

    sets = [*TINY_RUN, f"dataset.path={folder}", f"dataset.cache={tmp_path}",
            "steps=6", "eval_every=3", "batch_size=16", "meta_batch_size=8", "bads.s_avg=3",
            "bads.thin=1", "bads.weight_net_warmup=2", "contrastive.base_steps=2",
            "contrastive.finetune_steps=2"]  # fmt: skip
    if name != "wordnet_balance":
        sets.append("dataset.train_size=400")
    cfg = load_config(resolve(name), sets, BADS_DEFAULTS)
    results, _, _ = run_bads_experiment(cfg, tmp_path / "out", log=lambda m: None)
    assert set(results["methods"]) == set(cfg["methods"])
    groups = {"wordnet_balance": {"minority", "majority"}, "wordnet_denoise": {"clean", "noisy"},
              "wordnet_domain": {"in_domain", "off_domain"}}[name]  # fmt: skip
    weights = results["methods"]["bads"]["seeds"][0]["final_group_weights"]
    assert set(weights) == groups


def test_online_wordnet_noisy_end_to_end(folder, tmp_path):
    from bayes_dps.config import ONLINE_DEFAULTS, load_config
    from bayes_dps.methods.online import run_online_experiment

    sets = [*TINY_RUN, f"dataset.path={folder}", f"dataset.cache={tmp_path}",
            "dataset.train_size=500", "epochs=1", "n_B=32", "n_b=8", "holdout.epochs=1",
            "holdout.cache=false", "svp.epochs=1", "max_steps_per_epoch=2"]  # fmt: skip
    cfg = load_config(resolve("wordnet_noisy"), sets, ONLINE_DEFAULTS)
    results = run_online_experiment(cfg, tmp_path / "out", log=lambda m: None)
    assert set(results["methods"]) == set(cfg["methods"])
    for method in results["methods"].values():
        assert 0.0 <= method["seeds"][0]["selected_noisy_fraction"] <= 1.0


def test_the_curated_set_takes_no_off_domain_glosses(folder, tmp_path):
    s = load_data(spec(folder, tmp_path, off_domain="verbs", meta_per_class=3))
    assert not s.meta.annotations["off_domain"].any() and len(s.meta) == 3 * 4
    assert s.train.annotations["off_domain"].sum() == SIZES["verb.body"]
