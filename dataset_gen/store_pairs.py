"""The store's QA-pair methods: saving a chunk's generated pairs, listing, review and editing.

:class:`PairMethods` is mixed into :class:`dataset_gen.store.Store`, which supplies the connection,
the lock and the ``_write``/``_read`` context managers used here.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any

from .errors import StoreError
from .models import QAPair, StoredPair
from .store_generated import check_chunk_and_run, insert_generated
from .store_review import StaleEditError, recheck
from .store_rows import PAIR_STATUSES, checked, placeholders, utc_now
from .store_turns import sync_first_turns, with_turns

# Column order matters: _stored_pair unpacks the rows by position.
_COLUMNS = """
SELECT p.id, pr.name, p.question, p.answer, p.evidence, p.grounded, p.status, p.edited,
       coalesce(d.name, ''), p.chunk_id, coalesce(c.ordinal, 0), coalesce(c.heading_path, '[]'),
       coalesce(c.start, 0), coalesce(c."end", 0), c.page_start, c.page_end,
       r.model, r.prompt_name, r.prompt_version, p.run_id, p.created_at, p.updated_at,
       p.original_question, p.original_answer, coalesce(c.text, ''),
       p.question_type, p.reasoning, p.audience, p.context_chunk_ids, p.faithfulness, p.relevance,
       p.clarity, p.judge_reason, p.duplicate_of, p.language_ok, p.revision, p.flags, p.kind, p.origin,
       p.choices, p.split, p.tag_id
