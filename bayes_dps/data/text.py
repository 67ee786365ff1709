"""Text examples and their tokenised, index-carrying datasets (the language scenarios).

A :class:`TextExample` is a ``prompt`` (the source of data-to-text, the instruction of
instruction tuning), a ``response`` (the target text) and a ``group`` (a domain such as a
WordNet lexicographer file or a WebNLG category, or a task name). Loaders return lists of
them; a scenario (``data.text_scenarios``) splits and corrupts them, recording the ground
truth; a tokenizer then turns each split into a :class:`TextDataset` — tensors the package's
batch streams serve as ``(x, y, idx)`` like any other data:

* ``seq2seq``: ``x`` the source token ids (padded with ``PAD``), ``y`` the target ids
  (padded with ``IGNORE``);
* ``causal_lm``: ``x`` the prompt followed by the response, ``y`` the same ids with every
  prompt and padding position ``IGNORE`` (only response tokens count).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch.utils.data import Dataset

from bayes_dps.data.dataset import per_index_annotations
from bayes_dps.errors import DataError

#: padding of token inputs (masked out of attention) and of token targets (not counted)
PAD, IGNORE = -1, -100


@dataclass(frozen=True)
class TextExample:
    prompt: str
    response: str
    group: str


#: group kinds of text data: annotation flag, name when False, name when True
TEXT_GROUP_KINDS = {"noise": ("noisy", "clean", "noisy"), "domain": ("in_domain", "off_domain",
                                                                    "in_domain")}  # fmt: skip


class TextDataset(Dataset):
    """Tokenised text examples; items are ``(x, y, index)`` token-id tensors.

    Args:
        inputs, targets: ``(N, T_x)`` and ``(N, T_y)`` int64 tensors, padded with ``PAD`` and
            ``IGNORE``.
        examples: the raw examples, in the same order (kept for decoding, BLEU references and
            inspection).
        annotations: per-index arrays: ``group`` (the domain or task), ``noisy`` (a corrupted
            answer), ``in_domain`` (the target domain of efficient learning); missing flags are
            all False.
        aligned: ``y`` holds ``x``'s positions (a causal LM's rows), so both are cut to the
            same width (:meth:`padded_widths`).
    """

    num_classes = None
    classes: ClassVar[list[str]] = []
    transform = None
    eval_transform = None

    def __init__(
        self,
        inputs: torch.Tensor,
        targets: torch.Tensor,
        examples: Sequence[TextExample],
        annotations: dict[str, np.ndarray] | None = None,
        *,
        aligned: bool = False,
    ) -> None:
        if aligned and inputs.shape != targets.shape:
            raise DataError(
                f"aligned (causal) text rows need inputs and targets of one shape, got "
                f"{tuple(inputs.shape)} and {tuple(targets.shape)}"
            )
        if len(inputs) != len(targets) or len(inputs) != len(examples):
            raise DataError(
                f"text dataset: {len(inputs)} inputs, {len(targets)} targets, "
                f"{len(examples)} examples"
            )
        self.inputs, self.targets, self.examples = inputs, targets, list(examples)
        self.aligned = aligned
        n = len(self.examples)
        self.annotations = per_index_annotations(
            annotations,
            n,
            {
                "group": np.array([e.group for e in self.examples], dtype=object),
                "noisy": np.zeros(n, dtype=bool),
                "in_domain": np.zeros(n, dtype=bool),
            },
        )

    def __len__(self) -> int:
        return len(self.examples)

    def padded_widths(self) -> tuple[np.ndarray, np.ndarray]:
        """Per row, the width of ``x`` and of ``y`` up to their last non-padding token (rows are
        padded on the right): a batch needs only its widest row's columns, so
        :class:`~bayes_dps.data.batches.BatchStream` cuts the columns that are padding in every
        row of the batch (a causal batch of four 64-token rows in a 96-wide dataset is 64 wide)."""
        wx, wy = row_widths(self.inputs, PAD), row_widths(self.targets, IGNORE)
        if self.aligned:
            wx = wy = np.maximum(wx, wy)
        return wx, wy

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        return self.inputs[index], self.targets[index], int(index)

    tensor_backed = True

    @property
    def is_noisy(self) -> np.ndarray:
        return self.annotations["noisy"].astype(bool)

    def group_masks(self, kind: str) -> dict[str, np.ndarray]:
        """``noise`` (clean / noisy), ``domain`` (in_domain / off_domain) or ``groups`` (one
        mask per domain or task name)."""
        if kind == "groups":
            groups = self.annotations["group"]
            return {str(g): groups == g for g in sorted(set(groups.tolist()))}
        if kind not in TEXT_GROUP_KINDS:
            raise DataError(f"text data have group kinds noise, domain and groups, not {kind!r}")
        flag, off_name, on_name = TEXT_GROUP_KINDS[kind]
        mask = self.annotations[flag].astype(bool)
        return {off_name: ~mask, on_name: mask}

    def subset(self, indices: Sequence[int] | np.ndarray) -> TextDataset:
        idx = np.asarray(indices, dtype=np.int64)
        t = torch.as_tensor(idx)
        return TextDataset(
            self.inputs[t], self.targets[t], [self.examples[i] for i in idx],
            {k: v[idx] for k, v in self.annotations.items()}, aligned=self.aligned,
        )  # fmt: skip

    def concat(self, other: TextDataset) -> TextDataset:
        width_x = max(self.inputs.shape[1], other.inputs.shape[1])
        width_y = max(self.targets.shape[1], other.targets.shape[1])
        return TextDataset(
            torch.cat([pad_to(self.inputs, width_x, PAD), pad_to(other.inputs, width_x, PAD)]),
            torch.cat([pad_to(self.targets, width_y, IGNORE),
                       pad_to(other.targets, width_y, IGNORE)]),
            self.examples + other.examples,
            {k: np.concatenate([self.annotations[k], other.annotations[k]])
             for k in self.annotations},
            aligned=self.aligned and other.aligned,
        )  # fmt: skip

    def for_eval(self) -> TextDataset:
        return self


def row_widths(t: torch.Tensor, pad: int) -> np.ndarray:
    """Per row of a right-padded (host) tensor, one past the last position that is not ``pad``
    (at least 1): the columns the row needs."""
    kept = (t != pad).numpy()
    last = t.shape[1] - np.argmax(kept[:, ::-1], axis=1)
    return np.where(kept.any(1), last, 1).astype(np.int64)


def pad_to(t: torch.Tensor, width: int, value: int) -> torch.Tensor:
    return torch.nn.functional.pad(t, (0, width - t.shape[1]), value=value)


def _stack(rows: list[list[int]], value: int) -> torch.Tensor:
    width = max(1, max((len(r) for r in rows), default=1))
    out = torch.full((len(rows), width), value, dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.as_tensor(r, dtype=torch.long)
    return out


def left_padded(rows: list[list[int]], value: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ids, attention_mask)`` of token rows padded on the left with ``value``, so that every
    row ends in the last column (where a decoder-only model's next token is read)."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), value, dtype=torch.long)
    mask = torch.zeros(len(rows), width, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, width - len(r) :] = torch.as_tensor(r, dtype=torch.long)
        mask[i, width - len(r) :] = 1
    return ids, mask


def encode_seq2seq(
    examples: Sequence[TextExample],
    tokenizer: Any,
    max_source: int,
    max_target: int,
    annotations: dict[str, np.ndarray] | None = None,
) -> TextDataset:
    """Source ids → ``x``, target ids (ending with the end-of-sequence token) → ``y``."""
    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    xs = [tokenizer.encode(e.prompt, add_special_tokens=False)[:max_source] for e in examples]
    ys = [
        tokenizer.encode(e.response, add_special_tokens=False)[: max_target - len(eos)] + eos
        for e in examples
    ]
    return TextDataset(_stack(xs, PAD), _stack(ys, IGNORE), examples, annotations)


def causal_prompt(tokenizer: Any, prompt: str) -> str:
    """The prompt as the model's chat template frames it (a generation prompt for the
    assistant), or ``"<prompt>\\n"`` for tokenizers without a template."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
        )
    return prompt + "\n"


def encode_causal(
    examples: Sequence[TextExample],
    tokenizer: Any,
    max_length: int,
    annotations: dict[str, np.ndarray] | None = None,
) -> TextDataset:
    """Prompt + response ids → ``x``; ``y`` the same with the prompt ``IGNORE``d. The prompt is
    cut from the left when too long, so that the response (the part that counts) fits."""
    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    xs, ys = [], []
    for e in examples:
        prompt = tokenizer.encode(causal_prompt(tokenizer, e.prompt), add_special_tokens=False)
        response = tokenizer.encode(e.response, add_special_tokens=False) + eos
        response = response[: max(1, max_length // 2)]
        prompt = prompt[-(max_length - len(response)) :] if max_length > len(response) else []
        xs.append(prompt + response)
        ys.append([IGNORE] * len(prompt) + response)
    return TextDataset(_stack(xs, PAD), _stack(ys, IGNORE), examples, annotations, aligned=True)
