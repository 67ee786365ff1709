"""Loading a config: defaults ← YAML file ← ``--set key=value`` overrides, then one validation
of the whole config (types, ranges, sizes, and the rules that tie keys together) before
anything is allocated. Every problem is one :class:`ConfigError` line naming the key (or file
and line) and the fix.
"""

from __future__ import annotations

import copy
import difflib
import re
from pathlib import Path
from typing import Any

import yaml

from bayes_dps.checks import show
from bayes_dps.config import keys
from bayes_dps.config.schema import Tree, defaults, set_dotted, validate
from bayes_dps.data.registry import TEXT_DATASETS
from bayes_dps.errors import ConfigError
from bayes_dps.input_files import check_input_file
from bayes_dps.tasks import METRICS as TASK_METRICS

COMMANDS: dict[str, Tree] = {"online": keys.ONLINE, "bads": keys.BADS}
ONLINE_DEFAULTS: dict[str, Any] = defaults(keys.ONLINE)
BADS_DEFAULTS: dict[str, Any] = defaults(keys.BADS)

_KEY = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


#: bounds of a config's YAML: its file's size, how deep it nests, how many nodes it holds
MAX_CONFIG_BYTES = 1 << 20
MAX_YAML_DEPTH = 32
MAX_YAML_NODES = 100_000


