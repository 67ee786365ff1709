"""The likelihood as a component: per-example ``log p(z_i | θ)`` of a model on a batch.

One small interface is all the BADS model, its sampler and every baseline know of the data:

    out = likelihood(model, x, y)        # LogLik: values (B,), features, logits
    e   = likelihood.embed(out, y, idx)  # what the weight network g_φ sees (detached)

Three implementations, all on batches ``(x, y)`` of tensors (so the package's seeded batch
streams, checkpoints and distributed sharding work unchanged):

* :class:`Classification` — ``log softmax(f_θ(x))[y]`` for a network with
  ``forward_with_features`` (the package's classifiers).
* :class:`Seq2Seq` — an encoder–decoder (Hugging Face ``AutoModelForSeq2SeqLM``, T5):
  ``x`` the source token ids, ``y`` the target ids; ``log p(y | x) = Σ_t log p(y_t | y_<t, x)``
  by teacher forcing.
* :class:`CausalLM` — a decoder-only LM (``AutoModelForCausalLM``, Llama/Qwen/SmolLM): ``x`` the
  prompt followed by the response, ``y`` the same ids with every prompt and padding position
  set to ``IGNORE`` (−100, Hugging Face's convention), so only response tokens count:
  ``log p(response | prompt) = Σ_t log p(x_t | x_<t)`` over response positions ``t``.

Token batches are padded: input positions with ``PAD`` (−1, never a token id) are masked out
of attention, target positions with ``IGNORE`` do not count.

**Token reduction.** ``reduction="sum"`` is the sequence's log-likelihood — the exact
Bayesian quantity. ``"mean"`` divides by the number of counted tokens (a length-normalised,
per-token log-likelihood). The choice changes the scale of ``w_i``'s conditional: with the
truncated-normal prior its mean is ``β + σ² ρ_w ℓ_i``, so under ``sum`` a long target (many
tokens, large ``|ℓ_i|``) is pushed towards ``w = 0`` for its length alone; ``mean`` compares
examples per token. The language configs use ``mean`` for that reason.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from bayes_dps.data.text import IGNORE, PAD  # padding of token inputs / uncounted targets
from bayes_dps.errors import ConfigError, DataError

REDUCTIONS = ("sum", "mean")


def upcast(t: torch.Tensor) -> torch.Tensor:
    """Half-precision tensors (mixed-precision forward passes) to float32; float32 and
    float64 as they are."""
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


@dataclass
class LogLik:
    """``values``: ``(B,)`` log-likelihoods (differentiable); ``features``: ``(B, d)`` last-layer
    features when the model has them; ``logits``: the classifier's logits (classification)."""

    values: torch.Tensor
    features: torch.Tensor | None = None
    logits: torch.Tensor | None = None


