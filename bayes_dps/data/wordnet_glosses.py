"""WordNet 3.0 noun glosses as a text-classification data set: gloss → its lexicographer class.

82,115 noun synsets, each with a human-written definition (mean 10 words), in **26 noun
lexicographer classes** with a natural long tail (``noun.artifact`` 11,587 … ``noun.motive``
42). It is the size of MNIST, really imbalanced, and not memorised by a small network within a
few thousand steps — the regime both papers' claims are about, offline.

**Input.** A gloss's first clause (the definition before WordNet's quoted examples) is
lower-cased and split into words; its word unigrams and adjacent bigrams are hashed (CRC-32,
stable across runs and machines) into ``buckets - 1`` ids ``1 … buckets-1``; each point is a
fixed-length ``int64`` row of ``2 · max_words - 1`` ids padded with ``0``. This is the
fastText input (Joulin et al., 2017), read by :class:`~bayes_dps.models.hashbag.HashBag`.

**Splits.** Deterministic by synset offset, independent of any seed: a synset is a test point
when ``crc32(offset) mod 100 < 6`` (≈ 4,900 glosses), a validation point when it is in
``[6, 9)`` (≈ 2,500), else a training point (≈ 74,700). ``train_size`` subsamples the
training split (seeded, stratified) for faster scenarios.

**Off-domain text** (``off_domain: verbs``): verb glosses (``data.verb``) whose lexicographer
file has a noun counterpart (:data:`VERB_TO_NOUN`) are added to the training set with that noun
class as their label and ``off_domain = True`` — real text from a related but different domain
(“to move the body …” against “a part of the body …”). ``verb.contact``, ``verb.motion`` and
``verb.social`` have no noun class of the same meaning and are left out.

**Groups.** ``minority`` marks training points of classes smaller than the median training
class size (the natural tail), for the ``imbalance`` group kind.

The hashed arrays are cached (``cache`` folder, keyed by the data file's size and time and
the hashing settings), so the text is tokenised once.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import zlib
from pathlib import Path

import numpy as np
import torch

from bayes_dps.data.dataset import IndexedDataset
from bayes_dps.data.splits import DataSplits, stratified_fraction
from bayes_dps.data.wordnet import DEFAULT_PATH, _lexnames, parse_data_file
from bayes_dps.errors import ConfigError, DataError, DatasetNotFoundError

#: verb lexicographer file → the noun class of the same semantic field (``off_domain: verbs``)
VERB_TO_NOUN = {
    "verb.body": "noun.body",
    "verb.change": "noun.process",
    "verb.cognition": "noun.cognition",
    "verb.communication": "noun.communication",
    "verb.competition": "noun.act",
    "verb.consumption": "noun.food",
    "verb.creation": "noun.artifact",
    "verb.emotion": "noun.feeling",
    "verb.perception": "noun.cognition",
    "verb.possession": "noun.possession",
    "verb.stative": "noun.state",
    "verb.weather": "noun.phenomenon",
}
TEST_BUCKETS, VAL_BUCKETS = range(0, 6), range(6, 9)
CACHE_VERSION = 1
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def tokens(gloss: str, max_words: int) -> list[str]:
    """The first ``max_words`` words of a gloss's first clause, lower-cased."""
    return _WORD.findall(gloss.lower())[:max_words]


def hash_ids(words: list[str], buckets: int) -> list[int]:
    """Unigram then bigram ids in ``[1, buckets)`` (0 is padding)."""
    grams = words + [f"{a} {b}" for a, b in itertools.pairwise(words)]
    return [1 + zlib.crc32(g.encode()) % (buckets - 1) for g in grams]


def encode(glosses: list[str], *, buckets: int, max_words: int) -> np.ndarray:
    """``(n, 2·max_words − 1)`` int64 hashed n-gram ids, right-padded with 0."""
    width = 2 * max_words - 1
    out = np.zeros((len(glosses), width), dtype=np.int64)
    for i, g in enumerate(glosses):
        ids = hash_ids(tokens(g, max_words), buckets)
        out[i, : len(ids)] = ids
    return out


def _split_bucket(offset: str) -> int:
    return zlib.crc32(offset.encode()) % 100


def _read(folder: Path, file: str, lexnames: list[str]) -> tuple[list[str], list[str], list[str]]:
    synsets = parse_data_file(folder / file, lexnames)
    kept = [s for s in synsets.values() if s.definition]
    return [s.offset for s in kept], [s.definition for s in kept], [s.lexname for s in kept]


