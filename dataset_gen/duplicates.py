"""Near-duplicate questions within a project, grouped into clusters.

Two questions *link* when

* their normalised texts (:func:`normalise`: Unicode NFKC, case folded, punctuation, whitespace and
  control characters removed) have a rapidfuzz ``fuzz.ratio`` of at least ``threshold`` (0–100), or
* both have an embedding and the cosine similarity of the two vectors is at least
  ``cosine_threshold`` (−1–1).

A cluster is a connected component of links (union-find), so links are transitive: A~B and B~C put
A, B and C together even when A and C do not link.

``fuzz.ratio`` is a character-level score, ``100 · 2·LCS / (len a + len b)`` (Indel distance), the
same for every script: Chinese and Japanese have no spaces between words, so word-based scorers
(``token_sort_ratio`` and the like) would compare whole sentences as one token there. Reworded or
reordered questions are what the embeddings are for.

Scale: an all-pairs comparison is quadratic (50,000 questions = 1.25e9 pairs). Instead, candidate
pairs come from *prefix filtering* over character 3-grams, which loses no pair at or above the
threshold (see :func:`_text_links`); only candidates are scored with rapidfuzz. Exact duplicates
after normalisation are grouped by hashing before that. Embeddings are compared with a blocked
matrix product, so memory stays at ``block × n`` floats whatever ``n`` is.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz, process

Q = 3
"""Length of the character grams (q-grams) used to find candidate pairs."""

_PAIR_BATCH = 2_000_000
"""Candidate pairs scored per rapidfuzz call; bounds the memory of the candidate arrays."""

_EMBEDDING_BLOCK = 512
"""Rows of the cosine matrix computed at once: ``512 × n`` float32 values (100 MB for n = 50,000)."""

_DROP = frozenset({"Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "Zs", "Zl", "Zp", "Cc", "Cf"})
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Cluster:
    """Questions that are near-duplicates of one another.

    ``keep`` is the id to keep (the lowest preferred id in the cluster, else the lowest id);
    ``members`` are all ids, ``keep`` included, ascending; ``similarity`` (0–100) is the weakest
    link needed to hold the cluster together: the lowest score on its maximum spanning tree, i.e.
    the highest threshold at which all members would still be one cluster. A cosine link counts
    as ``100 × cosine``.
    """

    keep: int
    members: tuple[int, ...]
    similarity: float


def normalise(text: str) -> str:
    """The form in which questions are compared: NFKC (full-width letters, digits and punctuation
    become half-width), case folded, with every punctuation, whitespace and control or format
    character removed. Symbols (``+ % $ °``) and all letters and digits stay.

    >>> normalise("  What PORT does Ｏｌｌａｍａ use？ ")
    'whatportdoesollamause'
    """
    text = _SPACE.sub("", unicodedata.normalize("NFKC", text).casefold())
    if text.isascii():
        return "".join(ch for ch in text if ch.isalnum() or unicodedata.category(ch) not in _DROP)
    return "".join(ch for ch in text if unicodedata.category(ch) not in _DROP)


def find_duplicates(
    items: Sequence[tuple[int, str]],
    *,
    threshold: float = 90.0,
    preferred: Collection[int] = (),
    embeddings: Mapping[int, Sequence[float]] | None = None,
    cosine_threshold: float = 0.92,
) -> list[Cluster]:
    """Clusters of near-duplicate questions, as described in the module docstring.

    ``items``: ``(id, question text)``, ids unique. ``threshold``: lowest ``fuzz.ratio`` (0–100) of
    the normalised texts that links two questions. ``preferred``: ids to keep over the others in
    their cluster (e.g. pairs a person accepted or edited); among several, the lowest. ``embeddings``:
    id → vector (all of one dimension); ids without one, or with a zero vector, link by text only.
    ``cosine_threshold``: lowest cosine similarity that links two embedded questions.

    Returns clusters of two or more members, sorted by ``keep``.

    Cost for ``n`` questions of ``L`` characters: ``O(n·L·log(n·L))`` to index the 3-grams, plus
    one rapidfuzz ratio (``O(L²/64)``) per candidate pair; candidates are pairs that share one of
    their rarest grams, a small multiple of the true links on real questions. 50,000 questions
    take seconds on two cores. With embeddings, ``O(m²·dim)`` for ``m`` embedded questions, in
    blocks of :data:`_EMBEDDING_BLOCK` rows.
    """
    ids = [int(item_id) for item_id, _ in items]
    if len(set(ids)) != len(ids):
        raise ValueError("item ids must be unique")
    if not ids:
        return []
    keys = [normalise(text) for _, text in items]

    # Exact duplicates after normalisation: one representative per distinct key.
    first: dict[str, int] = {}
    rep = np.empty(len(ids), dtype=np.int64)
    for index, key in enumerate(keys):
        rep[index] = first.setdefault(key, index)
    unique_index = np.fromiter(first.values(), dtype=np.int64, count=len(first))
    exact = np.nonzero(rep != np.arange(len(ids)))[0]

    links_a = [rep[exact]]
    links_b = [exact]
    scores = [np.full(len(exact), 100.0)]

    ua, ub, us = _text_links(list(first), threshold)
    links_a.append(unique_index[ua])
    links_b.append(unique_index[ub])
    scores.append(us)

    if embeddings:
        ea, eb, es = _embedding_links(ids, embeddings, cosine_threshold)
        links_a.append(ea)
        links_b.append(eb)
        scores.append(es)

    return _clusters(
        ids,
        np.concatenate(links_a),
        np.concatenate(links_b),
        np.concatenate(scores),
        set(preferred),
    )


def duplicate_rate(items: Sequence[tuple[int, str]], clusters: Sequence[Cluster]) -> float:
    """Share (0–1) of ``items`` that are in a cluster but not its kept member; 0.0 for no items."""
    if not items:
        return 0.0
    present = {int(item_id) for item_id, _ in items}
    surplus = sum(1 for c in clusters for m in c.members if m != c.keep and m in present)
    return surplus / len(present)


# --- text links ------------------------------------------------------------------------------


def _min_overlap(length: int, threshold: float) -> int:
    """Lowest number of padded 3-grams (counted with multiplicity) that a text of ``length``
    characters shares with any text whose ``fuzz.ratio`` with it is ``≥ threshold``; ``≤ 0`` when
    no such bound exists.

    Pad both texts with ``Q − 1`` sentinels at each end, so a text of ``a`` characters has
    ``a + Q − 1`` grams. Take an alignment with ``L`` = LCS: ``a − L`` characters are deleted from
    the first text and ``b − L`` inserted. A deleted character spoils the ``Q`` grams that contain
    it; an insertion spoils the ``Q − 1`` grams spanning its gap. Every other gram of the first text
    appears in the second, so they share at least ``a + Q − 1 − Q·(a − L) − (Q − 1)·(b − L)``
    grams, and symmetrically. ``ratio ≥ t`` means ``L ≥ t·(a + b)/200``; the bound is the least over
    all lengths ``b`` the partner may have.
    """
    t = threshold / 100.0
    best = None
    b_low = max(0, math.floor(length * t / (2.0 - t)) - 1)
    b_high = math.ceil(length * (2.0 - t) / t) + 1 if t > 0 else 10 * length + 10
    for b in range(b_low, b_high + 1):
        lcs = max(0, math.ceil(t * (length + b) / 2.0 - 1e-9))
        if lcs > min(length, b):
            continue
        ours = length + Q - 1 - Q * (length - lcs) - (Q - 1) * (b - lcs)
        theirs = b + Q - 1 - Q * (b - lcs) - (Q - 1) * (length - lcs)
        bound = max(ours, theirs)
        best = bound if best is None else min(best, bound)
    return 0 if best is None else best


def _text_links(keys: list[str], threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs ``(i, j, ratio)`` with ``i < j`` (indexes into ``keys``, which are distinct and
    normalised) whose ``fuzz.ratio`` is at least ``threshold``.

    Prefix filtering: every text becomes the set of its padded 3-grams, each tagged with its
    occurrence number (the 2nd "the" differs from the 1st), so set overlap equals multiset overlap.
    Grams are ranked rarest first over all texts. If two texts must share at least ``o`` grams
    (:func:`_min_overlap`), each text's ``size − o + 1`` rarest grams contain one they share.
    So candidates are the pairs sharing a gram within those prefixes; rare grams have short
    posting lists, which keeps the candidates few. Candidates are filtered by length, then scored
    with ``rapidfuzz.process.cpdist``.
    """
    empty = (np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float64))
    n = len(keys)
    if n < 2:
        return empty
    lengths = np.fromiter((len(k) for k in keys), dtype=np.int64, count=n)

    # Code points of all padded texts, end to end. "\x00"/"\x01" never survive normalise().
    pad_l, pad_r = "\x00" * (Q - 1), "\x01" * (Q - 1)
    joined = "".join(pad_l + k + pad_r for k in keys)
    codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    padded = lengths + 2 * (Q - 1)
    starts = np.concatenate(([0], np.cumsum(padded)[:-1]))
    grams_per_text = lengths + Q - 1
    owner = np.repeat(np.arange(n), grams_per_text)
    offset = np.arange(owner.size) - np.repeat(np.cumsum(grams_per_text) - grams_per_text, grams_per_text)
    position = starts[owner] + offset
    gram = codes[position] << np.uint64(42) | codes[position + 1] << np.uint64(21) | codes[position + 2]

    # Tokens: (gram, occurrence number within its text).
    gram_ids = np.unique(gram, return_inverse=True)[1].astype(np.int64)
    order = np.lexsort((gram_ids, owner))
    sorted_owner, sorted_gram = owner[order], gram_ids[order]
    run_start = np.ones(order.size, dtype=bool)
    run_start[1:] = (sorted_owner[1:] != sorted_owner[:-1]) | (sorted_gram[1:] != sorted_gram[:-1])
    run_first = np.maximum.accumulate(np.where(run_start, np.arange(order.size), 0))
    occurrence = np.arange(order.size) - run_first
    token_key = occurrence * (int(sorted_gram.max()) + 1) + sorted_gram
    token, frequency = np.unique(token_key, return_inverse=True, return_counts=True)[1:]

    # Rank tokens rarest first (ties by token id), then keep each text's prefix.
    rank_of = np.empty(frequency.size, dtype=np.int64)
    rank_of[np.lexsort((np.arange(frequency.size), frequency))] = np.arange(frequency.size)
    rank = rank_of[token]
    by_text = np.lexsort((rank, sorted_owner))
    entry_owner, entry_rank = sorted_owner[by_text], rank[by_text]
    first_of_text = np.concatenate(([0], np.cumsum(grams_per_text)[:-1]))
    within = np.arange(entry_owner.size) - first_of_text[entry_owner]
    overlap_cache: dict[int, int] = {}
    min_overlap = np.fromiter(
        (overlap_cache.setdefault(a, _min_overlap(a, threshold)) for a in lengths.tolist()),
        dtype=np.int64,
        count=n,
    )
    prefix = np.where(min_overlap >= 1, grams_per_text - min_overlap + 1, grams_per_text)
    in_prefix = within < prefix[entry_owner]
    entry_owner, entry_rank = entry_owner[in_prefix], entry_rank[in_prefix]
    shared = frequency[token[by_text][in_prefix]] > 1  # a token only this text has pairs with none
    entry_owner, entry_rank = entry_owner[shared], entry_rank[shared]

    # Posting lists: entries grouped by token, texts ascending within a group.
    group_order = np.lexsort((entry_owner, entry_rank))
    post_owner, post_rank = entry_owner[group_order], entry_rank[group_order]
    return _pairs_in_groups(post_owner, post_rank, keys, lengths, threshold)


