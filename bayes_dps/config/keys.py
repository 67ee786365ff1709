"""Every config key of ``bayes-dps online`` and ``bayes-dps bads``: its type, range, default
and meaning, in one place. The config reference (docs/config.md) is generated from these trees
(``python -m bayes_dps.config.reference``), and a test keeps the two equal.
"""

from __future__ import annotations

from typing import Any

from bayes_dps.checks import (
    MAX_STEPS,
    REQUIRED,
    Bool,
    Choice,
    Either,
    Float,
    Int,
    ListOf,
    Mapping,
    Nullable,
    Seeds,
    Str,
    Struct,
)
from bayes_dps.config.schema import Key, Tree, keys_from
from bayes_dps.data.class_balance import SCHEMES
from bayes_dps.data.corruptions import OFF_DOMAIN_KINDS, PROFILES
from bayes_dps.data.registry import LOADERS, TEXT_DATASETS
from bayes_dps.errors import ConfigError
from bayes_dps.inference.bads.settings import CALLER_SETTINGS, BADSSettings
from bayes_dps.methods.bads.registry import BADS_METHODS
from bayes_dps.methods.confident_learning import FILTERS
from bayes_dps.methods.online.predictor_factory import ZERO_SHOT_KINDS
from bayes_dps.models.priors import check_prior_spec
from bayes_dps.models.registry import MODELS
from bayes_dps.selection.bayesian import BayesianSettings
from bayes_dps.selection.registry import RULES

#: upper bounds on sizes (a value beyond them is a typo, not an experiment)
MAX_EPOCHS = 100_000
MAX_BATCH = 10**6

#: run names become folder names: no path separators, no leading dot
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._+=,-]{0,119}"
NAME_WHAT = "a name of letters, digits and . _ + = , - (not starting with . or -)"
LR = Float(0, 10, low_open=True)  # learning rates: positive, finite, at most 10
WEIGHT_DECAY = Float(0, 10)
SEED = Int(0, 2**31 - 1)
EPOCHS = Int(1, MAX_EPOCHS)
BATCH = Int(1, MAX_BATCH)
MODEL_NAMES = Choice(("auto", *sorted(MODELS)))
#: Hugging Face architectures of the language scenarios (models.language)
LANGUAGE_MODELS = ("t5", "llama")
LANGUAGE_OPTIONS: dict[str, Any] = {
    "pretrained": Nullable(Str(what="a local model folder, a .gguf file or `smollm2`")),
    "d_model": Int(8, 8192),
    "d_ff": Int(8, 65_536),
    "layers": Int(1, 96),
    "heads": Int(1, 128),
    "lora_r": Nullable(Int(1, 1024)),
    "lora_alpha": Float(0, 1e4, low_open=True),
    "lora_dropout": Float(0, 1, high_open=True),
    "lora_targets": Nullable(ListOf(Str(), 1, 32)),
}
#: the options each network's constructor takes (a test keeps this equal to the signatures)
MODEL_OPTIONS: dict[str, dict[str, Any]] = {
    "mlp": {"hidden": ListOf(Int(1, 65_536), 0, 64), "dropout": Float(0, 1, high_open=True)},
    "lenet5": {},
    "resnet18": {},
    "resnet32": {"blocks": Int(1, 200)},
    "resnet18_imagenet": {"checkpoint": Nullable(Str(what="a path"))},
    "hashbag": {"buckets": Int(2, 2**24), "dim": Int(1, 4096)},
    "t5": LANGUAGE_OPTIONS,
    "llama": LANGUAGE_OPTIONS,
}
DEVICE = Str(
    pattern=r"auto|cpu|mps|cuda(:\d{1,3})?",
    what="`auto`, `cpu`, `cuda`, `cuda:N` or `mps`",
    max_len=10,
)


def check_model_options(key: str, options: dict[str, Any]) -> dict[str, Any]:
    """Options that some network accepts, each of the right type (the exact network is
    checked once the model is known; see :func:`check_options_for`)."""
    known = {name: check for spec in MODEL_OPTIONS.values() for name, check in spec.items()}
    for name, value in options.items():
        if name not in known:
            raise ConfigError(
                f"unknown option {key}.{name}; the networks take "
                + ", ".join(f"{m}: {sorted(o) or 'none'}" for m, o in MODEL_OPTIONS.items())
            )
        options[name] = known[name].check(f"{key}.{name}", value)
    return options


