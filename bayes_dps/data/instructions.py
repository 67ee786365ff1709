"""Instruction data as text examples: JSON / JSONL files (Alpaca-style or chat messages) and
the question→answer files of the ``chatterbot-corpus`` package.

**JSON / JSONL.** A ``.jsonl`` file holds one record per line, a ``.json`` file a list of
records. A record is either ``{"instruction": …, "input": …, "output": …}`` (``input``
optional; it follows the instruction on a new line) or ``{"messages": [{"role": "user",
"content": …}, {"role": "assistant", "content": …}, …]}`` (the last assistant message is the
response, the conversation before it the prompt). The task is the record's ``task`` field, else
the file's stem — several files make a mixture of tasks. Errors name the file and the line (or
record).

**chatterbot-corpus.** Its English YAML files (``categories``, ``conversations``: lists of
turns); each consecutive (question, answer) pair is an example whose task is the file's
category, e.g. ``chatterbot/science``.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

from bayes_dps.data.text import TextExample
from bayes_dps.errors import DataError, DatasetNotFoundError
from bayes_dps.input_files import check_input_file


def _record(rec: Any, where: str, default_task: str) -> TextExample:
    if not isinstance(rec, dict):
        raise DataError(f"{where}: a record must be a JSON object, got {type(rec).__name__}")
    task = str(rec.get("task") or default_task)
    if "messages" in rec:
        msgs = rec["messages"]
        if (
            not isinstance(msgs, list)
            or not msgs
            or not all(isinstance(m, dict) and {"role", "content"} <= set(m) for m in msgs)
        ):
            raise DataError(f"{where}: 'messages' must be a list of {{role, content}} objects")
        last = max((i for i, m in enumerate(msgs) if m["role"] == "assistant"), default=None)
        if last is None or last == 0:
            raise DataError(f"{where}: 'messages' needs a user turn and an assistant answer")
        contents = [_text(m["content"], "content", where) for m in msgs]
        prompt = "\n".join(f"{m['role']}: {c}" for m, c in zip(msgs[:last], contents, strict=False))
        if last == 1 and msgs[0]["role"] == "user":
            prompt = contents[0]
        return TextExample(prompt, contents[last], task)
    if "instruction" not in rec or "output" not in rec:
        raise DataError(
            f"{where}: a record needs 'instruction' and 'output' (or 'messages'); it has "
            f"{sorted(rec)}"
        )
    prompt = _text(rec["instruction"], "instruction", where)
    if rec.get("input"):
        prompt += "\n" + _text(rec["input"], "input", where)
    return TextExample(prompt, _text(rec["output"], "output", where), task)


class _NotJSON(ValueError):
    """A literal Python's json reads but JSON does not have."""


def _refuse_constant(name: str) -> Any:
    raise _NotJSON(f"the literal {name}")


def _parse(text: str, where: str, *, one_line: bool = False) -> Any:
    """``json.loads`` with its failures — malformed text, nesting too deep for the parser —
    as one :class:`DataError` naming ``where`` (and the line, unless ``where`` is one)."""
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except _NotJSON as err:
        raise DataError(
            f"{where}: {err} is not JSON (strict JSON has no NaN or Infinity)"
        ) from None
    except json.JSONDecodeError as err:
        at = f"column {err.colno}" if one_line else f"line {err.lineno}, column {err.colno}"
        raise DataError(f"{where}, {at}: not JSON ({err.msg})") from None
    except RecursionError:
        raise DataError(f"{where}: JSON nested too deeply to read; flatten the records") from None


def _text(value: Any, field: str, where: str) -> str:
    """A record's text field: a string (or a number, written as text)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise DataError(f"{where}: {field!r} must be text, got {type(value).__name__}")
    return str(value)


def load_instruction_file(path: str | Path) -> list[TextExample]:
    path = check_input_file(
        Path(path).expanduser(),
        "instructions:",
        "give JSON / JSONL files of records (instruction, input, output) in dataset.sources",
    )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DataError(
            f"{path}: not UTF-8 text (byte {err.start}: {err.reason}); JSON files are UTF-8 — "
            f"re-encode it, e.g. iconv -f latin1 -t utf-8"
        ) from None
    out = []
    if path.suffix == ".jsonl":
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            rec = _parse(line, f"{path}, line {number}", one_line=True)
            out.append(_record(rec, f"{path}, line {number}", path.stem))
    else:
        data = _parse(text, str(path))
        if not isinstance(data, list):
            raise DataError(f"{path}: a .json file must hold a list of records")
        out = [_record(r, f"{path}, record {i}", path.stem) for i, r in enumerate(data)]
    if not out:
        raise DataError(f"instructions: {path} holds no records")
    return out


def load_instructions(paths: list[str | Path]) -> list[TextExample]:
    """A mixture of instruction files (each file a task unless records name theirs)."""
    return [e for p in paths for e in load_instruction_file(p)]


def chatterbot_folder() -> Path:
    try:
        import chatterbot_corpus
    except ImportError as err:
        raise DatasetNotFoundError(
            "the chatterbot corpus needs its package: pip install chatterbot-corpus (part of "
            "bayes-dps[nlp])"
        ) from err
    return Path(chatterbot_corpus.__file__).parent / "data" / "english"


def load_chatterbot(
    folder: str | Path | None = None, categories: list[str] | None = None
) -> list[TextExample]:
    """(question, answer) pairs of the English chatterbot corpus, task ``chatterbot/<file>``."""
    import yaml

    folder = Path(folder) if folder else chatterbot_folder()
    files = sorted(folder.glob("*.yml"))
    if categories:
        files = [f for f in files if f.stem in categories]
    if not files:
        raise DatasetNotFoundError(f"chatterbot: no YAML files in {folder} ({categories=})")
    out = []
    for f in files:
        try:
            data = yaml.safe_load(f.read_text(encoding="utf-8"))
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f", line {mark.line + 1}" if mark else ""
            raise DataError(f"{f}{where}: not valid YAML") from None
        convs = data.get("conversations") if isinstance(data, dict) else None
        if not isinstance(convs, list):
            raise DataError(f"{f}: expected a mapping with a 'conversations' list")
        for conv in convs:
            turns = [str(t) for t in conv] if isinstance(conv, list) else []
            for q, a in itertools.pairwise(turns):
                out.append(TextExample(q, a, f"chatterbot/{f.stem}"))
    return out
