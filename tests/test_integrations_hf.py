"""Hugging Face ``Trainer``: the same selected indices, ``w`` and parameters as the package's
own loops, exact resume from a Trainer checkpoint, and bad input refused before training."""

from __future__ import annotations

import pytest
import torch
from integration_helpers import (
    N_M,
    K,
    N,
    blobs,
    dict_rows,
    meta_set,
    mlp,
    own_bads,
    own_online,
    params,
    same,
    sampler,
    selector,
)

transformers = pytest.importorskip("transformers")

from bayes_dps.data.text import PAD  # noqa: E402
from bayes_dps.errors import ConfigError, DataError  # noqa: E402
from bayes_dps.integrations.hf_models import HFClassifier  # noqa: E402
from bayes_dps.integrations.hf_trainer import (  # noqa: E402
    STATE_FILE,
    BADSTrainer,
    OnlineSelectionTrainer,
)

T, VOCAB = 8, 40


def args(tmp_path, n_big: int, epochs: int = 2, **kw) -> transformers.TrainingArguments:
    base = dict(output_dir=str(tmp_path), per_device_train_batch_size=n_big,
                num_train_epochs=epochs, max_grad_norm=0.0, report_to="none", use_cpu=True,
                save_strategy="no", logging_steps=2, seed=0, disable_tqdm=True)  # fmt: skip
    return transformers.TrainingArguments(**{**base, **kw})


def sgd(model, lr: float = 0.1):
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)