def check_options_for(model: str, key: str, options: dict[str, Any] | None) -> None:
    """Raise when ``options`` holds a key network ``model`` does not take."""
    if model == "auto" or not options:
        return
    extra = sorted(set(options) - set(MODEL_OPTIONS.get(model, {})))
    if extra:
        takes = sorted(MODEL_OPTIONS.get(model, {})) or "no options"
        raise ConfigError(f"{key} {extra} do not apply to model {model!r} (it takes {takes})")


def _prior(key: str, spec: dict[str, Any]) -> dict[str, Any]:
    return check_prior_spec(spec, key)


MODEL_OPTIONS_CHECK = Mapping(
    "a mapping of network options (`mlp`: `hidden`, `dropout`; `resnet32`: `blocks`; "
    "`resnet18_imagenet`: `checkpoint`; `hashbag`: `buckets`, `dim`; `t5`, `llama`: "
    "`pretrained`, `d_model`, `d_ff`, `layers`, `heads`, `lora_r`, `lora_alpha`, "
    "`lora_dropout`, `lora_targets`)",
    check_model_options,
)

DATASET: Tree = {
    "name": Key(
        Choice((*sorted(LOADERS), *TEXT_DATASETS)),
        "digits",
        "the data source (`wordnet`, `webnlg`, `instructions`: text, for `bayes-dps bads`)",
    ),
    "path": Key(
        Nullable(Str(what="a path")),
        None,
        "data root (`cifar*`, `mnist`; default `~/.cache/bayes_dps/data`), folder "
        "(`imagefolder`) or file (`npz`)",
    ),
    "download": Key(Bool(), False, "let torchvision download CIFAR/MNIST (needs network)"),
    "noise": Key(
        Float(0, 1),
        0.0,
        "symmetric label-noise rate `r`: exactly `round(r·N)` training labels flipped to "
        "another class",
    ),
    "imbalance": Key(
        Float(1, 1e6),
        1.0,
        "long-tail ratio `ρ = n_max / n_min` (`n_c = n_max·ρ^(−c/(K−1))`, Cao et al. 2019)",
    ),
    "imbalance_profile": Key(
        Choice(PROFILES), "exp", "`exp`, or `step` (first half of the classes rare)"
    ),
    "domain": Key(
        Nullable(
            Struct(
                {
                    "kind": (Choice(OFF_DOMAIN_KINDS), REQUIRED),
                    "fraction": (Float(0, 10, low_open=True), 1.0),
                }
            )
        ),
        None,
        "add off-domain points: `{kind: permute|invert|shuffle, fraction: 1.0}` "
        "(`fraction` × |train| copies)",
    ),
    "meta_per_class": Key(
        Int(0, 100_000),
        0,
        "clean points per class held out from train as the curated meta / holdout set",
    ),
    "meta_fraction": Key(
        Float(0, 0.99),
        0.0,
        "or: a stratified share of train held out (RHO-LOSS and the paper train on half: `0.5`)",
    ),
    "test_fraction": Key(
        Float(0, 1, low_open=True, high_open=True),
        0.25,
        "`digits`, `mnist5k`: stratified test share",
    ),
    "as_images": Key(Bool(), False, "digits only: `(1, 8, 8)` images instead of 64-vectors"),
    "num_classes": Key(
        Nullable(Int(1, 100_000)),
        None,
        "`imagefolder`: keep the first K classes (WebVision-100/200); `npz`: declare `k`",
    ),
    "image_size": Key(Int(8, 4096), 224, "`imagefolder` crop size"),
    "evaluate_on": Key(
        Choice(("test", "val")),
        "test",
        "the split every metric is reported on: `val` to tune settings without touching the "
        "test split (data sets with a validation split: `wordnet_glosses`)",
    ),
    "seed": Key(
        SEED,
        0,
        "seed of splits and corruptions (the same data for every method and model seed)",
    ),
    # the language scenarios (data.text_scenarios)
    "target_domain": Key(
        Nullable(Str()), None, "`wordnet`/`webnlg`: the domain to learn (efficient learning)"
    ),
    "in_domain_fraction": Key(
        Float(0, 1), 0.1, "`wordnet`/`webnlg`: share of the target domain in `D_t`"
    ),
    "domains": Key(
        Nullable(ListOf(Str(), 1, 1000)), None, "`wordnet`/`webnlg`: off-domain domains (all)"
    ),
    "train_size": Key(
        Nullable(Int(2, 10**7)),
        None,
        "examples in `D_t`: `wordnet`/`webnlg` (default 2000); `wordnet_glosses` (a stratified "
        "subsample; default all ≈ 74,700); `mnist5k` (MNIST images before off-domain ones; "
        "default all)",
    ),
    "buckets": Key(
        Int(2, 2**24),
        2**15,
        "`wordnet_glosses`: hash buckets of word n-grams (= the `hashbag` model's `buckets`)",
    ),
    "max_words": Key(Int(1, 256), 16, "`wordnet_glosses`: words kept of each gloss"),
    "off_domain": Key(
        Nullable(Choice(("verbs", "digits"))),
        None,
        "add a real second domain of the same classes to `D_t`: `wordnet_glosses`: `verbs` "
        "(verb glosses labelled with the noun class of their semantic field); `mnist5k`: "
        "`digits` (scikit-learn's digits upsampled to 28×28)",
    ),
    "off_domain_size": Key(
        Nullable(Int(1, 10**7)),
        None,
        "off-domain points added: `wordnet_glosses` verb glosses (default all mapped, ≈ 9,000); "
        "`mnist5k` digits (default all 1,797)",
    ),
    "cache": Key(
        Nullable(Str(what="a folder")),
        "~/.cache/bayes_dps/data",
        "`wordnet_glosses`: where the tokenised arrays are cached (`null`: no cache)",
    ),
    "meta_size": Key(Int(1, 10**6), 100, "`wordnet`/`webnlg`: target-domain examples in `D_m`"),
    "val_size": Key(Int(0, 10**6), 100, "`wordnet`/`webnlg`: held-out validation examples"),
    "test_size": Key(Int(1, 10**6), 300, "`wordnet`/`webnlg`: held-out test examples"),
    "sources": Key(
        Nullable(ListOf(Str(), 1, 100)),
        None,
        "`instructions`: tasks — `wordnet:define|use_in_sentence|hypernym|synonyms`, "
        "`chatterbot:<category>`, or JSON/JSONL files",
    ),
    "per_task": Key(Int(2, 10**7), 200, "`instructions`: training examples per task"),
    "test_per_task": Key(Int(1, 10**6), 20, "`instructions`: held-out test examples per task"),
    "val_per_task": Key(Int(0, 10**6), 10, "`instructions`: validation examples per task"),
    "corrupt_task": Key(
        Nullable(Str()), None, "`instructions`: the task whose answers are shuffled"
    ),
}

