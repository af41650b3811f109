"""Near-duplicate questions within a project, grouped into clusters.

Two questions *link* when

* their normalised texts (:func:`normalise`: Unicode NFKC, case folded, punctuation, whitespace and
  control characters removed) have a rapidfuzz ``fuzz.ratio`` of at least ``threshold`` (0–100), or
* both have an embedding and the cosine similarity of their vectors is at least
  ``cosine_threshold``.

A cluster is a connected component of the links (union-find), so links are transitive: A~B and B~C
put A, B and C in one cluster even when A and C do not link.

``fuzz.ratio`` is ``100 · 2·LCS / (len a + len b)`` over characters (Indel distance), the same rule
for every script: Chinese and Japanese put no spaces between words, so word-based scorers
(``token_sort_ratio`` and the like) would see a whole sentence as one token. Reworded or reordered
questions are what the embeddings are for.

How pairs are found (``n`` distinct normalised texts):

* Exact duplicates after normalisation are grouped by hashing: always found, ``O(n)``.
* Up to :data:`EXACT_UP_TO` texts, every pair is scored (``rapidfuzz.process.cdist``): exact.
* Above that, all pairs would be too slow (50,000 texts = 1.25e9 pairs), so candidate pairs come
  from MinHash locality-sensitive hashing over character grams (:func:`_minhash_candidates`) and
  only candidates are scored (``rapidfuzz.process.cpdist``). This is probabilistic: a pair at the
  threshold is missed with a small probability, a pair well above it almost never. The hashes
  are fixed, so results are repeatable. ``bench/bench_duplicates.py`` measured, for 50,000
  synthetic questions on two cores at threshold 90: 3–4 s, 5,021 of 5,022 injected duplicates
  found, and 99.9 % of all pairs at or above the threshold (by all-pairs ``cdist``) in one cluster.

Embeddings are compared exactly with a blocked matrix product: besides the ``m × dim`` float32
matrix of the ``m`` embedded questions (150 MB for 50,000 × 768), memory stays at
:data:`_EMBEDDING_BLOCK` × ``m`` floats. Time is ``O(m²·dim)``: about 20 s for 50,000 × 768.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz, process

EXACT_UP_TO = 2_000
"""Most distinct normalised texts compared all-pairs (2e6 pairs, well under a second); above
this, candidates come from MinHash LSH."""

GRAM = 3
"""Length in characters of the grams hashed for texts without CJK characters."""

GRAM_CJK = 2
"""Gram length for texts with CJK characters: their characters carry more, and texts are short."""

ROWS = 5
"""MinHash values per LSH band: two texts become candidates when all of one band agree."""

_BANDS = ((90.0, 30), (85.0, 45), (0.0, 60))
"""``(lowest threshold, bands)``: lower thresholds admit less similar pairs, which need more
bands to be caught. 30 bands of 5 catch a pair of 3-gram Jaccard 0.6 with probability 0.91,
0.7 with 0.998; 45 bands catch Jaccard 0.5 with 0.76, 0.6 with 0.97."""

_PAIR_BATCH = 2_000_000
"""Candidate pairs held and scored at once; bounds memory whatever the data."""

_EMBEDDING_BLOCK = 512
"""Rows of the cosine matrix computed at once (``512 × 50,000`` float32 = 100 MB)."""

_DROP = frozenset({"Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "Zs", "Zl", "Zp", "Cc", "Cf"})
_CJK = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003134f]")
_NO_LINKS = (np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float64))


@dataclass(frozen=True)
class Cluster:
    """Questions that are near-duplicates of one another.

    ``keep``: the id to keep, the lowest preferred id in the cluster, else the lowest id.
    ``members``: all ids, ``keep`` included, ascending. ``similarity`` (0–100): the weakest link
    that holds the cluster together, i.e. the lowest score on its maximum spanning tree: the
    highest threshold at which all members would still form one cluster. A cosine link counts as
    ``100 × cosine``; exact duplicates after normalisation as 100.
    """

    keep: int
    members: tuple[int, ...]
    similarity: float


class _DropTable(dict):
    """``str.translate`` table deleting the characters of :data:`_DROP`; filled as met."""

    def __missing__(self, code: int) -> int | None:
        value = None if unicodedata.category(chr(code)) in _DROP else code
        self[code] = value
        return value


_DROP_TABLE = _DropTable()


def normalise(text: str) -> str:
    """The form in which questions are compared: NFKC (full-width letters, digits and punctuation
    become half-width), case folded, with every punctuation, whitespace, control and format
    character removed. Letters, digits and symbols (``+ $ ° ©``) stay; note that Unicode counts
    ``% # & @ *`` as punctuation.

    >>> normalise("  What PORT does Ｏｌｌａｍａ use？ ")
    'whatportdoesollamause'
    """
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    return folded.translate(_DROP_TABLE)


def find_duplicates(
    items: Sequence[tuple[int, str]],
    *,
    threshold: float = 90.0,
    preferred: Collection[int] = (),
    embeddings: Mapping[int, Sequence[float]] | None = None,
    cosine_threshold: float = 0.92,
) -> list[Cluster]:
    """Clusters of near-duplicate questions, by the rule in the module docstring.

    ``items``: ``(id, question text)`` with unique ids. ``threshold``: lowest ``fuzz.ratio``
    (0–100) of two normalised texts that links them; meant for 80–100 (lower thresholds link
    unrelated questions that share a template, and the LSH path needs more bands for them).
    ``preferred``: ids to keep over the others of their cluster (e.g. pairs a person accepted or
    edited); among several, the lowest. ``embeddings``: id → vector, all of one dimension; ids
    without one, or with a zero vector, link by text only. ``cosine_threshold``: lowest cosine
    similarity (−1–1) that links two embedded questions.

    Returns the clusters of two or more members, sorted by ``keep``.

    Cost for ``n`` questions of ``L`` characters: ``O(n·L)`` to normalise and hash; up to
    :data:`EXACT_UP_TO` distinct texts, ``n²/2`` ratio computations (``O(L²/64)`` each, in C++);
    above, ``O(n·L·bands·ROWS)`` for the MinHash signatures plus one ratio per candidate pair.
    50,000 questions take a few seconds on two cores (``bench/bench_duplicates.py``). Embeddings
    add ``O(m²·dim)`` for ``m`` embedded questions.
    """
    ids = [int(item_id) for item_id, _ in items]
    if len(set(ids)) != len(ids):
        raise ValueError("item ids must be unique")
    if not ids:
        return []

    # Exact duplicates after normalisation link to the first text with the same form.
    first: dict[str, int] = {}
    representative = np.fromiter(
        (first.setdefault(normalise(text), index) for index, (_, text) in enumerate(items)),
        dtype=np.int64,
        count=len(ids),
    )
    copies = np.nonzero(representative != np.arange(len(ids)))[0]
    distinct = np.fromiter(first.values(), dtype=np.int64, count=len(first))

    text_a, text_b, text_score = _text_links(list(first), threshold)
    links = [
        (representative[copies], copies, np.full(copies.size, 100.0)),
        (distinct[text_a], distinct[text_b], text_score),
    ]
    if embeddings:
        links.append(_embedding_links(ids, embeddings, cosine_threshold))
    link_a, link_b, score = (np.concatenate(parts) for parts in zip(*links))
    return _clusters(ids, link_a, link_b, score, set(preferred))


def duplicate_rate(items: Sequence[tuple[int, str]], clusters: Sequence[Cluster]) -> float:
    """Share (0–1) of ``items`` that are in a cluster but are not its kept member; 0.0 when there
    are no items. ``clusters`` is what :func:`find_duplicates` returned for ``items``."""
    present = {int(item_id) for item_id, _ in items}
    if not present:
        return 0.0
    surplus = sum(1 for c in clusters for member in c.members if member != c.keep and member in present)
    return surplus / len(present)


# --- text links ------------------------------------------------------------------------------


def _text_links(keys: list[str], threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs ``(i, j, ratio)``, ``i < j`` indexes into ``keys`` (distinct normalised texts), whose
    ``fuzz.ratio`` is at least ``threshold``."""
    n = len(keys)
    if n < 2 or threshold >= 100.0:  # distinct normalised texts never score 100
        return _NO_LINKS
    if n <= EXACT_UP_TO:
        return _all_pairs(keys, threshold)
    lengths = np.fromiter(map(len, keys), dtype=np.int64, count=n)
    texts = np.array(keys, dtype=object)
    found = [_score(batch, texts, lengths, threshold) for batch in _minhash_candidates(keys, threshold)]
    if not found:
        return _NO_LINKS
    first, second, scores = (np.concatenate(parts) for parts in zip(*found))
    return first, second, scores