def _cached_arrays(
    folder: Path, *, buckets: int, max_words: int, verbs: bool, cache: str | None
) -> dict[str, np.ndarray]:
    files = ["data.noun"] + (["data.verb"] if verbs else [])
    missing = [f for f in files if not (folder / f).is_file()]
    if missing:
        raise DatasetNotFoundError(
            f"wordnet_glosses: {folder} lacks {', '.join(missing)}. Install Debian's "
            "wordnet-base (apt-get install wordnet-base: /usr/share/wordnet) or point "
            "dataset.path at a WordNet 3.0 dict folder"
        )
    stamp = [CACHE_VERSION, buckets, max_words, str(folder.resolve())]
    for f in files:
        st = (folder / f).stat()
        stamp += [f, st.st_size, st.st_mtime_ns]
    key = hashlib.sha256(repr(stamp).encode()).hexdigest()[:16]
    path = Path(cache).expanduser() / f"wordnet_glosses-{key}.npz" if cache else None
    if path is not None and path.is_file():
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    lexnames = _lexnames(folder)
    arrays: dict[str, np.ndarray] = {}
    for f in files:
        offsets, glosses, lex = _read(folder, f, lexnames)
        arrays[f"{f}.x"] = encode(glosses, buckets=buckets, max_words=max_words)
        arrays[f"{f}.offset"] = np.asarray(offsets)
        arrays[f"{f}.lexname"] = np.asarray(lex)
        arrays[f"{f}.gloss"] = np.asarray(glosses)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, **arrays)
        tmp.replace(path)
    return arrays


def load_wordnet_glosses(
    path: str | Path | None = None,
    *,
    buckets: int = 2**15,
    max_words: int = 16,
    train_size: int | None = None,
    off_domain: str | None = None,
    off_domain_size: int | None = None,
    seed: int = 0,
    cache: str | None = "~/.cache/bayes_dps/data",
) -> DataSplits:
    """Train / val / test splits of the noun glosses (see the module docstring)."""
    if not 2 <= int(buckets) <= 2**24:
        raise ConfigError(f"dataset.buckets must lie in [2, 2**24], got {buckets}")
    if not 1 <= int(max_words) <= 256:
        raise ConfigError(f"dataset.max_words must lie in [1, 256], got {max_words}")
    if off_domain not in (None, "verbs"):
        raise ConfigError(f"dataset.off_domain must be verbs or null, got {off_domain!r}")
    folder = Path(path or DEFAULT_PATH).expanduser()
    arrays = _cached_arrays(
        folder, buckets=int(buckets), max_words=int(max_words), verbs=bool(off_domain),
        cache=cache,
    )  # fmt: skip
    lex = arrays["data.noun.lexname"]
    if len(lex) == 0:
        raise DataError(
            f"wordnet_glosses: {folder / 'data.noun'} holds no synsets (no data lines after the "
            "licence header); restore it from wordnet-base or point dataset.path at a WordNet "
            "3.0 dict folder"
        )
    classes = sorted(set(lex.tolist()))
    class_id = {c: i for i, c in enumerate(classes)}
    y = np.asarray([class_id[c] for c in lex], dtype=np.int64)
    x = torch.from_numpy(arrays["data.noun.x"])
    full = IndexedDataset(x, y, num_classes=len(classes), classes=classes)
    bucket = np.asarray([_split_bucket(o) for o in arrays["data.noun.offset"]])
    test = np.flatnonzero(np.isin(bucket, TEST_BUCKETS))
    val = np.flatnonzero(np.isin(bucket, VAL_BUCKETS))
    train = np.flatnonzero(bucket >= VAL_BUCKETS.stop)
    rng = np.random.default_rng(seed)
    if train_size is not None:
        if not 0 < int(train_size) <= len(train):
            raise ConfigError(f"dataset.train_size must lie in [1, {len(train)}], got {train_size}")
        if int(train_size) < len(train):
            take, _ = stratified_fraction(y[train], int(train_size) / len(train), rng, len(classes))
            train = train[take]
    train_set = full.subset(train)
    if off_domain:
        train_set = train_set.concat(_verb_glosses(arrays, class_id, off_domain_size, rng))
    in_domain = ~train_set.annotations["off_domain"]
    counts = np.bincount(train_set.targets[in_domain], minlength=len(classes))
    minority = (counts[train_set.targets] < np.median(counts)) & in_domain
    train_set = train_set.with_targets(train_set.targets, minority=minority)
    return DataSplits(
        train=train_set, test=full.subset(test), val=full.subset(val), name="wordnet_glosses"
    )


def _verb_glosses(
    arrays: dict[str, np.ndarray], class_id: dict[str, int], size: int | None,
    rng: np.random.Generator,
) -> IndexedDataset:  # fmt: skip
    lex = arrays["data.verb.lexname"]
    keep = np.flatnonzero([v in VERB_TO_NOUN for v in lex])
    if size is not None:
        if not 0 < int(size) <= len(keep):
            raise ConfigError(f"dataset.off_domain_size must lie in [1, {len(keep)}], got {size}")
        keep = np.sort(rng.choice(keep, size=int(size), replace=False))
    y = np.asarray([class_id[VERB_TO_NOUN[v]] for v in lex[keep]], dtype=np.int64)
    n = len(keep)
    return IndexedDataset(
        torch.from_numpy(arrays["data.verb.x"][keep]), y, num_classes=len(class_id),
        classes=sorted(class_id, key=class_id.get),
        annotations={"off_domain": np.ones(n, dtype=bool), "minority": np.zeros(n, dtype=bool)},
    )  # fmt: skip