def _pairs_in_groups(owner, group, keys, lengths, threshold):
    """Score every pair of texts within each posting list, in batches of :data:`_PAIR_BATCH`."""
    t = threshold / 100.0
    size = owner.size
    new_group = np.ones(size, dtype=bool)
    new_group[1:] = group[1:] != group[:-1]
    group_start = np.maximum.accumulate(np.where(new_group, np.arange(size), 0))
    before = np.arange(size) - group_start  # pairs each entry makes with earlier entries of its group
    cumulative = np.cumsum(before)

    out_a, out_b, out_s = [], [], []
    lo = 0
    while lo < size:
        hi = int(np.searchsorted(cumulative, (cumulative[lo - 1] if lo else 0) + _PAIR_BATCH, "right"))
        hi = max(hi, lo + 1)
        count = before[lo:hi]
        right = np.repeat(np.arange(lo, hi), count)
        step = np.arange(right.size) - np.repeat(np.cumsum(count) - count, count)
        left = group_start[right] + step
        a, b = owner[left], owner[right]
        pair = np.unique(a * len(keys) + b)
        a, b = pair // len(keys), pair % len(keys)
        la, lb = lengths[a], lengths[b]
        fits = (np.minimum(la, lb) * 2 >= t * (la + lb) - 1e-9)
        a, b = a[fits], b[fits]
        if a.size:
            score = process.cpdist(
                [keys[i] for i in a.tolist()],
                [keys[i] for i in b.tolist()],
                scorer=fuzz.ratio,
                score_cutoff=threshold,
                workers=-1,
            )
            hit = score >= threshold
            out_a.append(a[hit])
            out_b.append(b[hit])
            out_s.append(score[hit].astype(np.float64))
        lo = hi
    if not out_a:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float64)
    return np.concatenate(out_a), np.concatenate(out_b), np.concatenate(out_s)


