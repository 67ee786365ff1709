"""A Hugging Face sequence classifier as the package's feature + head network.

Online Bayesian selection needs the last-layer features ``h_θ(x)`` and the linear head
(Deng et al. Eq. 13–15). :class:`HFClassifier` wraps an ``AutoModelForSequenceClassification``
whose head (``score`` for GPT-2 / Llama / Qwen, or a named ``nn.Linear``) maps the pooled last
hidden state to the logits: ``features`` runs the base model and pools (the last attended token,
as those decoders do, or the mean over attended tokens), ``forward_with_features`` gives both.
Called with Hugging Face's keywords (``input_ids``, ``attention_mask``, ``labels``) it returns
a ``SequenceClassifierOutput``, so ``Trainer.evaluate`` works unchanged; called with the
package's padded ids (``PAD`` where masked) it returns the logits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bayes_dps.data.text import PAD
from bayes_dps.errors import ConfigError
from bayes_dps.models.base import FeatureHeadModel

POOLING = ("last", "mean")


class HFClassifier(FeatureHeadModel):
    """``hf_model`` (a sequence classifier) with ``features`` / ``head`` (module docstring)."""

    def __init__(self, hf_model: nn.Module, head: str = "score", pooling: str = "last") -> None:
        super().__init__()
        linear = getattr(hf_model, head, None)
        if not isinstance(linear, nn.Linear):
            raise ConfigError(
                f"{type(hf_model).__name__}.{head} is {type(linear).__name__}, not an nn.Linear "
                "head on the pooled hidden state: pass head= the name of the model's linear "
                "classifier (GPT-2, Llama, Qwen: 'score')"
            )
        if pooling not in POOLING:
            raise ConfigError(f"pooling={pooling!r}; choose from {POOLING}")
        self.hf_model, self.head_name, self.pooling = hf_model, head, pooling

    @property
    def head(self) -> nn.Linear:
        """The model's own linear classifier (not registered twice: one copy in checkpoints)."""
        return getattr(self.hf_model, self.head_name)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        mask = x != PAD
        out = self.hf_model.base_model(input_ids=x.clamp_min(0), attention_mask=mask.long())
        h = out.last_hidden_state
        if self.pooling == "mean":
            m = mask[..., None].to(h.dtype)
            return (h * m).sum(1) / m.sum(1).clamp_min(1)
        last = (torch.arange(x.shape[1], device=x.device) * mask).argmax(-1)
        return h[torch.arange(len(x), device=x.device), last]

    def forward(
        self,
        x: torch.Tensor | None = None,
        *,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **_: object,
    ):
        if x is not None:
            return self.head(self.features(x))
        if attention_mask is not None:
            input_ids = input_ids.masked_fill(attention_mask == 0, PAD)
        logits = self.head(self.features(input_ids))
        from transformers.modeling_outputs import SequenceClassifierOutput

        loss = None if labels is None else F.cross_entropy(logits.float(), labels)
        return SequenceClassifierOutput(loss=loss, logits=logits)
