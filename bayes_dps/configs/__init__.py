"""The configs that ship with the package (``experiments/configs`` in the repository links
here): usable by name, ``bayes-dps online --config digits_noisy``; ``bayes-dps configs`` lists
them with the command each is for and the first line of its description."""

from __future__ import annotations

import difflib
import re
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


#: the end of a sentence: a full stop before a capital letter (or the end), not an abbreviation
_SENTENCE_END = re.compile(
    r"(?<!\bal)(?<!\be\.g)(?<!\bi\.e)(?<!\bvs)(?<!\bFig)(?<!\bEq)\.(?=\s+[A-Z(]|$)"
)


def describe(path: Path) -> tuple[str, str]:
    """``(command, first sentence of the config's opening comment)`` of a config file (the
    comment's lines joined, so a sentence that wraps is not cut mid-word)."""
    text = path.read_text()
    lines = text.splitlines()
    command = "bads" if any(line.split(":")[0] in _BADS_KEYS for line in lines) else "online"
    start = next((i for i, line in enumerate(lines) if line.startswith("#")), len(lines))
    block = []
    for line in lines[start:]:
        if not line.startswith("#") or not line[1:].strip() or line.startswith("#  "):
            break  # the prose ends at a blank or indented (example) comment line
        block.append(line[1:].strip())
    joined = " ".join(block)
    end = _SENTENCE_END.search(joined)
    return command, joined[: end.start() + 1] if end else joined


def resolve(name_or_path: str | Path) -> Path:
    """A config file path: an existing path as given, else a bundled config by name."""
    path = Path(name_or_path)
    if path.exists() or path.is_symlink():  # a folder or a device is refused by its reader
        return path
    known = bundled()
    stem = path.name.removesuffix(".yaml")
    if stem in known and path.parent == Path("."):
        return known[stem]
    close = difflib.get_close_matches(stem, list(known), n=3, cutoff=0.6)
    guess = f"; did you mean {close[0]}?" if close else ""
    if len(close) > 1:
        guess += f" (close too: {', '.join(close[1:])})"
    raise ConfigError(
        f"config file {path} does not exist and is not a bundled config{guess} "
        f"(`bayes-dps configs` lists the {len(known)} bundled configs)"
    )
