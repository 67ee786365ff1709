"""WebNLG data-to-text (Gardent et al. 2017): the release XML, as text examples.

Each ``<entry category="…">`` holds a ``<modifiedtripleset>`` of ``<mtriple>s | p | o</mtriple>``
and one or more reference texts ``<lex>``; every (entry, lex) pair becomes an example whose
prompt is the triples linearised as ``s | p | o ; s | p | o`` and whose group (domain) is the
category. ``path`` is one XML file or a folder searched recursively for ``*.xml`` (the
release's ``train/``, ``dev/`` folders). Malformed XML is reported with its file and line.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from bayes_dps.data.text import TextExample
from bayes_dps.errors import DataError, DatasetNotFoundError


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(path.rglob("*.xml"))
    return []


def parse_webnlg_file(path: Path) -> list[TextExample]:
    """The examples of one WebNLG XML file."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as err:
        line, column = err.position
        raise DataError(
            f"{path}, line {line}, column {column}: malformed XML ({err.msg})"
        ) from None
    out = []
    for entry in root.iter("entry"):
        category = entry.get("category")
        triples = [
            " | ".join(part.strip() for part in (t.text or "").split("|"))
            for t in entry.iter("mtriple")
        ]
        if not category or not triples:
            raise DataError(
                f"{path}: an <entry> (eid {entry.get('eid')}) lacks a category or "
                "<modifiedtripleset>/<mtriple> triples"
            )
        if any(t.count("|") != 2 for t in triples):
            raise DataError(
                f"{path}: entry {entry.get('eid')} has a triple that is not 's | p | o'"
            )
        for lex in entry.iter("lex"):
            text = " ".join((lex.text or "").split())
            if text:
                out.append(TextExample(" ; ".join(triples), text, category))
    return out


def load_webnlg(path: str | Path) -> list[TextExample]:
    """Every example in the WebNLG XML file(s) at ``path``."""
    path = Path(path).expanduser()
    files = _files(path)
    if not files:
        raise DatasetNotFoundError(
            f"webnlg: no XML files at {path}. Download the WebNLG release (e.g. "
            "https://gitlab.com/shimorina/webnlg-dataset, release_v3.0/en/train) and set "
            "dataset.path to a file or folder"
        )
    examples = [e for f in files for e in parse_webnlg_file(f)]
    if not examples:
        raise DataError(f"webnlg: the XML files at {path} hold no <entry> with <lex> texts")
    return examples
