"""Small files in the real formats of the language loaders (WordNet 3.0 database files, the
WebNLG release XML, instruction JSON/JSONL, chatterbot YAML), written by the tests that need
them — CI has none of the real corpora."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

#: lexicographer file numbers of WordNet 3.0 (lexnames) used by the fake database
LEX = {"noun.animal": 5, "noun.artifact": 6, "noun.plant": 20, "verb.motion": 38}
WORDS = {
    "noun.animal": ("fox", "wolf", "heron", "otter", "lynx", "stoat", "vole", "newt", "toad"),
    "noun.artifact": ("lamp", "chair", "hammer", "kettle", "ladder", "spoon", "bucket"),
    "noun.plant": ("oak", "fern", "moss", "thistle", "birch", "clover", "ivy", "reed"),
    "verb.motion": ("run", "crawl", "glide", "hop", "stroll", "dash", "wade", "drift"),
}
GLOSS = {
    "noun.animal": "a small wild mammal of the family {x} that hunts at night",
    "noun.artifact": "a household tool made of metal used to {x} things",
    "noun.plant": "a green plant of the genus {x} that grows in damp places",
    "verb.motion": "move quickly on foot in the manner of a {x}",
}


def write_wordnet(folder: Path, per_domain: int = 30, seed: int = 0) -> Path:
    """``data.noun|verb|adj|adv`` in the WordNet 3.0 format (licence header, one synset per
    line: offset, lex_filenum, ss_type, w_cnt (hex), word lex_id …, p_cnt, pointers, frames for
    verbs, ``| gloss; "example"``), ``per_domain`` synsets in each of :data:`LEX`'s files."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    header = "  1 This software and database is being provided to you, the LICENSEE, ...\n"
    lines: dict[str, list[str]] = {"n": [], "v": []}
    offset = 1000
    for domain, lexnum in LEX.items():
        pos = "v" if domain.startswith("verb") else "n"
        first = None
        for i in range(per_domain):
            base = WORDS[domain][i % len(WORDS[domain])]
            word = f"{base}_{i}" if i >= len(WORDS[domain]) else base
            lemmas = [word] + ([f"{base}_kind_{i}"] if rng.random() < 0.5 else [])
            words = " ".join(f"{w} 0" for w in lemmas)
            pointers = [] if first is None else [f"@ {first:08d} {pos} 0000"]
            ptrs = f"{len(pointers):03d}" + "".join(f" {p}" for p in pointers)
            frames = " 01 + 02 00" if pos == "v" else ""
            gloss = GLOSS[domain].format(x=WORDS[domain][int(rng.integers(len(WORDS[domain])))])
            example = f'; "the {word} was seen near the river"' if rng.random() < 0.7 else ""
            lines[pos].append(
                f"{offset:08d} {lexnum:02d} {pos} {len(lemmas):02x} {words} {ptrs}{frames} | "
                f"{gloss}{example}  \n"
            )
            first = first or offset
            offset += 100
    for pos, name in (("n", "data.noun"), ("v", "data.verb")):
        (folder / name).write_text(header + "".join(lines[pos]), encoding="latin-1")
    for name in ("data.adj", "data.adv"):
        (folder / name).write_text(header, encoding="latin-1")
    return folder


WEBNLG = """<?xml version="1.0" ?>
<benchmark>
  <entries>
{entries}
  </entries>
</benchmark>
"""
ENTRY = """    <entry category="{category}" eid="Id{eid}" shape="(X (X))" size="{size}">
      <originaltripleset>
        <otriple>{s} | {p} | {o}</otriple>
      </originaltripleset>
      <modifiedtripleset>
{triples}
      </modifiedtripleset>
      <lex comment="good" lid="Id1">{text}</lex>
      <lex comment="good" lid="Id2">{text2}</lex>
    </entry>"""


def write_webnlg(path: Path, per_category: int = 20) -> Path:
    """A WebNLG release XML file: Airport, Food and City entries, two ``<lex>`` each."""
    entries, eid = [], 1
    facts = {
        "Airport": ("runwayLength", "the runway of {s} is {o} metres long"),
        "Food": ("ingredient", "{s} is made with {o}"),
        "City": ("country", "{s} is a city in {o}"),
    }
    for category, (p, template) in facts.items():
        for i in range(per_category):
            s, o = f"{category}_{i}", f"{1000 + 37 * i}"
            triples = [f"        <mtriple>{s} | {p} | {o}</mtriple>"]
            if i % 2:
                triples.append(f"        <mtriple>{s} | location | Region_{i}</mtriple>")
            text = template.format(s=s.replace("_", " "), o=o)
            entries.append(ENTRY.format(
                category=category, eid=eid, size=len(triples), s=s, p=p, o=o,
                triples="\n".join(triples), text=text, text2=text.capitalize() + ".",
            ))  # fmt: skip
            eid += 1
    path.write_text(WEBNLG.format(entries="\n".join(entries)), encoding="utf-8")
    return path


