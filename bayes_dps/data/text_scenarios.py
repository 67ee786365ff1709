"""The language scenarios of BADS (Xu et al. 2024), built from text examples with their ground
truth recorded.

* **Efficient learning** (scenario 3; WebNLG in the paper): ``D_t`` is a large mixture over
  domains in which the target domain is a small share; ``D_m`` a few curated examples of the
  target domain; test (and validation) held-out target-domain examples. A good method finds the
  target-domain points of ``D_t`` (annotation ``in_domain``).
* **Instruction fine-tuning** (scenario 4): ``D_t`` a mixture of instruction tasks of which one
  is deliberately corrupted — its answers shuffled among its examples, so each prompt gets
  another prompt's answer (annotation ``noisy``); ``D_m`` and test hold clean examples of every
  task. A good method down-weights the corrupted task.

All randomness comes from ``seed``; the splits are disjoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bayes_dps.data.text import TextExample
from bayes_dps.errors import ConfigError, DataError


@dataclass
class TextSplits:
    """Raw text splits of a scenario and the training set's ground truth."""

    train: list[TextExample]
    meta: list[TextExample]
    test: list[TextExample]
    val: list[TextExample]
    name: str
    flags: dict[str, np.ndarray] = field(default_factory=dict)  # per train index

    def sizes(self) -> dict[str, int]:
        return {k: len(getattr(self, k)) for k in ("train", "meta", "val", "test")}


def _by_group(examples: list[TextExample]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for i, e in enumerate(examples):
        out.setdefault(e.group, []).append(i)
    return out


def efficient_learning(
    examples: list[TextExample],
    *,
    target: str,
    train_size: int,
    meta_size: int,
    test_size: int,
    val_size: int,
    in_domain_fraction: float,
    domains: list[str] | None = None,
    seed: int = 0,
    name: str = "efficient",
) -> TextSplits:
    """See the module docstring; ``domains`` limits the off-domain part of ``D_t``."""
    groups = _by_group(examples)
    if target not in groups:
        raise ConfigError(
            f"dataset.target_domain {target!r} is not a domain of the data; some are: "
            + ", ".join(sorted(groups)[:12])
        )
    rng = np.random.default_rng(seed)
    own = rng.permutation(groups[target])
    n_in = round(in_domain_fraction * train_size)
    need = meta_size + test_size + val_size + n_in
    if len(own) < need:
        raise DataError(
            f"domain {target!r} has {len(own)} examples; meta {meta_size} + test {test_size} + "
            f"val {val_size} + in-domain training {n_in} need {need}: lower the sizes"
        )
    meta = own[:meta_size]
    test = own[meta_size : meta_size + test_size]
    val = own[meta_size + test_size : meta_size + test_size + val_size]
    train_in = own[meta_size + test_size + val_size : need]
    others = [g for g in (domains or sorted(groups)) if g != target and g in groups]
    if not others:
        raise ConfigError(
            "efficient learning needs other domains than the target in dataset.domains"
        )
    pool = np.concatenate([groups[g] for g in others])
    n_off = train_size - n_in
    if len(pool) < n_off:
        raise DataError(f"only {len(pool)} off-domain examples for {n_off} requested")
    train_off = rng.choice(pool, size=n_off, replace=False)
    order = rng.permutation(np.concatenate([train_in, train_off]))
    train = [examples[i] for i in order]
    in_domain = np.array([e.group == target for e in train])
    pick = lambda idx: [examples[i] for i in idx]  # noqa: E731
    return TextSplits(train, pick(meta), pick(test), pick(val), name, {"in_domain": in_domain})


def shuffle_answers(examples: list[TextExample], rng: np.random.Generator) -> list[TextExample]:
    """The same prompts with their answers permuted so that none keeps its own (a derangement
    over distinct answers where possible)."""
    n = len(examples)
    if n < 2:
        raise DataError("a corrupted task needs at least 2 examples to shuffle their answers")
    for _ in range(100):
        perm = rng.permutation(n)
        if all(examples[i].response != examples[p].response for i, p in enumerate(perm)):
            break
    return [
        TextExample(e.prompt, examples[p].response, e.group)
        for e, p in zip(examples, perm, strict=True)
    ]


def instruction_mixture(
    examples: list[TextExample],
    *,
    per_task: int,
    meta_per_task: int,
    test_per_task: int,
    val_per_task: int,
    corrupt_task: str | None,
    seed: int = 0,
    name: str = "ift",
) -> TextSplits:
    """See the module docstring. Each task contributes ``per_task`` training examples (fewer if
    it has fewer), ``meta_per_task`` to ``D_m`` and ``test_per_task``/``val_per_task`` to the
    held-out sets, all disjoint; ``corrupt_task``'s training answers are shuffled."""
    groups = _by_group(examples)
    if corrupt_task is not None and corrupt_task not in groups:
        raise ConfigError(
            f"dataset.corrupt_task {corrupt_task!r} is not a task of the mixture; tasks: "
            + ", ".join(sorted(groups))
        )
    rng = np.random.default_rng(seed)
    train, meta, test, val, noisy = [], [], [], [], []
    held = meta_per_task + test_per_task + val_per_task
    for task in sorted(groups):
        idx = rng.permutation(groups[task])
        if len(idx) < held + 2:
            raise DataError(
                f"task {task!r} has {len(idx)} examples, too few to hold out {held} and train"
            )

        def pick(sl: slice, idx: np.ndarray = idx) -> list[TextExample]:
            return [examples[i] for i in idx[sl]]

        meta += pick(slice(0, meta_per_task))
        test += pick(slice(meta_per_task, meta_per_task + test_per_task))
        val += pick(slice(meta_per_task + test_per_task, held))
        own = pick(slice(held, held + per_task))
        if task == corrupt_task:
            own = shuffle_answers(own, rng)
        train += own
        noisy += [task == corrupt_task] * len(own)
    order = rng.permutation(len(train))
    train = [train[i] for i in order]
    flags = {"noisy": np.asarray(noisy, dtype=bool)[order]}
    return TextSplits(train, meta, test, val, name, flags)