def _all_pairs(keys: list[str], threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every pair scored, in blocks of rows: exact, ``O(n²)``."""
    out = []
    block = 512
    for lo in range(0, len(keys), block):
        scores = process.cdist(
            keys[lo : lo + block], keys[lo:], scorer=fuzz.ratio, score_cutoff=threshold,
            dtype=np.float64, workers=-1,
        )
        i, j = np.nonzero(scores >= threshold)
        upper = j > i
        i, j = i[upper], j[upper]
        out.append((i + lo, j + lo, scores[i, j]))
    first, second, found = (np.concatenate(parts) for parts in zip(*out))
    return first, second, found


def _score(pairs: np.ndarray, texts: np.ndarray, lengths: np.ndarray, threshold: float):
    """Keep the candidate pairs (``i·n + j`` codes) whose ratio reaches ``threshold``.

    ``ratio ≥ t`` needs ``2·min(a, b) ≥ t·(a + b)`` for lengths ``a`` and ``b``, checked first.
    """
    n = texts.size
    pairs = np.sort(pairs)
    pairs = pairs[np.concatenate(([True], pairs[1:] != pairs[:-1]))]
    a, b = pairs // n, pairs % n
    la, lb = lengths[a], lengths[b]
    fits = 2 * np.minimum(la, lb) >= threshold / 100.0 * (la + lb) - 1e-9
    a, b = a[fits], b[fits]
    if not a.size:
        return _NO_LINKS
    scores = process.cpdist(
        texts[a], texts[b], scorer=fuzz.ratio, score_cutoff=threshold, dtype=np.float64, workers=-1
    )
    hit = scores >= threshold
    return a[hit], b[hit], scores[hit]


def _grams(keys: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """64-bit hashes of every character gram of every text, in text order, and the index of each
    text's first hash.

    Texts with CJK characters use :data:`GRAM_CJK`-grams, others :data:`GRAM`-grams. Each text is
    padded with ``gram − 1`` sentinels at both ends ("\\x00"/"\\x01", which :func:`normalise`
    removes), so a text of ``L`` characters has ``L + gram − 1`` grams, at least one, and its
    first and last characters count as much as the others.
    """
    n = len(keys)
    gram = np.fromiter((GRAM_CJK if _CJK.search(k) else GRAM for k in keys), dtype=np.int64, count=n)
    lengths = np.fromiter(map(len, keys), dtype=np.int64, count=n)
    joined = "".join("\x00" * (g - 1) + k + "\x01" * (g - 1) for k, g in zip(keys, gram.tolist()))
    joined += "\x01" * max(GRAM, GRAM_CJK)  # so reading past the last text stays in bounds
    codes = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.uint64)
    per_text = lengths + gram - 1
    first = np.cumsum(per_text) - per_text
    text_start = np.cumsum(lengths + 2 * (gram - 1)) - (lengths + 2 * (gram - 1))
    owner = np.repeat(np.arange(n), per_text)
    position = text_start[owner] + np.arange(owner.size) - first[owner]
    size = gram[owner]
    code = codes[position]
    for k in range(1, max(GRAM, GRAM_CJK)):  # code points are < 0x110000: exact up to 3-grams
        longer = code * np.uint64(0x110000) + codes[position + k]
        code = np.where(size > k, longer, code)
    return _mix(code + size.astype(np.uint64)), first


def _mix(values: np.ndarray) -> np.ndarray:
    """A 64-bit finaliser (xor-shift-multiply), so hashes of similar codes look unrelated."""
    values = values ^ (values >> np.uint64(33))
    values = values * np.uint64(0xFF51AFD7ED558CCD)
    values = values ^ (values >> np.uint64(33))
    values = values * np.uint64(0xC4CEB9FE1A85EC53)
    return values ^ (values >> np.uint64(33))


def _minhash_candidates(keys: list[str], threshold: float) -> Iterator[np.ndarray]:
    """Candidate pairs as ``i·n + j`` codes (``i < j``), in batches of about :data:`_PAIR_BATCH`.

    MinHash: for each of ``bands × ROWS`` hash functions, a text's value is the least hash over
    its grams; two texts agree on one with probability equal to the Jaccard similarity of their
    gram sets. The ``k``-th function is ``h₁ + k·h₂ (mod 2³²)`` from two 32-bit halves of one
    64-bit gram hash, so the signatures cost one add and one segmented minimum per function. LSH:
    the values are cut into bands of :data:`ROWS`; texts whose band agrees entirely (same hashed
    band key) are candidates, which happens with probability ``1 − (1 − J^ROWS)^bands``.
    """
    n = len(keys)
    bands = next(count for lowest, count in _BANDS if threshold >= lowest)
    hashes, first = _grams(keys)
    low = (hashes & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    step = (hashes >> np.uint64(32)).astype(np.uint32) | np.uint32(1)
    pending: list[np.ndarray] = []
    held = 0
    for _ in range(bands):
        band = np.zeros(n, dtype=np.uint64)
        for _ in range(ROWS):
            band = band * np.uint64(0x100000001B3) + np.minimum.reduceat(low, first).astype(np.uint64)
            low += step
        for pairs in _pairs_sharing(band):
            pending.append(pairs)
            held += pairs.size
            if held >= _PAIR_BATCH:
                yield np.concatenate(pending)
                pending, held = [], 0
    if pending:
        yield np.concatenate(pending)


def _pairs_sharing(band: np.ndarray) -> Iterator[np.ndarray]:
    """All pairs of texts with equal ``band`` values, as ``i·n + j`` codes (``i < j``), in pieces
    of at most about :data:`_PAIR_BATCH` (a huge group is cut by its members)."""
    n = band.size
    order = np.argsort(band, kind="stable")
    values = band[order]
    new = np.ones(n, dtype=bool)
    new[1:] = values[1:] != values[:-1]
    group_start = np.maximum.accumulate(np.where(new, np.arange(n), 0))
    earlier = np.arange(n) - group_start  # pairs each text makes with earlier texts of its group
    if not earlier.any():
        return
    total = np.cumsum(earlier)
    lo = 0
    while lo < n:
        base = total[lo - 1] if lo else 0
        hi = max(lo + 1, int(np.searchsorted(total, base + _PAIR_BATCH, "right")))
        count = earlier[lo:hi]
        right = np.repeat(np.arange(lo, hi), count)
        left = group_start[right] + np.arange(right.size) - np.repeat(np.cumsum(count) - count, count)
        a, b = order[left], order[right]
        if a.size:
            yield np.minimum(a, b) * n + np.maximum(a, b)
        lo = hi


# --- embedding links -------------------------------------------------------------------------


def _embedding_links(ids: list[int], embeddings: Mapping[int, Sequence[float]], cosine_threshold: float):
    """Pairs ``(i, j, 100·cosine)``, ``i < j`` indexes into ``ids``, with cosine ≥ threshold."""
    rows = [index for index, item_id in enumerate(ids) if item_id in embeddings]
    if len(rows) < 2:
        return _NO_LINKS
    vectors = [np.asarray(embeddings[ids[r]], dtype=np.float32).ravel() for r in rows]
    if len({v.size for v in vectors}) != 1:
        raise ValueError("embeddings must all have the same dimension")
    matrix = np.stack(vectors)
    del vectors
    norms = np.linalg.norm(matrix, axis=1)
    usable = norms > 0  # also drops vectors with NaN
    if not usable.all():
        matrix = matrix[usable]
    matrix /= norms[usable, None]
    rows_kept = np.asarray(rows, dtype=np.int64)[usable]
    out = []
    for lo in range(0, rows_kept.size, _EMBEDDING_BLOCK):
        block = matrix[lo : lo + _EMBEDDING_BLOCK] @ matrix[lo:].T  # rows lo.., columns lo..
        i, j = np.divmod(np.flatnonzero(block >= cosine_threshold), block.shape[1])  # 2-D nonzero is slow
        upper = j > i
        i, j = i[upper], j[upper]
        cosine = np.minimum(block[i, j].astype(np.float64), 1.0)
        out.append((rows_kept[i + lo], rows_kept[j + lo], 100.0 * cosine))
    return tuple(np.concatenate(parts) for parts in zip(*out))


# --- clusters --------------------------------------------------------------------------------


def _clusters(ids: list[int], link_a, link_b, score, preferred: set[int]) -> list[Cluster]:
    """Union-find over the links, strongest first (Kruskal), so each cluster knows the weakest
    link of its maximum spanning tree. ``O(links·log links)``."""
    parent = list(range(len(ids)))
    weakest = [100.0] * len(ids)

    def find(x: int) -> int:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    order = np.lexsort((link_b, link_a, -score))
    for a, b, s in zip(link_a[order].tolist(), link_b[order].tolist(), score[order].tolist()):
        root_a, root_b = find(a), find(b)
        if root_a != root_b:
            parent[root_b] = root_a
            weakest[root_a] = min(weakest[root_a], weakest[root_b], s)

    groups: dict[int, list[int]] = {}
    for index in range(len(ids)):
        groups.setdefault(find(index), []).append(ids[index])
    clusters = []
    for root, members in groups.items():
        if len(members) > 1:
            members.sort()
            favoured = [m for m in members if m in preferred]
            clusters.append(Cluster(favoured[0] if favoured else members[0], tuple(members), weakest[root]))
    clusters.sort(key=lambda c: c.keep)
    return clusters
