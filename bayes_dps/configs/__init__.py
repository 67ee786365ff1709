"""The configs that ship with the package (``experiments/configs`` in the repository links
here): usable by name, ``bayes-dps online --config digits_noisy``; ``bayes-dps configs`` lists
them with the command each is for and the first line of its description."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from bayes_dps.errors import ConfigError

#: top-level keys that only ``bayes-dps bads`` configs have
_BADS_KEYS = ("bads", "steps", "contrastive", "classact", "askllm", "blo")


def bundled() -> dict[str, Path]:
    """``{name: path}`` of every bundled YAML config, sorted by name."""
    folder = resources.files(__name__)
    return {
        Path(str(f)).stem: Path(str(f))
        for f in sorted(folder.iterdir(), key=lambda f: f.name)
        if f.name.endswith(".yaml")
    }


def describe(path: Path) -> tuple[str, str]:
    """``(command, first comment line)`` of a config file."""
    text = path.read_text()
    command = (
        "bads"
        if any(line.split(":")[0] in _BADS_KEYS for line in text.splitlines())
        else ("online")
    )
    first = next((line[1:].strip() for line in text.splitlines() if line.startswith("#")), "")
    return command, first


def resolve(name_or_path: str | Path) -> Path:
    """A config file path: an existing file as given, else a bundled config by name."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    known = bundled()
    stem = path.name.removesuffix(".yaml")
    if stem in known and path.parent == Path("."):
        return known[stem]
    raise ConfigError(
        f"config file {path} does not exist and is not a bundled config "
        f"(bundled: {', '.join(known)}; `bayes-dps configs` describes them)"
    )
