"""Zero-shot / validation predictors: open_clip zero-shot, cached tables, holdout reuse."""

from __future__ import annotations

import logging

import pytest
import torch
import torch.nn.functional as F

from bayes_dps.config import ONLINE_DEFAULTS, load_config
from bayes_dps.data import IndexedDataset, load_digits
from bayes_dps.errors import DataError, DatasetNotFoundError
from bayes_dps.methods.online.predictor_factory import PredictorFactory
from bayes_dps.models import build_model
from bayes_dps.selection.predictors import (
    CachedLogits,
    ModelPredictor,
    OpenCLIPZeroShot,
    compute_logit_table,
)

logging.getLogger().setLevel(logging.ERROR)  # open_clip warns about random weights


def test_openclip_zero_shot_code_path(tiny_clip_arch):
    torch.manual_seed(0)
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    pred = OpenCLIPZeroShot.create(
        ["airplane", "bird", "cat"],
        arch=tiny_clip_arch,
        pretrained=None,
        temperature=0.05,
        input_mean=mean,
        input_std=std,
    )
    assert pred.image_size == 32 and pred.num_classes == 3
    assert torch.allclose(pred.class_embeddings.norm(dim=1), torch.ones(3), atol=1e-5)
    raw = torch.rand(4, 3, 16, 16)  # dataset-resolution images in [0, 1]
    x = (raw - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    logits = pred.logits(x)
    assert logits.shape == (4, 3)
    assert (logits * 0.05).abs().max() <= 1 + 1e-5  # cosine / τ
    # by hand: undo the dataset normalisation, upsample, CLIP-normalise, cosine / τ
    up = F.interpolate(raw, size=(32, 32), mode="bilinear")
    clip_in = (up - pred.clip_mean) / pred.clip_std
    with torch.no_grad():
        emb = F.normalize(pred.model.encode_image(clip_in), dim=-1)
    assert torch.allclose(logits, emb @ pred.class_embeddings.T / 0.05, atol=1e-4)
    # prompt ensemble: mean of normalised template embeddings, renormalised
    with torch.no_grad():
        tokens = pred_tokenizer(tiny_clip_arch)(["a photo of a bird.", "a blurry photo of a bird."])
        e = F.normalize(pred.model.encode_text(tokens), dim=-1)
    two = OpenCLIPZeroShot(
        pred.model,
        pred_tokenizer(tiny_clip_arch),
        ["bird"],
        templates=("a photo of a {}.", "a blurry photo of a {}."),
    )
    assert torch.allclose(two.class_embeddings[0], F.normalize(e.mean(0), dim=0), atol=1e-5)


def pred_tokenizer(arch):
    import open_clip

    return open_clip.get_tokenizer(arch)


def test_openclip_missing_checkpoint(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="CLIP checkpoint"):
        OpenCLIPZeroShot.create(["a"], checkpoint=str(tmp_path / "none.pt"))


def test_cached_table_roundtrip_and_mismatch(tmp_path):
    splits = load_digits(meta_per_class=0)
    model = build_model("mlp", (64,), 10, {"hidden": []})
    table = compute_logit_table(ModelPredictor(model), splits.train, batch_size=100)
    with torch.no_grad():
        assert torch.allclose(table.table, model(splits.train.inputs), atol=1e-5)
    path = tmp_path / "cache.pt"
    table.save(path)
    loaded = CachedLogits.load(path, splits.train)
    idx = torch.tensor([5, 0, 17])
    assert torch.equal(loaded.logits(None, idx), table.table[idx])
    with pytest.raises(DataError, match="it has 1347 points, the dataset 1346"):
        CachedLogits.load(path, splits.train.subset(range(len(splits.train) - 1)))
    other = splits.train._replace(inputs=splits.train.inputs + 0.01)
    with pytest.raises(DataError, match="fingerprint"):
        CachedLogits.load(path, other)
    fewer = IndexedDataset(splits.train.inputs, splits.train.targets % 5, num_classes=5)
    with pytest.raises(DataError, match="10 classes, the dataset 5"):
        CachedLogits.load(path, fewer)
    with pytest.raises(DataError, match="needs dataset indices"):
        loaded.logits(torch.zeros(1, 64))


def test_holdout_model_is_trained_once_and_reused(tmp_path):
    splits = load_digits(meta_per_class=10)
    cfg = load_config(None, ["holdout.epochs=20", "model=mlp", "device=cpu"], ONLINE_DEFAULTS)
    messages = []
    first = PredictorFactory(cfg, splits, torch.device("cpu"), tmp_path, log=messages.append)
    a = first.get("holdout")
    second = PredictorFactory(cfg, splits, torch.device("cpu"), tmp_path, log=messages.append)
    b = second.get("holdout")
    assert any("reusing" in m for m in messages)
    assert torch.equal(a.table, b.table) and isinstance(a, CachedLogits)
    assert first.test_accuracy["holdout"] > 0.8  # 100 clean digits are enough for a decent model


def test_holdout_needs_a_meta_set(tmp_path):
    splits = load_digits(meta_per_class=0)
    cfg = load_config(None, ["device=cpu"], ONLINE_DEFAULTS)
    with pytest.raises(DataError, match="meta_per_class"):
        PredictorFactory(cfg, splits, torch.device("cpu"), tmp_path, log=lambda m: None).get(
            "holdout"
        )
