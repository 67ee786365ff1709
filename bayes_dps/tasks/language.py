"""The language task: a text scenario (``data.text_scenarios``), tokenised, with a Hugging
Face model (``models.language``) — a seq2seq (``task: seq2seq``, BLEU) or a causal LM
(``task: causal_lm``, next-token accuracy)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from bayes_dps.errors import ConfigError
from bayes_dps.models.likelihoods import build_likelihood
from bayes_dps.tasks.groups import group_masks

#: the group kinds reported for each scenario (the first is the headline, plotted over steps)
TEXT_GROUPS = {"efficient": ("domain", "groups"), "instructions": ("noise", "groups")}


class LanguageTask:
    """A text scenario, tokenised, with a Hugging Face model (module docstring)."""

    def __init__(self, cfg: dict[str, Any], raw) -> None:
        from bayes_dps.data.text import encode_causal, encode_seq2seq

        self.cfg, self.raw, self.kind = cfg, raw, cfg["task"]
        self.tokenizer = self._tokenizer()
        t = cfg["text"]
        if self.kind == "seq2seq":

            def encode(examples, flags=None):
                return encode_seq2seq(examples, self.tokenizer, t["max_source"], t["max_target"],
                                      flags)  # fmt: skip
        else:

            def encode(examples, flags=None):
                return encode_causal(examples, self.tokenizer, t["max_length"], flags)

        self.train = encode(raw.train, raw.flags)
        self.meta, self.test, self.val = encode(raw.meta), encode(raw.test), encode(raw.val)
        self.likelihood = build_likelihood(self.kind, t["reduction"])

    def _tokenizer(self) -> Any:
        from bayes_dps.data.tokenizers import gpt2_tokenizer, model_tokenizer, train_bpe
        from bayes_dps.models.language import resolve_pretrained

        choice = self.cfg["text"]["tokenizer"]
        pretrained = self.cfg["model_options"].get("pretrained")
        if choice == "auto":
            choice = "model" if pretrained else "bpe"
        if choice == "model":
            if not pretrained:
                raise ConfigError("text.tokenizer=model needs model_options.pretrained")
            path, gguf = resolve_pretrained(pretrained)
            return model_tokenizer(path, gguf)
        if choice == "gpt2":
            return gpt2_tokenizer()
        texts = [f"{e.prompt} {e.response}" for e in self.raw.train + self.raw.meta]
        return train_bpe(texts, self.cfg["text"]["vocab_size"])

    def build_model(self, device: torch.device) -> nn.Module:
        from bayes_dps.models.language import apply_lora, build_causal_lm, build_seq2seq

        options = self.cfg["model_options"]
        build = build_seq2seq if self.kind == "seq2seq" else build_causal_lm
        model = build(self.tokenizer, options)
        if options.get("lora_r"):
            model = apply_lora(model, options)
        return model.to(device)

    def evaluate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        from bayes_dps.tasks.text_metrics import (
            corpus_bleu,
            greedy_continue,
            greedy_decode,
            token_accuracy,
        )

        size = self.cfg["eval_batch_size"]
        causal = self.kind == "causal_lm"
        out = {"token_acc": token_accuracy(model, self.test, causal=causal, batch_size=size,
                                           device=device)}  # fmt: skip
        if len(self.val):
            out["val_token_acc"] = token_accuracy(
                model, self.val, causal=causal, batch_size=size, device=device
            )
        t = self.cfg["text"]
        if not causal:
            hyps = greedy_decode(
                model, self.tokenizer, self.test, max_new_tokens=t["max_target"],
                batch_size=size, device=device,
            )  # fmt: skip
        elif self.cfg["metric"] == "bleu":  # decoding costs a forward pass per new token
            hyps = greedy_continue(
                model, self.tokenizer, self.test.examples, max_new_tokens=t["max_target"],
                max_length=t["max_length"], batch_size=size, device=device,
            )  # fmt: skip
        else:
            return out
        out["bleu"] = corpus_bleu(hyps, [e.response for e in self.test.examples])
        return out

    def group_kinds(self) -> tuple[str, ...]:
        kind = self.cfg["bads"]["groups"]
        if kind != "auto":
            return (kind,)
        return TEXT_GROUPS["instructions" if self.raw.name == "instructions" else "efficient"]

    def group_masks(self) -> dict[str, np.ndarray]:
        return group_masks(self.train, self.group_kinds())

    def embeddings(self, model: nn.Module) -> torch.Tensor:
        """Mean-pooled base-model states of every training example, standardised per feature
        over ``D_t``, for the weight network (:func:`~bayes_dps.models.language.standardised`)."""
        from bayes_dps.models.language import standardised

        return standardised(self.frozen_features(model, self.train))

    def frozen_features(self, model: nn.Module, data) -> torch.Tensor:
        """Mean-pooled states of ``model`` for every example of ``data`` (``classact``'s
        features)."""
        from bayes_dps.models.language import mean_pooled_embeddings

        return mean_pooled_embeddings(model, data.inputs, seq2seq=self.kind == "seq2seq")

    def describe(self) -> str:
        return (
            f"{self.raw.name} {self.raw.sizes()}, {len(set(self.train.annotations['group']))} "
            f"groups, tokenizer of {len(self.tokenizer)} tokens"
        )