def write_instructions(folder: Path, per_task: int = 24) -> list[Path]:
    """Three instruction files: Alpaca-style JSONL, chat-``messages`` JSON, and a JSONL whose
    records name their task."""
    folder.mkdir(parents=True, exist_ok=True)
    alpaca = folder / "arithmetic.jsonl"
    alpaca.write_text("".join(
        json.dumps({"instruction": "Add the numbers.", "input": f"{i} + {i + 1}",
                    "output": str(2 * i + 1)}) + "\n"
        for i in range(per_task)
    ), encoding="utf-8")  # fmt: skip
    chat = folder / "capitals.json"
    chat.write_text(json.dumps([
        {"messages": [{"role": "user", "content": f"Name the capital of country {i}."},
                      {"role": "assistant", "content": f"The capital is city {i}."}]}
        for i in range(per_task)
    ]), encoding="utf-8")  # fmt: skip
    mixed = folder / "mixed.jsonl"
    mixed.write_text("".join(
        json.dumps({"instruction": f"Spell the word number {i} backwards.",
                    "output": f"{i}".join("ab")[::-1], "task": "reverse"}) + "\n"
        for i in range(per_task)
    ), encoding="utf-8")  # fmt: skip
    return [alpaca, chat, mixed]


def write_chatterbot(folder: Path) -> Path:
    """Two chatterbot-corpus style YAML files (``categories`` + ``conversations``)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "science.yml").write_text(
        "categories:\n- science\nconversations:\n"
        "- - What is the speed of light?\n  - About 300000 kilometres per second.\n"
        "- - What is water made of?\n  - Hydrogen and oxygen.\n  - Two of one, one of the other.\n",
        encoding="utf-8",
    )
    (folder / "food.yml").write_text(
        "categories:\n- food\nconversations:\n- - Do you like bread?\n  - I cannot eat.\n",
        encoding="utf-8",
    )
    return folder


#: lexicographer numbers (WordNet 3.0 lexnames) and a vocabulary per class, for the glosses set
GLOSS_LEX = {"noun.animal": 5, "noun.artifact": 6, "noun.body": 8, "noun.plant": 20,
             "verb.body": 29, "verb.motion": 38}  # fmt: skip
GLOSS_WORDS = {
    "noun.animal": "mammal bird fur tail hunts wild nest prey claws",
    "noun.artifact": "tool metal handle device made used household wooden",
    "noun.body": "organ tissue blood bone muscle skin gland nerve",
    "noun.plant": "tree leaves flowers genus shrub roots seeds moss",
    "verb.body": "breathe sweat swallow ache bleed blink yawn cough",
    "verb.motion": "move walk run glide hop stroll dash wade",
}


def write_gloss_wordnet(folder: Path, sizes: dict[str, int], seed: int = 0) -> Path:
    """``data.noun`` / ``data.verb`` (WordNet 3.0 format) with ``sizes[lexname]`` synsets
    per lexicographer file, each gloss six words of its class's vocabulary (learnable)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    header = "  1 This software and database is being provided to you, the LICENSEE, ...\n"
    lines: dict[str, list[str]] = {"n": [], "v": []}
    offset = 1000
    for lexname, n in sizes.items():
        pos = "v" if lexname.startswith("verb") else "n"
        vocab = GLOSS_WORDS[lexname].split()
        for _ in range(n):
            gloss = " ".join(rng.choice(vocab, size=6))
            frames = " 01 + 02 00" if pos == "v" else ""
            lines[pos].append(
                f"{offset:08d} {GLOSS_LEX[lexname]:02d} {pos} 01 w{offset} 0 000{frames} | "
                f'{gloss}; "an example of w{offset}"  \n'
            )
            offset += 37
    for p, name in (("n", "data.noun"), ("v", "data.verb")):
        (folder / name).write_text(header + "".join(lines[p]), encoding="latin-1")
    return folder