class Likelihood:
    """Base class: ``__call__(model, x, y, params=None) -> LogLik`` (``params``: evaluate the
    module with these tensors instead of its own, via ``torch.func.functional_call``)."""

    name = "likelihood"

    def __call__(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, params: dict | None = None
    ) -> LogLik:  # pragma: no cover - abstract
        raise NotImplementedError

    def embed(self, out: LogLik, y: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """The weight network's input ``e_i`` for each point (detached)."""
        raise NotImplementedError  # pragma: no cover

    def embed_dim(self, model: nn.Module) -> int:
        raise NotImplementedError  # pragma: no cover

    def concat(self, a: torch.Tensor, b: torch.Tensor, target: bool = False) -> torch.Tensor:
        """Two batches' inputs (or targets) stacked for one forward pass."""
        return torch.cat([a, b])


def _call(model: nn.Module, params: dict | None, *args, **kwargs):
    if params is None:
        return model(*args, **kwargs)
    return functional_call(model, params, args, kwargs)


class Classification(Likelihood):
    """``log p(y | x, θ) = log softmax(f_θ(x))[y]``; the weight network embeds
    ``[h_θ(x), onehot(y), −ℓ]`` (detached features, the label, the loss as in Meta-Weight-Net,
    so that ``g_φ`` can tell fitted from unfitted points)."""

    name = "classification"

    def __call__(self, model, x, y, params=None) -> LogLik:
        if not hasattr(model, "forward_with_features"):
            logits, feats = _call(model, params, x), None
        elif params is None:
            logits, feats = model.forward_with_features(x)
        else:
            logits, feats = _functional_with_features(model, params, x)
        return LogLik(-F.cross_entropy(upcast(logits), y, reduction="none"), feats, logits)

    def embed(self, out: LogLik, y: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        if out.features is None:
            raise ConfigError("the weight network needs a model with forward_with_features")
        k = out.logits.shape[1]
        onehot = F.one_hot(y, k).to(out.features.dtype)
        return torch.cat([out.features.detach(), onehot, -out.values.detach()[:, None]], dim=1)

    def embed_dim(self, model: nn.Module) -> int:
        return model.feature_dim + model.num_classes + 1


def _functional_with_features(model: nn.Module, params: dict, x: torch.Tensor):
    """``forward_with_features`` with ``params`` in place of the module's own tensors."""

    class _Bound(nn.Module):
        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return self.inner.forward_with_features(x)

    prefixed = {f"inner.{k}": v for k, v in params.items()}
    return functional_call(_Bound(model), prefixed, (x,))


class _TokenLikelihood(Likelihood):
    """Shared by the sequence likelihoods: padding, token reduction, cached embeddings."""

    def __init__(self, reduction: str = "mean", embeddings: torch.Tensor | None = None) -> None:
        if reduction not in REDUCTIONS:
            raise ConfigError(
                f"likelihood reduction must be one of {REDUCTIONS}, got {reduction!r}"
            )
        self.reduction = reduction
        #: per-example embeddings of the frozen base model (by dataset index), for g_φ
        self.embeddings = embeddings

    def reduce(self, token_logp: torch.Tensor, counted: torch.Tensor) -> torch.Tensor:
        """``(B, T)`` token log-probabilities → ``(B,)`` over the ``counted`` positions."""
        total = (token_logp * counted).sum(1)
        if self.reduction == "sum":
            return total
        return total / counted.sum(1).clamp_min(1)

    def concat(self, a: torch.Tensor, b: torch.Tensor, target: bool = False) -> torch.Tensor:
        fill = IGNORE if target else PAD
        width = max(a.shape[1], b.shape[1])
        pad = lambda t: F.pad(t, (0, width - t.shape[1]), value=fill)  # noqa: E731
        return torch.cat([pad(a), pad(b)])

    def embed(self, out: LogLik, y: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        return self.embed_cached(idx, out.values)

    def embed_cached(self, idx: torch.Tensor, ell: torch.Tensor) -> torch.Tensor:
        """``[e_i, −ℓ_i]`` from the cached embedding and a log-likelihood ``ℓ_i`` (no forward
        pass: the weight network can re-weigh every point it has seen)."""
        if self.embeddings is None:
            raise ConfigError(
                "the weight network on text needs per-example embeddings of the base model "
                "(computed once and cached: LanguageTask.embeddings in bayes_dps.tasks)"
            )
        if self.embeddings.device != ell.device:  # moved once, not at every step
            self.embeddings = self.embeddings.to(ell.device)
        e = self.embeddings[idx]
        return torch.cat([e, -ell.detach()[:, None].to(e.dtype)], dim=1)

    def embed_dim(self, model: nn.Module) -> int:
        if self.embeddings is None:
            raise ConfigError("no per-example embeddings were given to the likelihood")
        return self.embeddings.shape[1] + 1


def _check_tokens(x: torch.Tensor, y: torch.Tensor, what: str) -> None:
    if x.dim() != 2 or y.dim() != 2:
        raise DataError(
            f"{what} batches are (B, T) token ids, got inputs {tuple(x.shape)} and targets "
            f"{tuple(y.shape)}"
        )


class Seq2Seq(_TokenLikelihood):
    """Teacher-forced target log-likelihood of an encoder–decoder: ``x`` source ids (``PAD``
    padded), ``y`` target ids (``IGNORE`` padded). The decoder input is the target shifted
    right by the model itself (Hugging Face's ``labels=`` handling)."""

    name = "seq2seq"

    def __call__(self, model, x, y, params=None) -> LogLik:
        _check_tokens(x, y, "seq2seq")
        mask = x != PAD
        labels = y.masked_fill(y == IGNORE, -100)
        out = _call(
            model, params, input_ids=x.clamp_min(0), attention_mask=mask.long(), labels=labels
        )
        logp = torch.log_softmax(upcast(out.logits), dim=-1)
        counted = (y != IGNORE).to(logp.dtype)
        token = logp.gather(-1, y.clamp_min(0)[..., None])[..., 0]
        return LogLik(self.reduce(token, counted))


class CausalLM(_TokenLikelihood):
    """Response log-likelihood of a decoder-only LM: ``x`` prompt + response ids (``PAD``
    padded), ``y`` the same ids with prompt and padding positions ``IGNORE`` — the prompt is
    context only. Position ``t`` of the logits predicts token ``t + 1``.

    On the CPU, logits are asked only from the batch's first counted position on (Hugging
    Face's ``logits_to_keep``, where the model takes it): the vocabulary projection of the
    prompt positions before it — most of a data-to-text row — is never computed. On an
    accelerator the position would have to be read back (a host sync per step), so every
    position's logits are computed there."""

    name = "causal_lm"

    def __call__(self, model, x, y, params=None) -> LogLik:
        _check_tokens(x, y, "causal LM")
        mask = x != PAD
        kwargs = {"input_ids": x.clamp_min(0), "attention_mask": mask.long()}
        # column j of the logits predicts token j + 1; the first needed is the first counted
        first = 0
        if y.device.type == "cpu" and _keeps(model):
            first = int((y[:, 1:] != IGNORE).any(0).to(torch.int8).argmax())
        if first > 0:
            kwargs["logits_to_keep"] = x.shape[1] - first
        out = _call(model, params, **kwargs)
        logp = torch.log_softmax(upcast(out.logits[:, :-1]), dim=-1)
        target = y[:, first + 1 :]
        counted = (target != IGNORE).to(logp.dtype)
        token = logp.gather(-1, target.clamp_min(0)[..., None])[..., 0]
        return LogLik(self.reduce(token, counted))


def _keeps(model: nn.Module) -> bool:
    """Whether the (LoRA-wrapped) model's forward takes ``logits_to_keep``."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return _forward_keeps(type(base))


@functools.cache
def _forward_keeps(cls: type) -> bool:
    """Read once per model class, not at every step."""
    return "logits_to_keep" in inspect.signature(cls.forward).parameters


LIKELIHOODS = {"classification": Classification, "seq2seq": Seq2Seq, "causal_lm": CausalLM}


def build_likelihood(task: str, reduction: str = "mean", **kwargs) -> Likelihood:
    """``classification`` | ``seq2seq`` | ``causal_lm`` (the last two with a token
    ``reduction``)."""
    if task not in LIKELIHOODS:
        raise ConfigError(f"unknown task {task!r}; choose from {sorted(LIKELIHOODS)}")
    if task == "classification":
        return Classification()
    return LIKELIHOODS[task](reduction=reduction, **kwargs)