"""
_PAIR_SELECT = _COLUMNS + """
FROM qa_pairs p
LEFT JOIN chunks c ON c.id = p.chunk_id
LEFT JOIN documents d ON d.id = c.document_id
JOIN projects pr ON pr.id = p.project_id
JOIN runs r ON r.id = p.run_id
"""
# The same rows for items with a chunk, read in _ORDER without sorting them all: documents by the
# documents_by_project index (name, id), their chunks by (document_id, ordinal), then each chunk's
# pairs (CROSS JOIN keeps SQLite to that loop order), so a page costs what it shows.
_DOCUMENT_PAIR_SELECT = _COLUMNS + """
FROM documents d
CROSS JOIN chunks c ON c.document_id = d.id
CROSS JOIN qa_pairs p ON p.chunk_id = c.id
JOIN projects pr ON pr.id = p.project_id
JOIN runs r ON r.id = p.run_id
"""

# Items without a chunk (made from the model's own knowledge or from examples) sort first.

_ORDER = " ORDER BY d.name, d.id, c.ordinal, p.id"

# Ids per statement when a list of ids is expanded into ``IN (...)`` (SQLite's parameter limit).
_BATCH = 500


def _filters(
    project_id: int,
    *,
    statuses: Iterable[str] | None = None,
    document_id: int | None = None,
    grounded: bool | None = None,
    edited: bool | None = None,
    search: str | None = None,
    question_type: str | None = None,
    duplicate: bool | None = None,
    language_ok: bool | None = None,
    score_below: int | None = None,
    flag: str | None = None,
    run_id: int | None = None,
    kind: str | None = None,
    origin: str | None = None,
    split: str | None = None,
    tag_id: int | None = None,
) -> tuple[str, list[Any]]:
    """The ``WHERE`` clause and its parameters for the pair filters (all combine with AND;
    ``None`` means any): ``statuses``; ``document_id``; ``grounded``; ``edited``; ``search``
    (case-insensitive substring of question or answer); ``question_type``; ``duplicate`` (a
    near-duplicate of a kept pair or not); ``language_ok``; ``score_below`` (judged, with the
    lowest of the three judge scores below this value); ``flag`` (a reason code of
    :data:`dataset_gen.checks.REASONS` among the pair's flags); ``run_id`` (made by that run);
    ``kind`` (an :class:`dataset_gen.models.ItemKind` value); ``origin`` (an
    :class:`dataset_gen.models.Origin` value); ``split`` (``"train"``, ``"validation"``, ``"test"``); ``tag_id`` (tagged with that tag or one
of its children; ``0``: items with no tag)."""
    where = ["p.project_id = ?"]
    params: list[Any] = [project_id]
    wanted = checked(statuses, PAIR_STATUSES, "pair status")
    if wanted is not None:
        if not wanted:
            where.append("0")
        else:
            where.append(f"p.status IN ({placeholders(len(wanted))})")
            params.extend(wanted)
    for column, value in (("c.document_id", document_id), ("p.grounded", grounded), ("p.edited", edited),
                          ("p.question_type", question_type), ("p.language_ok", language_ok),
                          ("p.run_id", run_id), ("p.kind", kind), ("p.origin", origin), ("p.split", split)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(int(value) if isinstance(value, bool) else value)
    if tag_id is not None:
        if tag_id == 0:
            where.append("p.tag_id IS NULL")
        else:
            where.append("(p.tag_id = ? OR p.tag_id IN (SELECT id FROM tags WHERE parent_id = ?))")
            params.extend([tag_id, tag_id])
    if duplicate is not None:
        where.append("p.duplicate_of IS NOT NULL" if duplicate else "p.duplicate_of IS NULL")
    if score_below is not None:
        where.append("p.faithfulness IS NOT NULL AND min(p.faithfulness, p.relevance, p.clarity) < ?")
        params.append(score_below)
    if flag is not None:
        where.append("EXISTS (SELECT 1 FROM json_each(coalesce(p.flags, '[]')) WHERE value = ?)")
        params.append(flag)
    if search:
        needle = search.casefold()
        where.append("(instr(dg_fold(p.question), ?) > 0 OR instr(dg_fold(p.answer), ?) > 0)")
        params.extend([needle, needle])
    return " WHERE " + " AND ".join(where), params


def _chunk_join(filters: Mapping[str, Any]) -> str:
    """The join a pair query needs for ``filters``: the chunks table only for a document filter."""
    return " JOIN chunks c ON c.id = p.chunk_id" if filters.get("document_id") is not None else ""


def _stored_pair(row: tuple, shared: dict[int, tuple[tuple[str, ...], str]]) -> StoredPair:
    """A :class:`StoredPair` from a plain-tuple row of ``_PAIR_SELECT``.

    ``shared`` maps chunk id → (heading path, text) so the pairs of one chunk share those values
    instead of decoding and holding a copy per pair.
    """
    (pair_id, project, question, answer, evidence, grounded, status, edited, document, chunk_id,
     ordinal, heading_json, start, end, page_start, page_end, model, prompt_name, prompt_version,
     run_id, created_at, updated_at, original_question, original_answer, chunk_text,
     question_type, reasoning, audience, context_json, faithfulness, relevance, clarity,
     judge_reason, duplicate_of, language_ok, revision, flags, kind, origin, choices, split, tag_id) = row
    if chunk_id not in shared:
        shared[chunk_id] = (tuple(json.loads(heading_json)), chunk_text)
    heading_path, chunk_text = shared[chunk_id]
    pages = None
    if page_start is not None:
        pages = (page_start, page_end if page_end is not None else page_start)
    return StoredPair(
        pair_id, project, question, answer, evidence, bool(grounded), status, bool(edited),
        document, chunk_id, ordinal, heading_path, start, end, pages, model, prompt_name,
        prompt_version, run_id, created_at, updated_at, original_question, original_answer,
        chunk_text, question_type, reasoning, audience, tuple(json.loads(context_json)), (),
        faithfulness, relevance, clarity, judge_reason, duplicate_of, bool(language_ok), revision,
        tuple(json.loads(flags)) if flags else (), kind, origin, tuple(json.loads(choices)), split, tag_id=tag_id,
    )


def _select_pairs(conn: sqlite3.Connection, sql: str, params: list | tuple) -> list[StoredPair]:
    cursor = conn.cursor()
    cursor.row_factory = None
    shared: dict[int, tuple[tuple[str, ...], str]] = {}
    pairs = with_turns(cursor.connection, [_stored_pair(row, shared) for row in cursor.execute(sql, params)])
    wanted = sorted({i for p in pairs for i in p.context_chunk_ids})
    if not wanted:
        return pairs
    texts: dict[int, str] = {}
    for first in range(0, len(wanted), _BATCH):
        batch = wanted[first:first + _BATCH]
        texts.update(cursor.execute(f"SELECT id, text FROM chunks WHERE id IN ({placeholders(len(batch))})", batch))
    return [
        replace(p, context_texts=tuple(texts[i] for i in p.context_chunk_ids if i in texts))
        if p.context_chunk_ids else p
        for p in pairs
    ]


def _no_pair(pair_id: int) -> str:
    return f"No QA pair with id {pair_id}: it may have been deleted or regenerated"


class PairMethods:
    """Pair methods of :class:`dataset_gen.store.Store` (see there for threading)."""

    _write: Callable[[], AbstractContextManager[sqlite3.Connection]]
    _read: Callable[[], AbstractContextManager[sqlite3.Connection]]

    def save_chunk_pairs(self, chunk_id: int, run_id: int, pairs: list[QAPair]) -> list[int]:
        """Store a chunk's freshly generated pairs; return their ids in order.

        In one transaction: deletes the chunk's pairs that are still ``"generated"`` and not
        edited, of the kinds of ``pairs`` (``"qa"`` when empty; a re-generation replaces them;
        accepted, rejected or edited pairs, and items of other kinds, are kept),
        inserts ``pairs`` with status ``"generated"``, and marks the chunk ``"done"`` by
        ``run_id`` with no error. An empty ``pairs`` still marks the chunk done.

        :raises StoreError: the chunk or the run does not exist, or they belong to different
            projects.
        """
        now = utc_now()
        with self._write() as conn:
            check_chunk_and_run(conn, chunk_id, run_id)
            kinds = sorted({p.kind for p in pairs} or {"qa"})  # items of another kind are not replaced
            conn.execute(
                "DELETE FROM qa_pairs WHERE chunk_id = ? AND status = 'generated' AND edited = 0"
                f" AND kind IN ({placeholders(len(kinds))})",
                (chunk_id, *kinds),
            )
            ids = insert_generated(conn, chunk_id, run_id, pairs, now)
            conn.execute(
                "UPDATE chunks SET gen_status = 'done', gen_error = NULL, run_id = ?,"
                " updated_at = ? WHERE id = ?",
                (run_id, now, chunk_id),
            )
        return ids

    def list_pairs(
        self, project_id: int, *, limit: int | None = None, offset: int = 0, **filters: Any
    ) -> list[StoredPair]:
        """The project's pairs, ordered by document name, chunk ordinal and pair id.

        ``filters`` are those of :func:`_filters` (status, document, grounding, edited, search,
        question type, duplicate, language, judge score); ``search`` uses Unicode case folding, so
        it works for any script. ``limit`` and ``offset`` page through the result.

        :raises ValueError: an unknown status.
        """
        where, params = _filters(project_id, **filters)
        if limit is None and not offset:
            with self._read() as conn:
                return _select_pairs(conn, _PAIR_SELECT + where + _ORDER, params)
        with self._read() as conn:
            # a page: the items with no chunk sort first (a document filter leaves them out), then
            # the document items, read in _ORDER without sorting them all
            free = 0 if filters.get("document_id") is not None else conn.execute(
                "SELECT count(*) FROM qa_pairs p" + where + " AND p.chunk_id IS NULL", params).fetchone()[0]
            page = _select_pairs(
                conn, _PAIR_SELECT + where + " AND p.chunk_id IS NULL ORDER BY p.id LIMIT ? OFFSET ?",
                [*params, -1 if limit is None else limit, offset]) if offset < free else []
            left = -1 if limit is None else limit - len(page)
            if left == 0:
                return page
            return page + _select_pairs(
                conn, _DOCUMENT_PAIR_SELECT + where + " AND d.project_id = ?" + _ORDER + " LIMIT ? OFFSET ?",
                [*params, project_id, left, max(offset - free, 0)])

    def count_pairs(self, project_id: int, **filters: Any) -> int:
        """How many pairs :meth:`list_pairs` would return with the same filters and no limit.

        :raises ValueError: an unknown status.
        """
        where, params = _filters(project_id, **filters)
        sql = "SELECT count(*) FROM qa_pairs p" + _chunk_join(filters) + where
        with self._read() as conn:
            return conn.execute(sql, params).fetchone()[0]

    def pair_ids(self, project_id: int, **filters: Any) -> list[int]:
        """Ids of the pairs :meth:`list_pairs` would return, in the same order, without loading
        the pairs (for "accept all filtered" on tens of thousands of pairs).

        :raises ValueError: an unknown status.
        """
        where, params = _filters(project_id, **filters)
        sql = ("SELECT p.id FROM qa_pairs p LEFT JOIN chunks c ON c.id = p.chunk_id"
               " LEFT JOIN documents d ON d.id = c.document_id" + where + _ORDER)
        with self._read() as conn:
            return [row[0] for row in conn.execute(sql, params)]

    def pair_lengths(self, project_id: int) -> list[tuple[str, str, int, int]]:
        """``(document name, status, question characters, answer characters)`` for every pair of
        the project, computed in SQL (for statistics over large projects)."""
        with self._read() as conn:
            return [tuple(row) for row in conn.execute(
                "SELECT coalesce(d.name, ''), p.status, length(p.question), length(p.answer) FROM qa_pairs p"
                " LEFT JOIN chunks c ON c.id = p.chunk_id LEFT JOIN documents d ON d.id = c.document_id"
                " WHERE p.project_id = ?" + _ORDER, (project_id,))]

    def set_judgement(self, pair_id: int, faithfulness: int, relevance: int, clarity: int, reason: str) -> None:
        """Store a judge's scores (each 1–5) and one-line reason for a pair, at its current
        revision (``judged_revision``; :meth:`~dataset_gen.store_review.ReviewMethods.stale_judgements`).

        :raises StoreError: no such pair. :raises ValueError: a score outside 1–5.
        """
        scores = (faithfulness, relevance, clarity)
        if any(not isinstance(v, int) or not 1 <= v <= 5 for v in scores):
            raise ValueError(f"Judge scores must be whole numbers from 1 to 5, got {scores}")
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE qa_pairs SET faithfulness = ?, relevance = ?, clarity = ?, judge_reason = ?,"
                " judged_revision = revision WHERE id = ?",  # stale once the text moves on: store_review
                (*scores, reason, pair_id))
            if cursor.rowcount == 0:
                raise StoreError(_no_pair(pair_id))

    def set_language_ok(self, pair_id: int, ok: bool) -> None:
        """Record whether the pair's language and script match its document's."""
        with self._write() as conn:
            if conn.execute("UPDATE qa_pairs SET language_ok = ? WHERE id = ?", (int(ok), pair_id)).rowcount == 0:
                raise StoreError(_no_pair(pair_id))

    def set_duplicates(self, project_id: int, duplicate_of: dict[int, int]) -> None:
        """Record near-duplicates: ``duplicate_of`` maps a pair id to the id kept in its cluster.
        Every other pair of the project is cleared (one transaction), so the mapping is the whole
        current clustering."""
        with self._write() as conn:
            conn.execute(
                "UPDATE qa_pairs SET duplicate_of = NULL WHERE project_id = ?", (project_id,))
            conn.executemany("UPDATE qa_pairs SET duplicate_of = ? WHERE id = ?",
                             [(keep, pair_id) for pair_id, keep in duplicate_of.items()])

    def get_pair(self, pair_id: int) -> StoredPair:
        """One pair with its provenance.

        :raises StoreError: no pair has this id.
        """
        with self._read() as conn:
            found = _select_pairs(conn, _PAIR_SELECT + " WHERE p.id = ?", (pair_id,))
        if not found:
            raise StoreError(_no_pair(pair_id))
        return found[0]

    def update_pair(
        self, pair_id: int, *, question: str | None = None, answer: str | None = None,
        expected_revision: int | None = None,
    ) -> StoredPair:
        """Change a pair's question and/or answer (``None`` keeps it); return the updated pair.

        The first real change copies the model's text to ``original_question``/``original_answer``
        and sets ``edited``; later edits keep those originals. Every real change adds one to
        ``revision`` and re-checks the pair for the new text in the same transaction
        (:func:`dataset_gen.store_review.recheck`: flags, grounding, language, near-duplicate).
        Judge scores are kept (:func:`dataset_gen.store_review.judge_may_be_stale`).
        Text equal to the current text changes nothing. Edited pairs survive
        re-generation of their chunk.

        ``expected_revision`` is the revision the person saw when making the change: when the
        stored revision differs (someone saved the pair since), nothing is written.

        :raises StaleEditError: the stored revision is not ``expected_revision``; the error holds
            the pair as stored now and its message shows that newer text.
        :raises StoreError: no pair has this id, or the new text is empty or only whitespace.
        """
        for label, value in (("question", question), ("answer", answer)):
            if value is not None and not value.strip():
                raise StoreError(
                    f"The {label} of QA pair {pair_id} cannot be empty: type some text"
                )
        with self._write() as conn:
            row = conn.execute(
                "SELECT question, answer, edited, revision FROM qa_pairs WHERE id = ?", (pair_id,)
            ).fetchone()
            if row is None:
                raise StoreError(_no_pair(pair_id))
            if expected_revision is not None and row["revision"] != expected_revision:
                raise StaleEditError(self.get_pair(pair_id), expected_revision)
            new_question = row["question"] if question is None else question
            new_answer = row["answer"] if answer is None else answer
            if (new_question, new_answer) != (row["question"], row["answer"]):
                conn.execute(
                    "UPDATE qa_pairs SET question = ?, answer = ?, edited = 1, updated_at = ?,"
                    " revision = revision + 1,"
                    " original_question = CASE WHEN edited = 1 THEN original_question"
                    " ELSE question END,"
                    " original_answer = CASE WHEN edited = 1 THEN original_answer ELSE answer END"
                    " WHERE id = ?",
                    (new_question, new_answer, utc_now(), pair_id),
                )
                recheck(conn, pair_id)
                sync_first_turns(conn, pair_id, new_question, new_answer)  # a conversation's turns follow
            return self.get_pair(pair_id)

    def set_status(
        self, pair_ids: Iterable[int], status: str, *, expected_revisions: Mapping[int, int] | None = None
    ) -> int:
        """Set the review status of the given pairs; return how many pairs actually changed.

        Unknown ids and pairs already in ``status`` are skipped (not counted). Each changed pair's
        ``revision`` goes up by one.

        ``expected_revisions`` maps pair ids to the revision the person saw: when a pair that
        would change has another revision stored (someone saved it since), no pair is changed.

        :raises StaleEditError: a pair to change has moved on from its expected revision.
        :raises ValueError: ``status`` is not ``"generated"``, ``"accepted"`` or ``"rejected"``.
        """
        checked([status], PAIR_STATUSES, "pair status")
        ids = list(pair_ids)
        changed = 0
        now = utc_now()
        with self._write() as conn:
            if expected_revisions:
                wanted = [i for i in ids if i in expected_revisions]
                for first in range(0, len(wanted), _BATCH):
                    batch = wanted[first:first + _BATCH]
                    for pair_id, revision in conn.execute(
                        f"SELECT id, revision FROM qa_pairs WHERE status != ?"
                        f" AND id IN ({placeholders(len(batch))}) ORDER BY id",
                        [status, *batch],
                    ):
                        if revision != expected_revisions[pair_id]:
                            raise StaleEditError(self.get_pair(pair_id), expected_revisions[pair_id])
            for first in range(0, len(ids), _BATCH):
                batch = ids[first:first + _BATCH]
                cursor = conn.execute(
                    f"UPDATE qa_pairs SET status = ?, updated_at = ?, revision = revision + 1"
                    f" WHERE status != ? AND id IN ({placeholders(len(batch))})",
                    [status, now, status, *batch],
                )
                changed += cursor.rowcount
        return changed

    def status_counts(self, project_id: int) -> dict[str, int]:
        """Pairs per review status, e.g. ``{"generated": 10, "accepted": 4, "rejected": 1}``.

        Every status is present (0 when none).
        """
        counts = dict.fromkeys(PAIR_STATUSES, 0)
        with self._read() as conn:
            for row in conn.execute(
                "SELECT p.status, count(*) FROM qa_pairs p WHERE p.project_id = ? GROUP BY p.status",
                (project_id,),
            ):
                counts[row[0]] = row[1]
        return counts