# --- embedding links -------------------------------------------------------------------------


def _embedding_links(ids, embeddings, cosine_threshold):
    """Pairs ``(i, j, 100·cosine)`` (indexes into ``ids``, ``i < j``) with cosine ≥ threshold."""
    rows = [index for index, item_id in enumerate(ids) if item_id in embeddings]
    empty = (np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float64))
    if len(rows) < 2:
        return empty
    matrix = np.asarray([np.asarray(embeddings[ids[r]], dtype=np.float32) for r in rows])
    if matrix.ndim != 2:
        raise ValueError("embeddings must all have the same dimension")
    norms = np.linalg.norm(matrix, axis=1)
    keep = norms > 0
    matrix = matrix[keep] / norms[keep, None]
    rows = np.asarray(rows, dtype=np.int64)[keep]
    out_a, out_b, out_s = [], [], []
    for lo in range(0, len(rows), _EMBEDDING_BLOCK):
        block = matrix[lo : lo + _EMBEDDING_BLOCK] @ matrix[lo:].T
        i, j = np.nonzero(block >= cosine_threshold)
        j += lo
        upper = j > i + lo
        i, j = i[upper] + lo, j[upper]
        out_a.append(rows[i])
        out_b.append(rows[j])
        out_s.append(np.minimum(100.0, 100.0 * block[i - lo, j - lo].astype(np.float64)))
    return np.concatenate(out_a), np.concatenate(out_b), np.concatenate(out_s)


# --- clusters --------------------------------------------------------------------------------


def _clusters(ids, link_a, link_b, link_score, preferred) -> list[Cluster]:
    """Kruskal over the links, strongest first: union-find components, each with its weakest
    spanning-tree link."""
    parent = list(range(len(ids)))
    weakest = [100.0] * len(ids)

    def find(x: int) -> int:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    order = np.lexsort((link_b, link_a, -link_score))
    for a, b, s in zip(link_a[order].tolist(), link_b[order].tolist(), link_score[order].tolist()):
        ra, rb = find(a), find(b)
        if ra == rb:
            continue
        parent[rb] = ra
        weakest[ra] = min(weakest[ra], weakest[rb], s)

    groups: dict[int, list[int]] = {}
    for index in range(len(ids)):
        groups.setdefault(find(index), []).append(index)
    clusters = []
    for root, members in groups.items():
        if len(members) < 2:
            continue
        member_ids = tuple(sorted(ids[m] for m in members))
        favoured = [m for m in member_ids if m in preferred]
        keep = favoured[0] if favoured else member_ids[0]
        clusters.append(Cluster(keep, member_ids, round(weakest[root], 4)))
    clusters.sort(key=lambda c: c.keep)
    return clusters
