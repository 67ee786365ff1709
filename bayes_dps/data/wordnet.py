"""WordNet 3.0 database files (``data.noun``, ``data.verb``, ``data.adj``, ``data.adv``) as
text examples — 117k synsets with human-written definitions, in 45 lexicographer files.

The files are read in their documented format (``wndb(5WN)``): header lines start with two
spaces; each data line is

    offset lex_filenum ss_type w_cnt word lex_id [word lex_id ...] p_cnt
    [pointer_symbol offset pos source/target ...] [frames ...] | gloss

with ``w_cnt`` in hexadecimal and the gloss a definition followed by quoted examples. Debian's
``wordnet-base`` installs them in ``/usr/share/wordnet``; any WordNet 3.0 ``dict`` folder works.

Two views of a synset:

* **data-to-text** (:func:`data_to_text`): triples ``lemma | part of speech | noun``,
  ``lemma | is a | hypernym``, ``lemma | has part | part``, ``lemma | also called | synonym``
  → the definition; the domain is the lexicographer file (``noun.animal``, ``verb.motion``…).
* **instruction tasks** (:func:`instruction_tasks`): define a word, use it in a sentence
  (WordNet's own examples), name a more general word (the hypernym), list synonyms — real
  answers under templated instructions; the task is the group.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bayes_dps.data.text import TextExample
from bayes_dps.errors import DataError, DatasetNotFoundError

DEFAULT_PATH = "/usr/share/wordnet"
POS_FILES = {"n": "data.noun", "v": "data.verb", "a": "data.adj", "r": "data.adv"}
POS_NAMES = {"n": "noun", "v": "verb", "a": "adjective", "s": "adjective", "r": "adverb"}
#: the 45 lexicographer files of WordNet 3.0, by number (the ``lexnames`` file, when present
#: in the folder, is read instead)
LEXNAMES = (
    "adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute "
    "noun.body noun.cognition noun.communication noun.event noun.feeling noun.food noun.group "
    "noun.location noun.motive noun.object noun.person noun.phenomenon noun.plant "
    "noun.possession noun.process noun.quantity noun.relation noun.shape noun.state "
    "noun.substance noun.time verb.body verb.change verb.cognition verb.communication "
    "verb.competition verb.consumption verb.contact verb.creation verb.emotion verb.motion "
    "verb.perception verb.possession verb.social verb.stative verb.weather adj.ppl"
).split()
HYPERNYM, PART_MERONYMS = ("@", "@i"), ("%p",)


@dataclass
class Synset:
    offset: str
    pos: str
    lexname: str
    lemmas: list[str]
    definition: str
    examples: list[str] = field(default_factory=list)
    hypernyms: list[str] = field(default_factory=list)  # offsets
    parts: list[str] = field(default_factory=list)  # offsets

    @property
    def word(self) -> str:
        return self.lemmas[0]


def _readable(lemma: str) -> str:
    """``true_cat`` → ``true cat``; adjective markers such as ``(a)`` dropped."""
    return re.sub(r"\([a-z]+\)$", "", lemma).replace("_", " ")


def _lexnames(folder: Path) -> list[str]:
    """The lexicographer file names of ``folder/lexnames`` (lines ``NN name pos``), indexed by
    their number (0, 1, ... with no gap); WordNet 3.0's own list when the file is absent. A
    malformed file raises :class:`DataError` naming the line."""
    path = folder / "lexnames"
    if not path.is_file():
        return list(LEXNAMES)
    try:
        text = path.read_bytes().decode("ascii")
    except UnicodeDecodeError as err:
        raise DataError(
            f"{path}: byte {err.start} is not ASCII text; a WordNet lexnames file holds lines "
            "'NN pos.name N' (restore it from wordnet-base)"
        ) from None
    names: dict[int, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 2 or not parts[0].isdigit() or "." not in parts[1]:
            raise DataError(
                f"{path}, line {number}: {line[:60]!r} is not a lexnames line "
                "'NN pos.name N' (restore the file from wordnet-base)"
            )
        names[int(parts[0])] = parts[1]
    if sorted(names) != list(range(len(names))):
        raise DataError(
            f"{path}: the lexicographer numbers are not 0..{len(names) - 1} without gaps "
            "(restore the file from wordnet-base)"
        )
    return [names[i] for i in range(len(names))]


def parse_data_file(path: Path, lexnames: list[str]) -> dict[str, Synset]:
    """``{offset: Synset}`` of one ``data.<pos>`` file; a malformed line raises
    :class:`DataError` naming the file and the line."""
    out: dict[str, Synset] = {}
    with open(path, encoding="latin-1") as fh:
        for number, line in enumerate(fh, 1):
            if line.startswith("  ") or not line.strip():
                continue  # the licence header
            try:
                synset = _parse_line(line, lexnames)
            except (ValueError, IndexError) as err:
                raise DataError(
                    f"{path}, line {number}: not a WordNet data line ({err}); expected "
                    "'offset lex_filenum ss_type w_cnt word lex_id ... | gloss'"
                ) from None
            out[synset.offset] = synset
    return out


def _parse_line(line: str, lexnames: list[str]) -> Synset:
    head, sep, gloss = line.partition("|")
    if not sep:
        raise ValueError("no '|' before the gloss")
    fields = head.split()
    offset, lexnum, pos = fields[0], int(fields[1]), fields[2]
    if not offset.isdigit() or pos not in POS_NAMES:
        raise ValueError(f"bad offset or part of speech {offset!r} {pos!r}")
    w_cnt = int(fields[3], 16)
    lemmas = [_readable(fields[4 + 2 * i]) for i in range(w_cnt)]
    i = 4 + 2 * w_cnt
    p_cnt = int(fields[i])
    hypernyms, parts = [], []
    for j in range(p_cnt):
        symbol, target = fields[i + 1 + 4 * j], fields[i + 2 + 4 * j]
        if symbol in HYPERNYM:
            hypernyms.append(target)
        elif symbol in PART_MERONYMS:
            parts.append(target)
    chunks = [c.strip() for c in gloss.strip().split(";")]
    definition = chunks[0]
    examples = [c.strip('"') for c in chunks[1:] if c.startswith('"') and c.endswith('"')]
    if not 0 <= lexnum < len(lexnames):
        raise ValueError(f"lexicographer file number {lexnum} out of range [0, {len(lexnames)})")
    return Synset(offset, pos, lexnames[lexnum], lemmas, definition, examples, hypernyms, parts)


def load_wordnet(path: str | Path | None = None) -> dict[str, Synset]:
    """Every synset of the four database files in ``path`` (keys ``pos:offset``)."""
    folder = Path(path or DEFAULT_PATH).expanduser()
    missing = [f for f in POS_FILES.values() if not (folder / f).is_file()]
    if missing:
        raise DatasetNotFoundError(
            f"wordnet: {folder} lacks {', '.join(missing)}. Install Debian's wordnet-base "
            "(apt-get install wordnet-base: /usr/share/wordnet) or point dataset.path at a "
            "WordNet 3.0 dict folder"
        )
    lexnames = _lexnames(folder)
    synsets: dict[str, Synset] = {}
    for pos, name in POS_FILES.items():
        for offset, s in parse_data_file(folder / name, lexnames).items():
            synsets[f"{pos}:{offset}"] = s
    return synsets


def _lookup(synsets: dict[str, Synset], pos: str, offset: str) -> Synset | None:
    return synsets.get(f"{pos}:{offset}") or synsets.get(f"n:{offset}")


def triples(s: Synset, synsets: dict[str, Synset], max_triples: int = 6) -> list[str]:
    """The synset's facts as ``subject | predicate | object`` triples."""
    pos = "a" if s.pos == "s" else s.pos
    out = [f"{s.word} | part of speech | {POS_NAMES[s.pos]}"]
    for h in s.hypernyms[:2]:
        target = _lookup(synsets, pos, h)
        if target:
            out.append(f"{s.word} | is a | {target.word}")
    for p in s.parts[:2]:
        target = _lookup(synsets, pos, p)
        if target:
            out.append(f"{s.word} | has part | {target.word}")
    out += [f"{s.word} | also called | {other}" for other in s.lemmas[1:3]]
    return out[:max_triples]


