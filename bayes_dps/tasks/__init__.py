"""What an experiment needs to know about its kind of data, behind one small interface — so that
BADS, its baselines, the runners and the diagnostics are the same code for classifiers and for
language models:

    task.train, task.meta, task.test   datasets the batch streams serve as (x, y, idx)
    task.likelihood                    log p(z | θ) (models.likelihoods)
    task.build_model(device)           a fresh network (seeded by the caller)
    task.evaluate(model, device)       {"acc": …} / {"bleu": …, "token_acc": …} on the test set
    task.group_kinds(), group_masks()  ground-truth groups of D_t for the weight plots

:class:`ClassificationTask` wraps the package's classifiers; :class:`LanguageTask` tokenises a
text scenario and builds a Hugging Face model. The metrics live here too: accuracy and
balanced accuracy (``metrics``), BLEU and next-token accuracy (``text_metrics``).
"""

from __future__ import annotations

from typing import Any

from bayes_dps.tasks.classification import ClassificationTask
from bayes_dps.tasks.groups import group_masks, group_means
from bayes_dps.tasks.language import LanguageTask
from bayes_dps.tasks.metrics import evaluate

#: metrics by task
METRICS = {
    "classification": ("acc", "balanced_acc"),
    "seq2seq": ("bleu", "token_acc"),
    "causal_lm": ("token_acc", "bleu"),
}


def build_task(cfg: dict[str, Any], data) -> ClassificationTask | LanguageTask:
    """The task of ``cfg["task"]`` on the loaded data (``DataSplits`` or raw text splits)."""
    if cfg.get("task", "classification") == "classification":
        return ClassificationTask(cfg, data)
    return LanguageTask(cfg, data)


__all__ = [
    "METRICS",
    "ClassificationTask",
    "LanguageTask",
    "build_task",
    "evaluate",
    "group_masks",
    "group_means",
]