OPTIMIZER: Tree = {
    "name": Key(Choice(("adamw", "adam", "sgd")), "adamw", "optimiser"),
    "lr": Key(LR, 1e-3, "learning rate"),
    "weight_decay": Key(WEIGHT_DECAY, 0.01, "weight decay"),
    "momentum": Key(Float(0, 1, high_open=True), 0.9, "`sgd` momentum"),
}

#: the ``cleanlab`` baseline of both commands (``methods.confident_learning``)
CLEANLAB: Tree = {
    "folds": Key(Int(2, 100), 5, "cross-validation folds of the out-of-fold probabilities"),
    "steps": Key(
        Int(1, 10**7),
        1000,
        "minibatch steps of each fold's network (the run's model and optimiser)",
    ),
    "batch_size": Key(BATCH, 64, "batch size of the fold networks (`bayes-dps online`)"),
    "filter_by": Key(
        Choice(FILTERS), "prune_by_noise_rate", "`cleanlab.filter.find_label_issues`' rule"
    ),
}

COMMON: Tree = {
    "name": Key(
        Nullable(Str(pattern=NAME_PATTERN, what=NAME_WHAT, max_len=120)),
        None,
        "label of the run (it names the default output folder `runs/<name>-<date>-<time>`)",
        shown_default="config file name (prefixed by the data when `--set` changes them)",
    ),
    "dataset": DATASET,
    "model": Key(
        MODEL_NAMES, "auto", "network; `auto` picks from the input shape (vectors → `mlp`)"
    ),
    "model_options": Key(
        MODEL_OPTIONS_CHECK, {}, "constructor options, e.g. `{hidden: [256, 256]}`"
    ),
    "seeds": Key(Seeds(), [0], "model/selection seeds (a list, or a count `n` for `0..n-1`)"),
    "optimizer": OPTIMIZER,
    "device": Key(DEVICE, "auto", "`auto` (CUDA when available), `cpu`, `cuda`, `cuda:1`"),
    "threads": Key(
        Either((Choice(("auto",)), Int(1, 1024))),
        "auto",
        "CPU threads of PyTorch; `auto`: 1 for the small networks (`mlp`, `lenet5`) on CPU — "
        "a thread pool costs them more than it saves on a shared machine — else all cores",
    ),
    "precision": Key(
        Either((Choice(("32", "bf16-mixed", "16-mixed")), Int(32, 32))),
        "32",
        "forward passes in `32`-bit floats, `bf16-mixed` or `16-mixed` (CUDA, with a gradient "
        "scaler) autocast; Laplace factors, Cholesky and SG-MCMC updates stay float32",
    ),
    "num_workers": Key(Int(0, 64), 0, "DataLoader workers for datasets read from disk"),
    "eval_batch_size": Key(BATCH, 1024, "test-time batch size"),
    "progress": Key(
        Bool(), True, "progress over training steps (a bar in a terminal, a line a minute in a log)"
    ),
    "checkpoint": Key(Bool(), True, "checkpoints (needed for `--resume`)"),
    "step_limit": Key(
        Nullable(Int(1, MAX_STEPS)),
        None,
        "smoke tests only: stop every training loop (runs, predictors) after this many "
        "optimiser steps; the results record it",
    ),
    "sweep": Key(
        Mapping("a mapping `{dotted.key: [v1, v2, ...]}`"),
        {},
        "run the config once per point of this grid (into `OUT/k1=v1,k2=v2/`, with "
        "`sweep.json` and `sweep.png`); `--sweep KEY=V1,V2` adds to it",
    ),
    "logging": {
        "csv": Key(
            Bool(), True, "write `runs/<method>/seed<k>.csv` with the per-evaluation metrics"
        ),
        "tensorboard": Key(
            Bool(),
            False,
            "also log them to TensorBoard under `tensorboard/` (needs `.[tensorboard]`)",
        ),
    },
}