def data_to_text(synsets: dict[str, Synset]) -> list[TextExample]:
    """One example per synset: linearised triples → definition, grouped by lexicographer file."""
    return [
        TextExample(" ; ".join(triples(s, synsets)), s.definition, s.lexname)
        for s in synsets.values()
        if s.definition
    ]


INSTRUCTION_TASKS = ("define", "use_in_sentence", "hypernym", "synonyms")


def instruction_tasks(
    synsets: dict[str, Synset], tasks: tuple[str, ...] = INSTRUCTION_TASKS
) -> list[TextExample]:
    """Instruction examples with WordNet's own answers (group = `wordnet/<task>`)."""
    out = []
    for s in synsets.values():
        word = s.word
        if "define" in tasks and s.definition:
            out.append(TextExample(f"Define the word '{word}'.", s.definition, "wordnet/define"))
        if "use_in_sentence" in tasks and s.examples:
            out.append(TextExample(f"Use the word '{word}' in a sentence.", s.examples[0],
                                   "wordnet/use_in_sentence"))  # fmt: skip
        if "hypernym" in tasks and s.hypernyms:
            target = _lookup(synsets, "a" if s.pos == "s" else s.pos, s.hypernyms[0])
            if target:
                out.append(TextExample(f"What is a more general word for '{word}'?",
                                       target.word, "wordnet/hypernym"))  # fmt: skip
        if "synonyms" in tasks and len(s.lemmas) > 1:
            out.append(TextExample(f"List synonyms of '{word}'.", ", ".join(s.lemmas[1:4]),
                                   "wordnet/synonyms"))  # fmt: skip
    return out


def lexname_counts(examples: list[TextExample]) -> dict[str, int]:
    groups, counts = np.unique([e.group for e in examples], return_counts=True)
    return dict(zip(groups.tolist(), counts.tolist(), strict=True))
