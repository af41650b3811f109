"""Checks on a project's pool of pairs: near-duplicates, coverage, and language fidelity.

Each function reads the store, changes only what it says, and returns a summary to show. The LLM
judge lives in :mod:`dataset_gen.judge`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from opencc import OpenCC

from .duplicates import Cluster, duplicate_rate, find_duplicates
from .language import detect_language, language_matches
from .locks import ProjectLock, project_locked


@dataclass(frozen=True)
class DedupeSummary:
    """``clusters`` found among ``pairs`` questions; ``rate_before`` is the share of those pairs
    that are near-duplicates of another (0–1); ``rate_after`` the share left among the pairs kept
    (0 by construction: one pair per cluster is kept)."""

    pairs: int
    clusters: list[Cluster]
    rate_before: float
    rate_after: float


def mark_duplicates(store, project_id: int, *, threshold: float = 90.0, backend=None,
                    embedding_model: str = "", cosine_threshold: float = 0.92,
                    lock: ProjectLock | None = None) -> DedupeSummary:
    """Cluster the project's questions (rejected pairs aside) and mark every member but the kept
    one as a duplicate of it; earlier marks are replaced. Accepted or edited pairs are kept over
    others. With ``backend`` and ``embedding_model``, the server's embeddings (:meth:`Backend.embed`) also link
    questions worded differently.

    Holds the project's lock (:func:`dataset_gen.locks.project_locked`: ``lock`` when the caller
    holds it): marks made while a run still adds pairs would be cleared by the next.

    :raises BackendError: the embedding model cannot be reached or is not pulled.
    :raises ProjectBusyError: another command or run is working on the project.
    """
    with project_locked(store, project_id, lock):
        return _mark_duplicates(store, project_id, threshold, backend, embedding_model, cosine_threshold)


def _mark_duplicates(store, project_id: int, threshold: float, backend, embedding_model: str,
                     cosine_threshold: float) -> DedupeSummary:
    pairs = store.list_pairs(project_id, statuses=("generated", "accepted"))
    items = [(p.id, p.question) for p in pairs]
    embeddings = None
    if backend is not None and embedding_model and items:
        vectors = backend.embed(embedding_model, [q for _, q in items])
        embeddings = {pair_id: vector for (pair_id, _), vector in zip(items, vectors)}
    preferred = [p.id for p in pairs if p.status == "accepted" or p.edited]
    clusters = find_duplicates(items, threshold=threshold, preferred=preferred, embeddings=embeddings,
                               cosine_threshold=cosine_threshold)
    store.set_duplicates(project_id, {m: c.keep for c in clusters for m in c.members if m != c.keep})
    kept = [item for item in items if item[0] not in {m for c in clusters for m in c.members if m != c.keep}]
    after = duplicate_rate(kept, find_duplicates(kept, threshold=threshold)) if kept else 0.0
    return DedupeSummary(len(items), clusters, duplicate_rate(items, clusters) if items else 0.0, after)


@dataclass(frozen=True)
class DocumentCoverage:
    """Per document: chunks, chunks with at least one usable pair, pairs (rejected and duplicates
    aside), accepted pairs, and chunks held back from the model as junk (``skipped``: a skip
    reason and no override, see :mod:`dataset_gen.junk`)."""

    document_id: int
    document: str
    chunks: int
    covered: int
    pairs: int
    accepted: int
    skipped: int = 0


@dataclass(frozen=True)
class UncoveredChunk:
    """A chunk without a usable pair, and why."""

    chunk_id: int
    document: str
    ordinal: int
    heading_path: tuple[str, ...]
    reason: str


def coverage(store, project_id: int) -> tuple[list[DocumentCoverage], list[UncoveredChunk]]:
    """Pairs per document and per chunk; every chunk without a usable pair with the reason:
    ``"skipped: <skip reason>"`` for a chunk not sent to the model as junk (e.g.
    ``"skipped: table of contents"``), not generated yet, failed (with the error), no pairs from
    the model, all rejected, or only near-duplicates of pairs elsewhere."""
    usable: dict[int, int] = {}
    accepted: dict[int, int] = {}
    states: dict[int, list] = {}
    for pair in store.list_pairs(project_id):
        states.setdefault(pair.chunk_id, []).append(pair)
        if pair.status != "rejected" and pair.duplicate_of is None:
            usable[pair.chunk_id] = usable.get(pair.chunk_id, 0) + 1
        if pair.status == "accepted":
            accepted[pair.chunk_id] = accepted.get(pair.chunk_id, 0) + 1
    per_document: dict[int, list] = {}
    uncovered = []
    for chunk in store.list_chunks(project_id):
        per_document.setdefault(chunk.document_id, []).append(chunk)
        if usable.get(chunk.id):
            continue
        pairs = states.get(chunk.id, [])
        if chunk.skipped and not pairs:
            reason = f"skipped: {chunk.skip_reason}"
        elif chunk.gen_status == "pending":
            reason = "not generated yet"
        elif chunk.gen_status == "failed" and not pairs:
            reason = f"generation failed: {chunk.gen_error}"
        elif not pairs:
            reason = "the model gave no pairs"
        elif all(p.status == "rejected" for p in pairs):
            reason = f"all {len(pairs)} pairs rejected"
        else:
            reason = "only near-duplicates of pairs kept elsewhere"
        uncovered.append(UncoveredChunk(chunk.id, chunk.document, chunk.ordinal, chunk.heading_path, reason))
    documents = [
        DocumentCoverage(doc_id, chunks[0].document, len(chunks), sum(1 for c in chunks if usable.get(c.id)),
                         sum(usable.get(c.id, 0) for c in chunks), sum(accepted.get(c.id, 0) for c in chunks),
                         sum(1 for c in chunks if c.skipped))
        for doc_id, chunks in per_document.items()
    ]
    return documents, uncovered


@lru_cache(maxsize=1)
def _to_traditional() -> OpenCC:
    return OpenCC("s2twp")  # Simplified to Traditional, Taiwan standard, with Taiwanese phrasing


def to_traditional(text: str) -> str:
    """``text`` converted from Simplified to Traditional Chinese (OpenCC ``s2twp``: Taiwan
    standard, with Taiwanese phrasing); text already Traditional, or not Chinese, is unchanged."""
    return _to_traditional().convert(text)


def convert_to_traditional(store, project_id: int) -> int:
    """Convert the Simplified Chinese pairs of Traditional Chinese documents to Traditional with
    OpenCC (``s2twp``), recorded as edits (the model's text is kept as the original). Returns how
    many pairs changed. Pairs of other documents, and pairs already in the right script, are left."""
    languages: dict[str, str] = {}
    changed = 0
    for pair in store.list_pairs(project_id, language_ok=False):
        if pair.document not in languages:
            languages[pair.document] = detect_language(pair.chunk_text)
        if languages[pair.document] != "zh-TW":
            continue
        question = _to_traditional().convert(pair.question)
        answer = _to_traditional().convert(pair.answer)
        if (question, answer) != (pair.question, pair.answer):
            store.update_pair(pair.id, question=question if question != pair.question else None,
                              answer=answer if answer != pair.answer else None)
            changed += 1
        store.set_language_ok(pair.id, language_matches(f"{question} {answer}", "zh-TW"))
    return changed