ONLINE: Tree = {
    **COMMON,
    "methods": Key(
        ListOf(Choice(tuple(sorted(RULES))), 1, 50, unique=True),
        ["uniform"],
        "selection rules to compare (table below)",
    ),
    "epochs": Key(EPOCHS, 100, "epochs of `⌊n / n_B⌋` selection steps each"),
    "targets": Key(
        ListOf(Float(0, 1, low_open=True), 0, 100),
        [],
        "test accuracies for `epochs_to_target` / `seconds_to_target`",
    ),
    "n_B": Key(BATCH, 320, "big-batch size `n_B`"),
    "n_b": Key(BATCH, 32, "selected points per step `n_b` (`n_b ≤ n_B`)"),
    "profile": Key(
        Bool(),
        False,
        "time the phases of a step (scoring forward, selection maths, training step, posterior "
        "update; synchronises the device) and record ms/step per phase in `results.json`",
    ),
    "max_steps_per_epoch": Key(
        Nullable(Int(1, MAX_STEPS)), None, "cut epochs short (smoke tests only)"
    ),
    "bayesian": keys_from(BayesianSettings),
    "zero_shot": {
        "name": Key(
            Choice(ZERO_SHOT_KINDS),
            "openclip",
            "`f̃` for `bayesian` and `rho_loss_zs`: `openclip`, `holdout` (the holdout model; "
            '"Proposed†"), `cached`',
        ),
        "arch": Key(Str(), "RN50", "open_clip architecture"),
        "pretrained": Key(
            Nullable(Str()), "openai", "open_clip weights tag (downloads; needs network)"
        ),
        "checkpoint": Key(
            Nullable(Str(what="a path")), None, "open_clip weights from a local file instead"
        ),
        "temperature": Key(
            Float(0, 100, low_open=True), 0.01, "`τ` of `softmax(cos/τ)` (paper Fig. 4c)"
        ),
        "classnames": Key(
            Nullable(ListOf(Str(), 1, 100_000)),
            None,
            "class names for the prompts (default: the dataset's)",
        ),
        "cache": Key(Bool(), True, "precompute the logits once per training index"),
        "cache_path": Key(
            Nullable(Str(what="a path")), None, "logit table file (`cached` reads it)"
        ),
    },
    "holdout": {
        "model": Key(MODEL_NAMES, "auto", "network of the irreducible-loss model"),
        "model_options": Key(
            Nullable(MODEL_OPTIONS_CHECK), None, "its options (default: the run's)"
        ),
        "epochs": Key(Int(1, 100_000), 50, "its training epochs on the meta split"),
        "batch_size": Key(BATCH, 32, "its batch size"),
        "lr": Key(LR, 1e-3, "its AdamW learning rate"),
        "weight_decay": Key(WEIGHT_DECAY, 0.01, "its weight decay"),
        "seed": Key(SEED, 0, "its seed"),
        "cache": Key(Bool(), True, "precompute its logits once per training index"),
    },
    "predictor_check": {
        "enabled": Key(
            Bool(),
            True,
            "record the model's accuracy on the curated set every epoch beside the holdout "
            "predictor's cross-fitted accuracy, and test after each epoch of the first "
            "`window` whether the model is clearly the better judge of labels",
        ),
        "z": Key(Float(0, 10), 2.0, "the one-sided z-test's threshold"),
        "window": Key(
            Float(0, 1, low_open=True), 0.25, "the share of the epochs, from the start, tested"
        ),
        "fallback": Key(
            Choice(("uniform", "none")),
            "uniform",
            "once the model is the better judge: select uniformly from the next epoch "
            "(`uniform`) or only warn (`none`)",
        ),
    },
    "cleanlab": CLEANLAB,
    "svp": {
        "model": Key(MODEL_NAMES, "mlp", "SVP's proxy network, trained on `D_t`"),
        "model_options": Key(Nullable(MODEL_OPTIONS_CHECK), {"hidden": [64]}, "its options"),
        "epochs": Key(Int(1, 100_000), 5, "its training epochs"),
        "batch_size": Key(BATCH, 64, "its batch size"),
        "lr": Key(LR, 1e-3, "its AdamW learning rate"),
        "weight_decay": Key(WEIGHT_DECAY, 0.01, "its weight decay"),
        "seed": Key(SEED, 0, "its seed"),
    },
    "cache_dir": Key(
        Nullable(Str(what="a path")),
        None,
        "where holdout models and logit tables are kept (reused across runs)",
        shown_default="`OUT/cache`",
    ),
}

