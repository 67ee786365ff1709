"""The ``askllm_o`` baseline: the instruction-tuned model itself is asked whether each training
example is useful for the target task; its probability of "yes" weights the example's loss
(the AskLLM-O baseline of Xu et al. 2024, after Sachdeva et al. 2024's Ask-LLM, with the
paper's own model as the rater).

1. the **target task** is described by ``askllm.shots`` curated examples of ``D_m`` (one per
   group first, so every task or domain of the curated set is shown);
2. every ``z_i = (prompt, response) ∈ D_t`` is framed, with the model's chat template, as

       Here are examples of the target task: ### <shot 1> ### … ###
       Is the following example useful for learning the target task? ### <z_i> ###
       Answer yes or no.

   and put to the base model (LoRA adapters disabled), the assistant's turn begun;
3. ``w_i = p(yes) / (p(yes) + p(no))``, each the probability of the whole answer (``" yes"``,
   ``" no"``; without the space when the template ends with one or a newline) after the
   question — ``σ(log p(yes | q) − log p(no | q))``, scored once, before training;
4. a fresh network is trained on ``D_t ∪ D_m`` with the loss of each ``D_t`` point weighted by
   ``w_i`` (``D_m``'s by 1), with the config's optimiser and steps (as ``mixing``).

Only a pretrained causal LM can be asked (``task: causal_lm`` with
``model_options.pretrained``); a model trained from scratch has no answer to give. The scoring
(two forward passes per example, one per answer) is extra cost on top of the final run's
``steps``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from bayes_dps.data.text import TextExample, causal_prompt, left_padded
from bayes_dps.errors import ConfigError
from bayes_dps.models.modes import base_mode

QUESTION = "Is the following example useful for learning the target task?"


def shots(meta: Sequence[TextExample], k: int) -> list[TextExample]:
    """``k`` curated examples, one per group in turn (step 1)."""
    by_group: dict[str, list[TextExample]] = {}
    for e in meta:
        by_group.setdefault(e.group, []).append(e)
    out: list[TextExample] = []
    while len(out) < min(k, len(meta)):
        for group in by_group.values():
            if group and len(out) < k:
                out.append(group.pop(0))
    return out


def _text(e: TextExample) -> str:
    return f"{e.prompt}\n{e.response}"


def question(example: TextExample, examples: Sequence[TextExample]) -> str:
    """The user turn of step 2."""
    shown = "\n###\n".join(_text(s) for s in examples)
    return (
        f"Here are examples of the target task:\n###\n{shown}\n###\n{QUESTION}\n###\n"
        f"{_text(example)}\n###\nAnswer yes or no."
    )


def answer_tokens(tokenizer, framed: str) -> tuple[list[int], list[int]]:
    """The token ids of "yes" and "no" as they would follow ``framed``."""
    space = "" if framed.endswith((" ", "\n")) else " "
    yes, no = (tokenizer.encode(space + w, add_special_tokens=False) for w in ("yes", "no"))
    if not yes or not no or yes == no:
        raise ConfigError(
            "askllm_o: the tokenizer does not tell 'yes' from 'no'; use the model's own "
            "tokenizer (text.tokenizer=model)"
        )
    return yes, no


def answer_log_probs(
    model: nn.Module, prefixes: list[list[int]], answer: list[int], device
) -> torch.Tensor:
    """``log p(answer | prefix)`` for every prefix (one left-padded batch: every answer ends
    in the last column, positions counted from each sequence's first real token)."""
    seqs = [p + answer for p in prefixes]
    x, mask = left_padded(seqs)
    position = (mask.cumsum(1) - 1).clamp_min(0)
    logits = model(
        input_ids=x.to(device), attention_mask=mask.to(device), position_ids=position.to(device)
    ).logits.float()
    k = len(answer)
    logp = torch.log_softmax(logits[:, -k - 1 : -1], dim=-1)  # the positions that predict it
    target = torch.tensor(answer, device=logp.device).expand(len(seqs), k)
    return logp.gather(2, target[..., None])[..., 0].sum(1).cpu()


@torch.no_grad()
def askllm_weights(
    model: nn.Module,
    tokenizer,
    train: Sequence[TextExample],
    meta: Sequence[TextExample],
    *,
    num_shots: int = 3,
    max_length: int = 512,
    batch_size: int = 8,
) -> torch.Tensor:
    """``w_i`` (steps 1–3) for every example of ``train``: ``p(yes) / (p(yes) + p(no))`` of
    ``model`` (its base, adapters disabled) asked about each one."""
    examples = shots(meta, num_shots)
    framed = [causal_prompt(tokenizer, question(e, examples)) for e in train]
    yes, no = answer_tokens(tokenizer, framed[0])
    device = next(model.parameters()).device
    out = torch.empty(len(train))
    with base_mode(model):
        for start in range(0, len(framed), batch_size):
            prefixes = [tokenizer.encode(t, add_special_tokens=False)[-max_length:]
                        for t in framed[start : start + batch_size]]  # fmt: skip
            gap = answer_log_probs(model, prefixes, yes, device) - answer_log_probs(
                model, prefixes, no, device
            )
            out[start : start + len(prefixes)] = torch.sigmoid(gap)
    return out
