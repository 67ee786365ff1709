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
        prompt = "\n".join(f"{m['role']}: {m['content']}" for m in msgs[:last])
        if last == 1 and msgs[0]["role"] == "user":
            prompt = str(msgs[0]["content"])
        return TextExample(prompt, str(msgs[last]["content"]), task)
    if "instruction" not in rec or "output" not in rec:
        raise DataError(
            f"{where}: a record needs 'instruction' and 'output' (or 'messages'); it has "
            f"{sorted(rec)}"
        )
    prompt = str(rec["instruction"])
    if rec.get("input"):
        prompt += "\n" + str(rec["input"])
    return TextExample(prompt, str(rec["output"]), task)


def load_instruction_file(path: str | Path) -> list[TextExample]:
    path = Path(path).expanduser()
    if not path.is_file():
        raise DatasetNotFoundError(f"instructions: {path} does not exist")
    text = path.read_text(encoding="utf-8")
    out = []
    if path.suffix == ".jsonl":
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f"{path}, line {number}: not JSON ({err.msg})") from None
            out.append(_record(rec, f"{path}, line {number}", path.stem))
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise DataError(
                f"{path}, line {err.lineno}, column {err.colno}: not JSON ({err.msg})"
            ) from None
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
