"""Every language config runs end to end through the CLI on tiny stand-ins: the small files the
tests write in the real formats (WordNet database files, WebNLG XML, instruction JSONL), tiny
random models (saved to local folders where the config loads a pretrained one), a few steps —
results.json, the weight figures, posterior.nc, the report and an exact --resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("transformers")
pytest.importorskip("peft")
pytest.importorskip("sacrebleu")

from bayes_dps.cli import main
from tests.helpers import without_timings
from tests.text_files import write_instructions, write_webnlg, write_wordnet

TINY = ["model_options.d_model=16", "model_options.d_ff=32", "model_options.layers=1",
        "model_options.heads=2"]  # fmt: skip
SHORT = ["seeds=[0]", "steps=4", "eval_every=2", "bads.s_avg=2", "bads.thin=1", "device=cpu",
         "progress=false", "eval_batch_size=16"]  # fmt: skip


def _run(config: str, out: Path, sets: list[str], *extra: str) -> dict:
    args = ["bads", "--config", config, "--out", str(out), "--threads", "1", *extra]
    for s in [*SHORT, *sets]:
        args += ["--set", s]
    assert main(args) == 0
    return json.loads((out / "results.json").read_text())


def _saved_model(tmp_path: Path, seq2seq: bool) -> Path:
    """A tiny random model and its tokenizer saved as a local Hugging Face folder."""
    from bayes_dps.data.tokenizers import train_bpe
    from bayes_dps.models.language import build_causal_lm, build_seq2seq

    texts = ["the runway of airport is metres long", "add the numbers", "the capital is city"]
    tok = train_bpe(texts * 30, 300)
    opts = {"d_model": 16, "d_ff": 32, "layers": 1, "heads": 2}
    model = build_seq2seq(tok, opts) if seq2seq else build_causal_lm(tok, opts)
    folder = tmp_path / ("t5" if seq2seq else "llama")
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def _llm_ift_stand_in(tmp_path: Path) -> list[str]:
    """``llm_ift`` on instruction files and a tiny saved Llama the test writes."""
    files = write_instructions(tmp_path / "data", per_task=16)
    model = _saved_model(tmp_path, seq2seq=False)
    return [f"model_options.pretrained={model}", f"dataset.sources=[{', '.join(map(str, files))}]",
            "dataset.corrupt_task=arithmetic", "dataset.per_task=8", "dataset.meta_per_class=2",
            "dataset.test_per_task=2", "dataset.val_per_task=1", "text.max_length=48",
            "model_options.lora_r=2", "batch_size=4", "meta_batch_size=4"]  # fmt: skip


def _check_run(out: Path, res: dict, metric: str, headline: set[str]) -> None:
    assert res["config"]["metric"] == metric
    assert set(res["headline_groups"]) == headline
    bads = next(m for n, m in res["methods"].items() if n.startswith("bads"))
    run = bads["seeds"][0]
    assert len(run["test_metric"]) == len(run["eval_steps"]) and run["final_metric"] >= 0
    assert headline <= set(run["final_group_weights"])  # and every domain / task besides
    assert len(run["final_group_weights"]) > len(headline)
    for f in ("curves.png", "weights.png", "group_weights.png", "posterior.nc"):
        assert (out / f).is_file(), f
    assert main(["report", str(out)]) == 0
    report = (out / "report.md").read_text()
    assert "Final mean weight by domain / task" in report and "group_weights.png" in report


def test_wordnet_efficient_runs_every_method_and_resumes_exactly(tmp_path):
    dict_dir = write_wordnet(tmp_path / "dict", per_domain=30)
    sets = [f"dataset.path={dict_dir}", "dataset.train_size=40", "dataset.meta_size=4",
            "dataset.val_size=2", "dataset.test_size=6", "text.vocab_size=300",
            "contrastive.base_steps=2", "contrastive.finetune_steps=2", "classact.base_steps=2",
            "batch_size=8",
            "meta_batch_size=4", *TINY]  # fmt: skip
    out = tmp_path / "we"
    res = _run("wordnet_efficient", out, sets)
    assert list(res["methods"]) == ["mixing", "meta_only", "dup_meta", "contrastive", "classact",
                                    "blo", "bads", "bads_fixed_w", "bads_chain"]  # fmt: skip
    _check_run(out, res, "bleu", {"in_domain", "off_domain"})
    assert set(res["methods"]["bads"]["seeds"][0]["final_group_weights"]) >= {
        "noun.animal", "noun.plant", "verb.motion"}  # fmt: skip
    again = _run("wordnet_efficient", out, sets, "--resume")  # every record reused
    assert without_timings(again) == without_timings(res)


def test_wordnet_efficient_lm_decodes_bleu_with_every_method_on_a_local_llama(tmp_path):
    """Data-to-text as a chat turn of a decoder-only model: BLEU from greedy continuations,
    the weight network on the exact normaliser's centred drift, classact and askllm_o, in- and
    off-domain groups."""
    dict_dir = write_wordnet(tmp_path / "dict", per_domain=30)
    model = _saved_model(tmp_path, seq2seq=False)
    sets = [f"dataset.path={dict_dir}", f"model_options.pretrained={model}",
            "dataset.train_size=40", "dataset.meta_size=4", "dataset.val_size=2",
            "dataset.test_size=6", "model_options.lora_r=2", "text.max_length=48",
            "text.max_target=8", "batch_size=4", "meta_batch_size=4"]  # fmt: skip
    out = tmp_path / "eflm"
    res = _run("wordnet_efficient_lm", out, sets)
    assert list(res["methods"]) == ["mixing", "bads_weightnet", "classact", "askllm_o"]
    assert res["config"]["task"] == "causal_lm"
    bads = res["config"]["bads"]
    assert (bads["drift_centring"], bads["normaliser_weight"], bads["rho_phi"], bads["kernel"],
            bads["eta_theta"]) == ("running_mean", 1.0, 8.0, "psgld", 6e-4)  # fmt: skip
    ll_aux = res["methods"]["bads_weightnet"]["seeds"][0]["group_drift"]["off_domain"]["ll_aux"]
    assert any(v not in (None, 0.0) for v in ll_aux)  # the auxiliary chain θ' ran
    _check_run(out, res, "bleu", {"in_domain", "off_domain"})
    for method in ("classact", "askllm_o"):
        assert {"in_domain", "off_domain"} <= set(
            res["methods"][method]["seeds"][0]["final_group_weights"]
        )


def test_smollm_ift_with_a_corrupted_task_on_a_tiny_random_llama(tmp_path):
    pytest.importorskip("chatterbot_corpus")
    dict_dir = write_wordnet(tmp_path / "dict", per_domain=12)
    sets = [f"dataset.path={dict_dir}", "model_options.pretrained=null", "text.tokenizer=bpe",
            "text.vocab_size=300", "text.max_length=48",
            "dataset.sources=[wordnet:define, wordnet:hypernym, chatterbot:ai]",
            "dataset.per_task=8", "dataset.meta_per_class=2", "dataset.test_per_task=2",
            "dataset.val_per_task=1", "model_options.lora_r=2",
            "methods=[mixing, bads_weightnet, bads_fixed_w, classact]", *TINY]  # fmt: skip
    out = tmp_path / "ift"
    res = _run("smollm_ift", out, sets)
    _check_run(out, res, "token_acc", {"clean", "noisy"})
    assert res["config"]["bads"]["drift_centring"] == "running_mean"
    assert res["config"]["bads"]["normaliser_weight"] == 0.0
    weights = res["methods"]["bads_weightnet"]["seeds"][0]["final_group_weights"]
    assert set(weights) >= {"wordnet/define", "wordnet/hypernym", "chatterbot/ai"}


def test_the_weight_networks_text_embeddings_are_standardised_over_d_t(tmp_path):
    """``LanguageTask.embeddings``: the base's mean-pooled states, per feature mean 0 and
    spread 1 over ``D_t`` (so a decoder's massive activations do not swamp ``g_φ``)."""
    import torch

    from bayes_dps import configs
    from bayes_dps.config.loading import load_config
    from bayes_dps.data.registry import load_text_data
    from bayes_dps.models.language import mean_pooled_embeddings
    from bayes_dps.tasks import build_task

    sets = [*_llm_ift_stand_in(tmp_path), *SHORT]
    cfg = load_config(configs.resolve("llm_ift"), sets, command="bads")
    task = build_task(cfg, load_text_data(cfg["dataset"]))
    model = task.build_model(torch.device("cpu"))
    e = task.embeddings(model)
    raw = mean_pooled_embeddings(model, task.train.inputs, seq2seq=False)
    assert e.shape == raw.shape == (len(task.train), model.config.hidden_size)
    assert torch.allclose(e.mean(0), torch.zeros(e.shape[1]), atol=1e-5)
    assert torch.allclose(e.std(0, unbiased=False), torch.ones(e.shape[1]), atol=1e-4)
    assert torch.allclose(e, (raw - raw.mean(0)) / raw.std(0, unbiased=False), atol=1e-4)


def test_webnlg_config_with_a_local_pretrained_t5_folder(tmp_path):
    xml = write_webnlg(tmp_path / "webnlg.xml", per_category=20)
    model = _saved_model(tmp_path, seq2seq=True)
    sets = [f"dataset.path={xml}", f"model_options.pretrained={model}", "dataset.train_size=40",
            "dataset.meta_size=4", "dataset.val_size=2", "dataset.test_size=6",
            "methods=[mixing, bads]", "batch_size=8", "meta_batch_size=4"]  # fmt: skip
    out = tmp_path / "webnlg"
    res = _run("webnlg", out, sets)
    _check_run(out, res, "bleu", {"in_domain", "off_domain"})
    assert set(res["methods"]["bads"]["seeds"][0]["final_group_weights"]) >= {
        "Airport", "Food", "City"}  # fmt: skip


def test_llm_ift_config_on_instruction_files_and_a_local_causal_lm(tmp_path):
    sets = _llm_ift_stand_in(tmp_path)
    out = tmp_path / "llm"
    res = _run("llm_ift", out, sets)
    _check_run(out, res, "token_acc", {"clean", "noisy"})
    assert res["config"]["precision"] == "bf16-mixed"


def test_a_missing_local_model_is_a_clear_error(tmp_path, capsys):
    xml = write_webnlg(tmp_path / "webnlg.xml", per_category=4)
    missing = tmp_path / "none"
    args = ["bads", "--config", "webnlg", "--out", str(tmp_path / "o"), "--set",
            f"dataset.path={xml}", "--set", f"model_options.pretrained={missing}"]  # fmt: skip
    for size in ("train_size=8", "meta_size=1", "val_size=1", "test_size=1"):
        args += ["--set", f"dataset.{size}"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"no local model at {tmp_path / 'none'}" in err and "save_pretrained" in err


def test_askllm_weights_equal_one_question_at_a_time(tmp_path):
    """The batched, left-padded scoring against each question and answer forwarded alone."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from bayes_dps.data.text import TextExample, causal_prompt
    from bayes_dps.methods.bads.askllm import answer_tokens, askllm_weights, question, shots

    folder = _saved_model(tmp_path, seq2seq=False)
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    tok = AutoTokenizer.from_pretrained(folder)
    train = [TextExample(f"add the numbers {i}", "the city" * (i % 3 + 1), "g") for i in range(5)]
    meta = [TextExample("the runway", "is long", "a"), TextExample("the capital", "city", "b")]
    got = askllm_weights(model, tok, train, meta, num_shots=2, batch_size=3)
    asked = shots(meta, 2)
    assert [e.group for e in asked] == ["a", "b"]  # one per group first
    for i, e in enumerate(train):
        framed = causal_prompt(tok, question(e, asked))
        prefix = tok.encode(framed, add_special_tokens=False)
        logp = {}
        for name, answer in zip(("yes", "no"), answer_tokens(tok, framed), strict=True):
            with torch.no_grad():
                logits = model(input_ids=torch.tensor([prefix + answer])).logits[0]
            steps = torch.log_softmax(logits.double(), -1)
            logp[name] = sum(steps[len(prefix) + t - 1, a] for t, a in enumerate(answer))
        want = torch.sigmoid(logp["yes"] - logp["no"]).item()
        assert got[i].item() == pytest.approx(want, abs=1e-4)


def test_askllm_o_runs_on_a_local_causal_lm_and_is_refused_without_one(tmp_path):
    from bayes_dps.config import BADS_DEFAULTS, load_config
    from bayes_dps.configs import resolve
    from bayes_dps.errors import ConfigError

    sets = [*_llm_ift_stand_in(tmp_path), "methods=[askllm_o, classact]",
            "classact.base_steps=0"]  # fmt: skip
    res = _run("llm_ift", tmp_path / "ask", sets)
    for name in ("askllm_o", "classact"):
        weights = res["methods"][name]["seeds"][0]["final_group_weights"]
        assert {"clean", "noisy"} <= set(weights) and all(0 < w < 1 for w in weights.values())
    with pytest.raises(ConfigError, match="askllm_o asks a pretrained"):
        load_config(resolve("llm_ift"), ["methods=[askllm_o]"], BADS_DEFAULTS)


def test_a_language_run_piped_to_a_log_prints_its_progress_over_steps(
    tmp_path, monkeypatch, capsys
):
    """Output that is not a terminal gets progress lines over training steps (here one per
    step; a minute apart by default), with the step time and the time left."""
    from bayes_dps.training import progress

    monkeypatch.setattr(progress, "LINE_EVERY_SECONDS", 0.0)
    dict_dir = write_wordnet(tmp_path / "dict", per_domain=30)
    sets = [f"dataset.path={dict_dir}", "dataset.train_size=40", "dataset.meta_size=4",
            "dataset.val_size=2", "dataset.test_size=6", "text.vocab_size=300",
            "batch_size=8", "meta_batch_size=4", "methods=[mixing, bads]", *TINY,
            "progress=true"]  # fmt: skip
    _run("wordnet_efficient", tmp_path / "we", sets)
    err = capsys.readouterr().err.splitlines()
    for method in ("mixing", "bads"):
        lines = [line for line in err if line.startswith(f"{method} seed 0: step ")]
        assert [line.split()[4] for line in lines[:4]] == ["1/4", "2/4", "3/4", "4/4"], err
        assert "s/step, about" in lines[0] and "left" in lines[0]
        assert "; test " in lines[2] and "bleu" in lines[2]  # step 2 evaluated, shown after it
