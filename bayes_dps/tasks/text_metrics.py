"""Test metrics of the language scenarios.

* **BLEU** (data-to-text): batched greedy decoding — of the source for an encoder–decoder, of
  the continuation of the chat-framed prompt for a decoder-only model — then ``sacrebleu``'s
  corpus BLEU against the references (0–100).
* **Next-token accuracy** (instruction tuning; the paper's checkpoint-selection metric): the
  share of counted target tokens (response tokens) that the model's argmax predicts, teacher
  forced.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from bayes_dps.data.batches import BatchStream
from bayes_dps.data.text import (
    IGNORE,
    PAD,
    TextDataset,
    TextExample,
    causal_prompt,
    left_padded,
)
from bayes_dps.models.modes import eval_mode


def corpus_bleu(hypotheses: list[str], references: list[str]) -> float:
    """sacrebleu's corpus BLEU (one reference per hypothesis)."""
    import sacrebleu

    return float(sacrebleu.corpus_bleu(hypotheses, [references]).score)


@torch.no_grad()
def greedy_decode(
    model: nn.Module,
    tokenizer: Any,
    data: TextDataset,
    *,
    max_new_tokens: int,
    batch_size: int = 64,
    device: torch.device | str = "cpu",
) -> list[str]:
    """Greedy (argmax, one beam) decoding of every source in ``data`` (encoder–decoder)."""
    out: list[str] = []
    with eval_mode(model):
        for x, _, _ in BatchStream.sequential(data, batch_size, device=device):
            mask = x != PAD
            ids = model.generate(
                input_ids=x.clamp_min(0), attention_mask=mask.long(),
                max_new_tokens=max_new_tokens, do_sample=False, num_beams=1,
                pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
            )  # fmt: skip
            out += tokenizer.batch_decode(ids, skip_special_tokens=True)
    return [" ".join(h.split()) for h in out]


@torch.no_grad()
def greedy_continue(
    model: nn.Module,
    tokenizer: Any,
    examples: list[TextExample],
    *,
    max_new_tokens: int,
    max_length: int,
    batch_size: int = 16,
    device: torch.device | str = "cpu",
) -> list[str]:
    """Greedy decoding of a decoder-only model's answer to each example's prompt, framed as
    in training (``causal_prompt``, cut from the left to ``max_length`` tokens): the prompts
    are left-padded so that every answer starts in the same column, and only the new tokens
    are decoded."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    out: list[str] = []
    with eval_mode(model):
        for start in range(0, len(examples), batch_size):
            prompts = [
                tokenizer.encode(causal_prompt(tokenizer, e.prompt), add_special_tokens=False)[
                    -max_length:
                ]
                for e in examples[start : start + batch_size]
            ]
            x, mask = left_padded(prompts, pad)
            width = x.shape[1]
            ids = model.generate(
                input_ids=x.to(device), attention_mask=mask.to(device),
                max_new_tokens=max_new_tokens, do_sample=False, num_beams=1,
                pad_token_id=pad, eos_token_id=tokenizer.eos_token_id,
            )  # fmt: skip
            out += tokenizer.batch_decode(ids[:, width:], skip_special_tokens=True)
    return [" ".join(h.split()) for h in out]


@torch.no_grad()
def token_accuracy(
    model: nn.Module, data: TextDataset, *, causal: bool, batch_size: int = 32, device="cpu"
) -> float:
    """Share of counted target tokens predicted by the argmax (teacher forcing)."""
    correct = torch.zeros((), dtype=torch.long)
    total = torch.zeros((), dtype=torch.long)
    with eval_mode(model):
        for x, y, _ in BatchStream.sequential(data, batch_size, device=device):
            mask = (x != PAD).long()
            if causal:
                logits = model(input_ids=x.clamp_min(0), attention_mask=mask).logits[:, :-1]
                target = y[:, 1:]
            else:
                labels = y.masked_fill(y == IGNORE, -100)
                logits = model(input_ids=x.clamp_min(0), attention_mask=mask, labels=labels).logits
                target = y
            counted = target != IGNORE
            correct += ((logits.argmax(-1) == target) & counted).sum().cpu()
            total += counted.sum().cpu()
    return float(correct) / max(int(total), 1)