TEXT: Tree = {
    "tokenizer": Key(
        Choice(("auto", "bpe", "gpt2", "model")),
        "auto",
        "`bpe` (trained on `D_t`), `gpt2`, `model` (the pretrained model's); `auto`: model's "
        "if pretrained, else bpe",
    ),
    "vocab_size": Key(Int(200, 500_000), 4000, "size of a trained `bpe` vocabulary"),
    "max_source": Key(Int(4, 8192), 64, "`seq2seq`: source tokens kept"),
    "max_target": Key(
        Int(4, 8192), 48, "`seq2seq`: target tokens kept (and decoded); `causal_lm`: tokens decoded"
    ),
    "max_length": Key(Int(8, 32_768), 128, "`causal_lm`: prompt + response tokens kept"),
    "reduction": Key(
        Choice(("mean", "sum")),
        "mean",
        "token reduction of `log p(z_i | θ)`: `mean` per token (the configs' choice: under `sum` "
        "a long target is pushed towards `w = 0` for its length alone) or `sum` (the exact "
        "sequence likelihood)",
    ),
}

BADS: Tree = {
    **COMMON,
    "task": Key(
        Choice(("classification", "seq2seq", "causal_lm")),
        "classification",
        "`classification`, `seq2seq` (data-to-text, BLEU) or `causal_lm` (instruction tuning, "
        "next-token accuracy)",
    ),
    "model": Key(
        Choice(("auto", *sorted(MODELS), *LANGUAGE_MODELS)),
        "auto",
        "network; `t5` (`seq2seq`) and `llama` (`causal_lm`) for text",
    ),
    "text": TEXT,
    "methods": Key(
        ListOf(Choice(BADS_METHODS), 1, 50, unique=True),
        ["mixing", "bads"],
        "methods to compare: " + ", ".join(f"`{m}`" for m in BADS_METHODS),
    ),
    "steps": Key(Int(1, MAX_STEPS), 2000, "training steps"),
    "eval_every": Key(Int(1, MAX_STEPS), 100, "evaluate (and checkpoint) every this many steps"),
    "batch_size": Key(BATCH, 64, "`|B_t|`"),
    "meta_batch_size": Key(BATCH, 32, "`|B_m|`"),
    "metric": Key(
        Choice(("auto", "acc", "balanced_acc", "bleu", "token_acc")),
        "auto",
        "test metric; `auto`: `acc`, `bleu` (seq2seq) or `token_acc` (causal LM)",
    ),
    "bads": {
        **keys_from(BADSSettings, exclude=CALLER_SETTINGS),
        "prior": Key(
            Mapping("a prior spec `{name, ...parameters}`", _prior),
            {"name": "truncated_normal", "beta": 0.5, "sigma": 1.0},
            "`p(w_i)`: `{name: truncated_normal, beta, sigma}`, `{name: beta, a, b}` or "
            "`{name: logit_normal, loc, scale}` (every parameter required)",
        ),
        "s_avg": Key(Int(1, MAX_STEPS), 500, "running-average window `S_avg` (last steps)"),
        "select_fraction": Key(
            Float(0, 1, low_open=True),
            0.5,
            "size of the exported subset (and of `random_select`, `contrastive`)",
        ),
        "groups": Key(
            Choice(("auto", "noise", "imbalance", "domain")),
            "auto",
            "ground-truth groups of the weight plots",
        ),
        "chain_normaliser_weight": Key(
            Float(0, 1), 0.5, "`γ` of the method `bads_chain` (chosen by the digits γ sweep)"
        ),
        "weight_net_hidden": Key(Int(1, 65_536), 64, "weight network `g_φ` width"),
        "weight_net_warmup": Key(Int(0, MAX_STEPS), 0, "`θ`-only steps before `φ` moves"),
    },
    "contrastive": {
        "base_steps": Key(Int(1, MAX_STEPS), 1000, "CDS base model steps on `D_t`"),
        "finetune_steps": Key(Int(1, MAX_STEPS), 200, "CDS fine-tuning steps on `D_m`"),
        "finetune_lr": Key(Nullable(LR), None, "fine-tuning learning rate", "`optimizer.lr`"),
    },
    "classact": {
        "base_steps": Key(
            Int(0, MAX_STEPS), 500, "steps of the base model on `D_t` (0: as built / pretrained)"
        ),
        "l2": Key(Float(0, 1e6), 1e-3, "L2 penalty of the curated-vs-uncurated classifier"),
        "max_iter": Key(Int(1, 100_000), 200, "L-BFGS iterations of that classifier"),
        "scale": Key(
            Choice(("probability", "mean_one")),
            "probability",
            "loss weights: `probability`, `P(curated | x)` (the paper's); `mean_one`, the same "
            "divided by its mean over `D_t`, so `D_t`'s loss keeps mixing's scale and only the "
            "relative weights differ",
        ),
    },
    "askllm": {
        "shots": Key(Int(0, 64), 3, "curated examples describing the target task in the question"),
        "max_length": Key(Int(16, 32_768), 512, "tokens of a question kept (from the right)"),
    },
    "blo": {"inner_lr": Key(LR, 0.1, "step size of the look-ahead SGD step")},
    "mwn": {
        "inner_lr": Key(LR, 0.1, "Meta-Weight-Net: step size `α` of the look-ahead SGD step"),
        "meta_lr": Key(LR, 1e-3, "Adam step size of the weight network `V(ℓ; φ)`"),
        "hidden": Key(Int(1, 65_536), 100, "hidden units of `V` (the paper's 100)"),
    },
    "cleanlab": CLEANLAB,
    "class_balance": {
        "scheme": Key(
            Choice(SCHEMES),
            "inverse",
            "`class_balanced`: `inverse` (`w_c ∝ 1/n_c`) or `effective` "
            "(`w_c ∝ (1−β)/(1−β^n_c)`, Cui et al. 2019)",
        ),
        "beta": Key(Float(0, 1, high_open=True), 0.999, "`β` of the `effective` scheme"),
    },
}