def tokens(n: int = N) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Token rows of varying length (right-padded), labels from the first token."""
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1, VOCAB, (n, T), generator=g)
    lengths = torch.randint(3, T + 1, (n,), generator=g)
    mask = (torch.arange(T)[None] < lengths[:, None]).long()
    return ids * mask, mask, ids[:, 0] % K


def tiny_gpt2() -> HFClassifier:
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        vocab_size=VOCAB, n_positions=T, n_embd=16, n_layer=1, n_head=2, num_labels=K,
        pad_token_id=0, bos_token_id=0, eos_token_id=0, resid_pdrop=0.0, embd_pdrop=0.0,
        attn_pdrop=0.0,
    )  # fmt: skip
    return HFClassifier(transformers.GPT2ForSequenceClassification(config))


def test_online_trainer_selects_and_trains_as_the_package_loop(tmp_path):
    ids, mask, y = tokens()
    x = ids.masked_fill(mask == 0, PAD)
    chosen, ref = own_online(tiny_gpt2(), x, y, n_big=24, n_b=6, epochs=2)
    model = tiny_gpt2()
    rows = [{"input_ids": ids[i], "attention_mask": mask[i], "labels": int(y[i])} for i in range(N)]
    sel, got = selector(model), []
    trainer = OnlineSelectionTrainer(
        model=model, args=args(tmp_path, 24), train_dataset=rows, optimizers=sgd(model),
        selector=sel, n_b=6, groups={"first_class": (y == 0).numpy()},
    )  # fmt: skip
    step = trainer.training_step

    def recorded(*a, **k):
        out = step(*a, **k)
        got.append(trainer.method_log_last)
        return out

    trainer.training_step = recorded
    trainer.train()
    assert all(torch.equal(a, b) for a, b in zip(got, chosen, strict=True))
    assert same(params(model), ref)
    logged = [h for h in trainer.state.log_history if "loss" in h]
    assert logged and {"selection/model", "selection/first_class"} <= set(logged[0])


def bads_trainer(tmp_path, theta="sgld", epochs=1, variant=dict, **kw):
    x, y = blobs()
    xm, ym = meta_set()
    model = mlp()
    s = sampler(model, **variant())
    return BADSTrainer(
        model=model, args=args(tmp_path, 16, epochs, **kw), train_dataset=dict_rows(x, y),
        meta_dataset=dict_rows(xm, ym), optimizers=sgd(model), sampler=s, theta=theta,
    ), model, s  # fmt: skip


def weight_network() -> dict:
    from bayes_dps.inference.bads import default_weight_net

    torch.manual_seed(11)
    return {"weight_net": default_weight_net(16 + K + 1, hidden=4)}  # features, one-hot y, ℓ


VARIANTS = {"sgld": dict, "gibbs": lambda: {"kernel": "gibbs"}, "weight_net": weight_network}


@pytest.mark.parametrize("variant", VARIANTS)
def test_bads_trainer_moves_theta_and_w_as_the_package_loop(tmp_path, variant):
    """Per-instance weights by Langevin or Gibbs moves, or a weight network ``g_φ``."""
    x, y = blobs()
    xm, ym = meta_set()
    make = VARIANTS[variant]
    ref_kw = make()
    w_ref, ref = own_bads(mlp(), x, y, xm, ym, b=16, steps=2 * N // 16, **ref_kw)
    trainer, model, s = bads_trainer(tmp_path, epochs=2, variant=make)
    trainer.train()
    assert s.num_steps == 2 * N // 16
    assert torch.equal(s.w, w_ref) and same(params(model), ref)
    logged = [h for h in trainer.state.log_history if "loss" in h]
    assert logged and "bads/w_mean" in logged[0]
    if "weight_net" in ref_kw:  # g_φ moved alike
        phi = s.state_dict()["weights"]["net"]
        assert all(torch.equal(phi[k], v) for k, v in ref_kw["weight_net"].state_dict().items())
        start = weight_network()["weight_net"].state_dict()
        assert not all(torch.equal(phi[k], v) for k, v in start.items())  # and it did move


@pytest.mark.parametrize("theta", ["sgld", "optimizer"])
def test_bads_trainer_resumes_exactly_from_its_checkpoint(tmp_path, theta):
    trainer, model, s = bads_trainer(tmp_path / "full", theta, epochs=2)
    trainer.train()
    half = N // 16  # one epoch in, saved and resumed by a fresh trainer
    first, _, _ = bads_trainer(tmp_path / "cut", theta, epochs=2, save_strategy="steps",
                               save_steps=half, max_steps=half)  # fmt: skip
    first.train()
    checkpoint = tmp_path / "cut" / f"checkpoint-{half}"
    assert (checkpoint / STATE_FILE).exists()
    second, model2, s2 = bads_trainer(tmp_path / "cut", theta, epochs=2)
    second.train(resume_from_checkpoint=str(checkpoint))
    assert s2.num_steps == s.num_steps
    assert torch.equal(s2.w, s.w) and same(params(model2), params(model))


def test_online_trainer_resumes_mid_epoch(tmp_path):
    ids, mask, y = tokens()
    rows = [{"input_ids": ids[i], "attention_mask": mask[i], "labels": int(y[i])} for i in range(N)]

    def run(out, **kw):
        model = tiny_gpt2()
        sel = selector(model)
        trainer = OnlineSelectionTrainer(
            model=model, args=args(out, 24, **kw), train_dataset=rows, optimizers=sgd(model),
            selector=sel, n_b=6,
        )  # fmt: skip
        return trainer, model, sel

    full, model, sel = run(tmp_path / "full")
    full.train()
    cut, _, _ = run(tmp_path / "cut", save_strategy="steps", save_steps=3, max_steps=3)
    cut.train()  # 3 of 4 steps of the first epoch
    again, model2, sel2 = run(tmp_path / "cut")
    again.train(resume_from_checkpoint=str(tmp_path / "cut" / "checkpoint-3"))
    assert same(params(model2), params(model))
    a, b = sel.state_dict()["posterior"], sel2.state_dict()["posterior"]
    assert all(torch.equal(a[k], b[k]) for k in a if isinstance(a[k], torch.Tensor))


def test_bad_input_is_refused_before_training(tmp_path):
    x, y = blobs()
    model = mlp()
    with pytest.raises(DataError, match="no 'labels' column"):
        OnlineSelectionTrainer(model=model, args=args(tmp_path, 16),
                               train_dataset=[{"x": x[i]} for i in range(N)],
                               optimizers=sgd(model), selector=selector(model), n_b=4)  # fmt: skip
    with pytest.raises(ConfigError, match=r"n_b=32 .*n_B=16"):
        OnlineSelectionTrainer(model=model, args=args(tmp_path, 16), train_dataset=dict_rows(x, y),
                               optimizers=sgd(model), selector=selector(model), n_b=32)  # fmt: skip
    xm, _ = meta_set()
    other = torch.full((N_M,), K + 1)
    with pytest.raises(ConfigError, match="meta dataset D_m has classes"):
        BADSTrainer(model=model, args=args(tmp_path, 16), train_dataset=dict_rows(x, y),
                    meta_dataset=dict_rows(xm, other), optimizers=sgd(model),
                    sampler=sampler(model))  # fmt: skip
    with pytest.raises(ConfigError, match="n_t=50 but the dataset has 96"):
        BADSTrainer(model=model, args=args(tmp_path, 16), train_dataset=dict_rows(x, y),
                    meta_dataset=dict_rows(*meta_set()), optimizers=sgd(model),
                    sampler=sampler(model, n_t=50))  # fmt: skip
    with pytest.raises(ConfigError, match="gradient_accumulation_steps=2"):
        OnlineSelectionTrainer(model=model, args=args(tmp_path, 16, gradient_accumulation_steps=2),
                               train_dataset=dict_rows(x, y), optimizers=sgd(model),
                               selector=selector(model), n_b=4)  # fmt: skip


def test_bads_trainer_weights_a_causal_lm_by_its_response_likelihood(tmp_path):
    """A Hugging Face causal LM as the sampler's model, rows with ``labels`` = the response ids
    (prompt and padding ``-100``): ``BADSTrainer`` moves ``θ`` and ``w`` on the token-averaged
    response log-likelihood exactly as the sampler stepped by hand on the same batches."""
    from bayes_dps.data.text import IGNORE
    from bayes_dps.integrations.loaders import BigBatchSampler
    from bayes_dps.models.likelihoods import CausalLM

    ids, mask, _ = tokens()
    response = mask.bool() & (torch.arange(T)[None] >= 2)  # the first two tokens: the prompt
    labels = ids.masked_fill(~response, IGNORE)
    x = ids.masked_fill(mask == 0, PAD)
    n_m = N_M

    def lm() -> torch.nn.Module:
        torch.manual_seed(0)
        config = transformers.GPT2Config(
            vocab_size=VOCAB, n_positions=T, n_embd=16, n_layer=1, n_head=2, pad_token_id=0,
            bos_token_id=0, eos_token_id=0, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        )  # fmt: skip
        return transformers.GPT2LMHeadModel(config)

    def lm_sampler(model):
        return sampler(model, n_t=N, n_m=n_m, likelihood=CausalLM("mean"))

    ref = lm()
    s_ref = lm_sampler(ref)
    order_t, order_m = BigBatchSampler(N, 16, seed=0), BigBatchSampler(n_m, 16, seed=1)
    for t in range(N // 16):
        i, j = torch.tensor(order_t.batch_at(t)), torch.tensor(order_m.batch_at(t))
        s_ref.step((x[i], labels[i], i), (x[j], labels[j], j))

    def rows(r):
        return [{"input_ids": ids[i], "attention_mask": mask[i], "labels": labels[i]} for i in r]

    model = lm()
    s = lm_sampler(model)
    trainer = BADSTrainer(
        model=model, args=args(tmp_path, 16, epochs=1), train_dataset=rows(range(N)),
        meta_dataset=rows(range(n_m)), optimizers=sgd(model), sampler=s, theta="sgld",
    )  # fmt: skip
    trainer.train()
    assert s.num_steps == N // 16
    assert torch.equal(s.w, s_ref.w) and same(params(model), params(ref))


def test_trl_sft_trainer_takes_the_bads_mixin(tmp_path):
    """TRL's ``SFTTrainer`` with ``BADSMixin`` on pre-tokenised prompt/completion rows (its
    collator pads and builds the labels from ``completion_mask``): the same ``w`` and ``θ`` as
    the sampler stepped by hand on the batches those rows make."""
    trl = pytest.importorskip("trl")
    datasets = pytest.importorskip("datasets")
    from bayes_dps.data.text import IGNORE
    from bayes_dps.data.tokenizers import train_bpe
    from bayes_dps.integrations.hf_trainer import BADSMixin
    from bayes_dps.integrations.loaders import BigBatchSampler
    from bayes_dps.models.likelihoods import CausalLM

    tok = train_bpe(["a small corpus for a tokenizer", "with a few words"], vocab_size=80)
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(4, T + 1, (N,), generator=g).tolist()
    seqs = [torch.randint(4, len(tok), (n,), generator=g).tolist() for n in lengths]
    rows = [{"input_ids": s, "completion_mask": [0, 0] + [1] * (len(s) - 2)} for s in seqs]

    def lm() -> torch.nn.Module:
        torch.manual_seed(0)
        config = transformers.GPT2Config(
            vocab_size=len(tok), n_positions=T, n_embd=16, n_layer=1, n_head=2,
            pad_token_id=tok.pad_token_id, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        )  # fmt: skip
        return transformers.GPT2LMHeadModel(config)

    def lm_sampler(model):
        return sampler(model, n_t=N, n_m=N_M, likelihood=CausalLM("mean"))

    def batch(rows_, idx):  # what the collator makes: right-padded to the longest row
        width = max(len(rows_[i]["input_ids"]) for i in idx)
        x = torch.full((len(idx), width), PAD)
        y = torch.full((len(idx), width), IGNORE)
        for r, i in enumerate(idx):
            s, m = torch.tensor(rows_[i]["input_ids"]), torch.tensor(rows_[i]["completion_mask"])
            x[r, : len(s)], y[r, : len(s)] = s, s.masked_fill(m == 0, IGNORE)
        return x, y, torch.tensor(idx)

    ref = lm()
    s_ref = lm_sampler(ref)
    order_t, order_m = BigBatchSampler(N, 16, seed=0), BigBatchSampler(N_M, 16, seed=1)
    for t in range(N // 16):
        s_ref.step(batch(rows, order_t.batch_at(t)), batch(rows, order_m.batch_at(t)))

    class BADSSFTTrainer(BADSMixin, trl.SFTTrainer):
        pass

    model = lm()
    s = lm_sampler(model)
    config = trl.SFTConfig(
        output_dir=str(tmp_path), per_device_train_batch_size=16, num_train_epochs=1,
        max_grad_norm=0.0, report_to="none", use_cpu=True, save_strategy="no", seed=0,
        disable_tqdm=True, completion_only_loss=True, max_length=T, logging_steps=2,
        bf16=False, gradient_checkpointing=False,  # SFTConfig defaults: bf16, checkpointing
    )  # fmt: skip
    trainer = BADSSFTTrainer(
        model=model, args=config, train_dataset=datasets.Dataset.from_list(rows),
        meta_dataset=datasets.Dataset.from_list(rows[:N_M]), processing_class=tok,
        optimizers=sgd(model), sampler=s, theta="sgld",
    )  # fmt: skip
    trainer.train()
    assert s.num_steps == N // 16
    assert torch.equal(s.w, s_ref.w) and same(params(model), params(ref))