class YAMLRefused(yaml.MarkedYAMLError):
    """Well-formed YAML that a config may not be: nested too deep, too large, a key twice."""


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, but ``1e-3`` is a float (YAML 1.2), not the string "1e-3"; a
    mapping may not give a key twice (PyYAML keeps the last one silently); and nesting and
    size are bounded (PyYAML's composer recurses once per level)."""

    _depth = 0
    _nodes = 0

    def compose_node(self, parent, index):
        mark = self.peek_event().start_mark
        self._nodes += 1
        if self._depth >= MAX_YAML_DEPTH or self._nodes > MAX_YAML_NODES:
            what = (
                f"nested more than {MAX_YAML_DEPTH} levels deep"
                if self._depth >= MAX_YAML_DEPTH
                else f"more than {MAX_YAML_NODES} values"
            )
            raise YAMLRefused(None, None, f"{what}; a config is a shallow mapping", mark)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        first: dict[Any, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue  # a complex key is refused by the constructor itself
            key = key_node.value
            if key in first:
                raise YAMLRefused(
                    None, None,
                    f"the key {key[:60]!r} is given twice (lines {first[key]} and "
                    f"{key_node.start_mark.line + 1}); keep one",
                    key_node.start_mark,
                )  # fmt: skip
            first[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def yaml_load(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # a SafeLoader subclass: no arbitrary objects


def yaml_problem(err: yaml.YAMLError) -> str:
    """One line: what is wrong and where (``line L, column C``) in a YAML text."""
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return f"{where}{problem}"


def parse_set(item: str) -> tuple[str, Any]:
    """``"a.b=value"`` → ``("a.b", <value parsed as YAML>)``; malformed input raises."""
    if not isinstance(item, str) or "=" not in item:
        raise ConfigError(f"--set expects key=value, got {item!r} (example: --set epochs=20)")
    key, raw = item.split("=", 1)
    key = key.strip()
    if not _KEY.match(key):
        raise ConfigError(
            f"--set key {key!r} is not a dotted name (example: --set dataset.noise=0.2)"
        )
    try:
        value = yaml_load(raw) if raw.strip() else None
    except yaml.YAMLError as err:
        raise ConfigError(
            f"--set {key}: cannot parse {show(raw)} as YAML ({yaml_problem(err)}); quote "
            "strings that hold ':', '{' or '['"
        ) from err
    return key, value


MAX_GRID = 1000


#: the file endings a config given by path (``--config`` or ``base:``) may have
CONFIG_SUFFIXES = (".yaml", ".yml")


def _config_text(path: Path) -> str:
    """The text of a config file: a regular file within :data:`MAX_CONFIG_BYTES`, UTF-8.
    Errors name the file, never its content."""
    check_input_file(path, "config file", "give a .yaml file", error=ConfigError)
    size = path.stat().st_size
    if size > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"config file {path} is {size:,} bytes, more than a config's "
            f"{MAX_CONFIG_BYTES:,}; is it a config?"
        )
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"config file {path} is not UTF-8 text (byte {err.start}: {err.reason})"
        ) from err
    except OSError as err:
        raise ConfigError(f"config file {path} cannot be read ({err.strerror})") from err


def _known_top_keys() -> set[str]:
    return {"base", *(k for tree in COMMANDS.values() for k in tree)}


def _like_a_config_key(key: Any) -> bool:
    """A config key, or a near miss of one (``optimiser``): the file is meant as a config,
    so its unknown keys may be named in errors (with the closest valid key)."""
    known = _known_top_keys()
    return isinstance(key, str) and (
        key in known or bool(difflib.get_close_matches(key, known, n=1, cutoff=0.8))
    )


def _base_path(path: Path, base: Any) -> Path:
    """The file a ``base:`` entry names: a bundled config by name, or a ``.yaml`` file (a path
    relative to the config that names it). Nothing else is opened."""
    from bayes_dps import configs as bundled

    if not isinstance(base, str) or not base.strip():
        raise ConfigError(f"config file {path}: `base` must name a config, got {show(base)}")
    if base.endswith(CONFIG_SUFFIXES):
        return path.parent / base
    known = bundled.bundled()
    if base in known:
        return known[base]
    close = difflib.get_close_matches(base, list(known), n=1, cutoff=0.6)
    raise ConfigError(
        f"config file {path}: `base: {show(base)}` names neither a bundled config nor a .yaml "
        "file"
        + (f"; did you mean {close[0]}?" if close else "")
        + " (`bayes-dps configs` lists the bundled ones)"
    )


def read_config_file(path: str | Path, _depth: int = 0) -> dict[str, Any]:
    """The mapping a YAML config file holds (errors name the file and the line, never the
    file's content). A ``base:`` entry names another config (a bundled config's name, or a
    ``.yaml`` file relative to this one) whose settings this one starts from and overrides,
    key by key. A mapping none of whose keys is a config key (or a near miss of one) is
    refused as not a config, without naming its keys."""
    path = Path(path)
    text = _config_text(path)
    try:
        data = yaml_load(text)
    except YAMLRefused as err:
        raise ConfigError(f"config file {path}: {yaml_problem(err)}") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {path} is not valid YAML: {yaml_problem(err)}") from err
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping, got {type(data).__name__}")
    if data and not any(_like_a_config_key(k) for k in data):
        raise ConfigError(
            f"config file {path} is not a bayes-dps config: none of its {len(data)} top-level "
            "keys is a config key (`bayes-dps configs` lists configs to start from)"
        )
    if "base" not in data:
        return data
    base = data.pop("base")
    if _depth >= 5:
        raise ConfigError(f"config file {path}: `base` chains more than 5 files deep (a cycle?)")
    return _deep_merge(read_config_file(_base_path(path, base), _depth + 1), data)


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in top.items():
        out[k] = (
            _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
        )
    return out


def _schema(command: str | dict[str, Any]) -> tuple[str, Tree]:
    if isinstance(command, dict):  # the ONLINE_DEFAULTS / BADS_DEFAULTS dicts of older code
        command = "bads" if "bads" in command else "online"
    if command not in COMMANDS:
        raise ConfigError(f"unknown command {command!r}; choose from {sorted(COMMANDS)}")
    return command, COMMANDS[command]


def _data_label(cfg: dict[str, Any]) -> str:
    """The data a config describes, in a word (before validation: any value may be there)."""
    ds = cfg.get("dataset") if isinstance(cfg.get("dataset"), dict) else {}
    path = ds.get("path")
    word = Path(path).stem if isinstance(path, str) and path else str(ds.get("name"))
    return re.sub(r"[^A-Za-z0-9._+=,-]", "_", word).lstrip("._-") or "data"


def load_config(
    path: str | Path | None,
    overrides: list[str] | tuple[str, ...] = (),
    command: str | dict[str, Any] = "online",
) -> dict[str, Any]:
    """Defaults ← YAML file ← ``--set`` overrides; then :func:`check_config`.

    ``name`` defaults to the file's stem; when ``--set`` changes the data (``dataset.name`` or
    ``dataset.path``), the data's label is put in front, so a run on your own ``.npz`` with a
    bundled config is not named after the bundled data."""
    command, tree = _schema(command)
    cfg = defaults(tree)
    if path is not None:
        data = read_config_file(path)
        _check_command(command, [str(k) for k in data], _shown(path))
        for k, v in data.items():  # a section given as a mapping sets its keys one by one
            set_dotted(cfg, str(k), v, tree)
        if cfg.get("name") is None:
            cfg["name"] = Path(path).stem
    before = _data_label(cfg)
    for item in overrides:
        key, value = parse_set(item)
        _check_command(command, [key])
        set_dotted(cfg, key, value, tree)
    if isinstance(cfg.get("name"), str) and _data_label(cfg) != before:
        cfg["name"] = f"{_data_label(cfg)}-{cfg['name']}"
    return check_config(cfg, command)


def _shown(path: str | Path) -> str:
    """A config as the user would name it: a bundled config by its name, else its path."""
    from bayes_dps import configs as bundled

    path = Path(path)
    return path.stem if bundled.bundled().get(path.stem) == path else str(path)


def _check_command(command: str, keys_set: list[str], config: str | None = None) -> None:
    """A key that only the other command's configs have means the config (or ``--set``) was
    given to the wrong subcommand: say which one it belongs to."""
    for key in keys_set:
        top = key.split(".")[0]
        if top in COMMANDS[command]:
            continue
        other = next((c for c, tree in COMMANDS.items() if top in tree), None)
        if other is None:
            continue  # unknown to both: the schema's error names the closest key
        if config is None:
            raise ConfigError(
                f"--set {key}: {top!r} is a key of `bayes-dps {other}` configs, not of "
                f"`bayes-dps {command}`; run `bayes-dps {other}` or drop it"
            )
        raise ConfigError(
            f"{config} is a `bayes-dps {other}` config (it sets {top!r}, which "
            f"`bayes-dps {command}` configs do not have); run "
            f"`bayes-dps {other} --config {config}`"
        )


def check_config(cfg: dict[str, Any], command: str | dict[str, Any] = "online") -> dict[str, Any]:
    """Validate a whole config of ``command`` (every key's type and range, then the rules that
    tie keys together); returns it normalised (``seeds: 3`` → ``[0, 1, 2]``)."""
    command, tree = _schema(command)
    cfg = validate(copy.deepcopy(cfg), tree)
    cfg["precision"] = str(cfg["precision"])
    if cfg["precision"] == "16-mixed" and not cfg["device"].startswith(("cuda", "auto")):
        raise ConfigError(
            f"precision=16-mixed needs a CUDA device (device is {cfg['device']}); use "
            "bf16-mixed on CPU"
        )
    keys.check_options_for(cfg["model"], "model_options", cfg["model_options"])
    if command == "online":
        _check_online(cfg)
    else:
        _check_bads(cfg)
    cfg["sweep"] = _check_sweep(cfg, command, tree)
    return cfg


def _flatten_sweep(sweep: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in sweep.items():
        if isinstance(v, dict):
            out.update(_flatten_sweep(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _check_sweep(cfg: dict[str, Any], command: str, tree: Tree) -> dict[str, list[Any]]:
    """Every swept key exists, every value list is non-empty, and every point of the grid is a
    valid config (checked now, before any point runs)."""
    from bayes_dps.config.schema import locate

    sweep = _flatten_sweep(cfg["sweep"])
    if not sweep:
        return {}
    size = 1
    for key, values in sweep.items():
        if key.split(".")[0] in ("sweep", "seeds", "name"):
            raise ConfigError(f"sweep over {key!r} is not possible; sweep over settings")
        locate(tree, key)  # unknown keys name the closest valid one
        if not isinstance(values, list) or not 1 <= len(values) <= 100:
            raise ConfigError(f"sweep.{key} must be a list of 1 to 100 values, got {show(values)}")
        size *= len(values)
        if size > MAX_GRID:
            raise ConfigError(f"the sweep grid has more than {MAX_GRID} points; sweep fewer values")
    from bayes_dps.runs.sweep import grid

    for point in grid(sweep):
        c = copy.deepcopy(cfg)
        c["sweep"] = {}
        for key, value in point.items():
            set_dotted(c, key, value, tree)
        try:
            check_config(c, command)
        except ConfigError as err:
            raise ConfigError(f"sweep point {point}: {err}") from None
    return sweep


def sweep_points(cfg: dict[str, Any], command: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """``(point, config)`` for every point of ``cfg["sweep"]`` (each config without a sweep)."""
    from bayes_dps.runs.sweep import grid

    tree = COMMANDS[command]
    points = []
    for point in grid(cfg["sweep"]):
        c = copy.deepcopy(cfg)
        c["sweep"] = {}
        for key, value in point.items():
            set_dotted(c, key, value, tree)
        points.append((point, check_config(c, command)))
    return points


def _check_online(cfg: dict[str, Any]) -> None:
    if cfg["dataset"]["name"] in TEXT_DATASETS:
        raise ConfigError(
            f"dataset {cfg['dataset']['name']!r} is text: online selection is for classifiers; "
            "run it with `bayes-dps bads` (task: seq2seq or causal_lm)"
        )
    if cfg["n_b"] > cfg["n_B"]:
        raise ConfigError(
            f"n_b={cfg['n_b']} exceeds n_B={cfg['n_B']}: the selected batch is drawn from the "
            "big batch, so n_b must be <= n_B (the papers use n_b/n_B = 0.1)"
        )
    for part in ("holdout", "svp"):
        model = cfg[part]["model"]
        model = cfg["model"] if model == "auto" else model
        options = cfg[part]["model_options"]
        keys.check_options_for(model, f"{part}.model_options", options)
    zs = cfg["zero_shot"]
    uses_zero_shot = any(m in ("bayesian", "rho_loss_zs") for m in cfg["methods"])
    if uses_zero_shot and zs["name"] == "cached" and not zs["cache_path"]:
        raise ConfigError("zero_shot.name=cached needs zero_shot.cache_path (a .pt logit table)")


#: the data, models and metrics each task goes with
TASK_DATA = {
    "classification": None,
    "seq2seq": ("wordnet", "webnlg"),
    "causal_lm": ("instructions", "wordnet", "webnlg"),  # data-to-text as a chat turn
}
TASK_MODEL = {"seq2seq": "t5", "causal_lm": "llama"}


def _check_task(cfg: dict[str, Any]) -> None:
    task, name, model = cfg["task"], cfg["dataset"]["name"], cfg["model"]
    if cfg["metric"] == "auto":
        cfg["metric"] = TASK_METRICS[task][0]
    if cfg["metric"] not in TASK_METRICS[task]:
        raise ConfigError(
            f"metric {cfg['metric']!r} does not go with task {task}; use one of "
            f"{TASK_METRICS[task]}"
        )
    if task == "classification":
        if name in TEXT_DATASETS or model in keys.LANGUAGE_MODELS:
            raise ConfigError(
                f"dataset {name!r} / model {model!r} are for language: set task: seq2seq "
                "(wordnet, webnlg; model t5) or causal_lm (instructions, wordnet, webnlg; "
                "model llama)"
            )
        return
    if name not in TASK_DATA[task]:
        raise ConfigError(f"task {task} takes dataset.name from {TASK_DATA[task]}, got {name!r}")
    if model == "auto":
        cfg["model"] = TASK_MODEL[task]
    elif model != TASK_MODEL[task]:
        raise ConfigError(f"task {task} needs model {TASK_MODEL[task]}, got {model!r}")


def _check_bads(cfg: dict[str, Any]) -> None:
    _check_task(cfg)
    if cfg["precision"] == "16-mixed":
        raise ConfigError(
            "precision=16-mixed is for optimiser steps (a gradient scaler skips steps whose "
            "gradients overflow); SG-MCMC cannot skip steps — use bf16-mixed or 32 for BADS"
        )
    if cfg["steps"] % cfg["eval_every"]:
        raise ConfigError(
            f"steps={cfg['steps']} must be a multiple of eval_every={cfg['eval_every']}"
        )
    b = cfg["bads"]
    if b["kernel"] == "gibbs":
        if b["prior"]["name"] != "truncated_normal":
            raise ConfigError(
                f"bads.kernel=gibbs draws w from its exact truncated-normal conditional, so it "
                f"needs bads.prior.name=truncated_normal (got {b['prior']['name']}); use "
                "sgld, psgld or sghmc for other priors"
            )
        if "bads_weightnet" in cfg["methods"]:
            raise ConfigError(
                "bads_weightnet samples the weight network's φ by SG-MCMC; bads.kernel=gibbs "
                "applies to per-instance w only — use sgld, psgld or sghmc with it"
            )
    if "askllm_o" in cfg["methods"] and (
        cfg.get("task") != "causal_lm" or not cfg["model_options"].get("pretrained")
    ):
        raise ConfigError(
            "askllm_o asks a pretrained instruction-tuned causal LM about each example: it needs "
            "task: causal_lm and model_options.pretrained (e.g. smollm2); drop it from methods "
            "for other tasks"
        )
