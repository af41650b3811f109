"""The store's methods for saving generation as it arrives: one reply's pairs at a time.

:class:`GeneratedPairMethods` is mixed into :class:`dataset_gen.store.Store`, which supplies the
connection, the lock and the ``_write``/``_read`` context managers used here.

A chunk asks the model once per question type. Each reply's pairs are inserted the moment they are
parsed (:meth:`add_pairs`); the chunk stays ``"pending"`` until its last reply, then
:meth:`finish_chunk` marks it ``"done"`` (or ``"failed"``). A run that dies in between loses
nothing: the next run asks only for the question types the chunk has no pairs of yet
(:meth:`fresh_question_types`).

Which pairs belong to a chunk's current text is read from two timestamps: a chunk's
``updated_at`` moves when its text is set (split, edited, merged) and when it is marked done, and
a pair's ``created_at`` is its insert time. Pairs created before the chunk's ``updated_at`` of a
chunk that is not done were made for an older text; :meth:`finish_chunk` replaces the unreviewed
ones, as :meth:`~dataset_gen.store_pairs.PairMethods.save_chunk_pairs` does.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager

from .checks import check_pair
from .choice import CHOICE_TYPES
from .errors import StoreError
from .language import detect_language
from .models import ItemKind, QAPair
from .store_rows import placeholders, utc_now

_BATCH = 500


RUN_KIND = ("(CASE r.prompt_name WHEN 'conversation_generate' THEN 'conversation'"
            " WHEN 'choice_generate' THEN 'choice' ELSE 'qa' END)")
"""SQL: the kind of items generation run ``r`` made, read from the first template it recorded."""


def kind_types(kind: str, question_types: Iterable[str]) -> tuple[str, ...]:
    """The question types a done chunk must hold an item of, for a run of ``kind`` asking for
    ``question_types``: for ``choice`` its types among them; for ``qa`` the others except
    ``comparison`` (it needs a partner chunk, so a chunk alone in its document never gets one);
    for ``conversation`` none (any conversation will do). ``()`` means: any item of ``kind``."""
    if kind == ItemKind.CONVERSATION.value:
        return ()
    wanted = tuple(dict.fromkeys(question_types))
    if kind == ItemKind.CHOICE.value:
        return tuple(t for t in wanted if t in CHOICE_TYPES)
    return tuple(t for t in wanted if t not in CHOICE_TYPES and t != "comparison")


def pair_flags(conn: sqlite3.Connection, pair_id: int, question: str, answer: str) -> list[str]:
    """The reason codes of :func:`dataset_gen.checks.check_pair` for pair ``pair_id`` with this
    question and answer, against its chunk (and a comparison's second chunk) and the language
    detected in that chunk (:func:`dataset_gen.language.detect_language`)."""
    row = conn.execute(
        "SELECT p.evidence, p.question_type, p.context_chunk_ids, c.text, c.heading_path FROM qa_pairs p"
        " JOIN chunks c ON c.id = p.chunk_id WHERE p.id = ?", (pair_id,)).fetchone()
    if row is None:  # an item with no source chunk: nothing to check it against
        return []
    texts = [row[3]] + [found[0] for i in json.loads(row[2])
                        if (found := conn.execute("SELECT text FROM chunks WHERE id = ?", (i,)).fetchone())]
    return list(check_pair(question, answer, row[0], "\n\n".join(texts), detect_language(row[3]),
                           question_type=row[1], heading_path=json.loads(row[4])))


def check_chunk_and_run(conn: sqlite3.Connection, chunk_id: int, run_id: int) -> None:
    """:raises StoreError: the chunk or the run is missing, or they are of different projects."""
    found = conn.execute(
        "SELECT d.project_id AS chunk_project, (SELECT project_id FROM runs WHERE id = ?) AS run_project"
        " FROM chunks c JOIN documents d ON d.id = c.document_id WHERE c.id = ?",
        (run_id, chunk_id),
    ).fetchone()
    if found is None:
        raise StoreError(f"No chunk with id {chunk_id}: it may have been re-chunked")
    if found["run_project"] is None:
        raise StoreError(f"No run with id {run_id}: start a run first")
    if found["run_project"] != found["chunk_project"]:
        raise StoreError(f"Run {run_id} belongs to another project than chunk {chunk_id}")


def insert_generated(conn: sqlite3.Connection, chunk_id: int, run_id: int, pairs: list[QAPair], now: str) -> list[int]:
    """Insert ``pairs`` of a chunk as ``"generated"`` in the open transaction; return their ids in order."""
    before = conn.execute("SELECT coalesce(max(id), 0) FROM qa_pairs").fetchone()[0]
    conn.executemany(
        "INSERT INTO qa_pairs (project_id, chunk_id, run_id, question, answer, evidence, grounded,"
        " status, edited, created_at, updated_at, question_type, reasoning, audience,"
        " context_chunk_ids, language_ok, flags, kind, choices)"
        " VALUES ((SELECT d.project_id FROM chunks c JOIN documents d ON d.id = c.document_id"
        " WHERE c.id = ?), ?, ?, ?, ?, ?, ?, 'generated', 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(chunk_id, chunk_id, run_id, pair.question, pair.answer, pair.evidence, int(pair.grounded),
          now, now, pair.question_type, pair.reasoning, pair.audience,
          json.dumps(list(pair.context_chunk_ids)), int(pair.language_ok), json.dumps(list(pair.flags)),
          pair.kind, json.dumps(list(pair.choices), ensure_ascii=False))
         for pair in pairs],
    )
    # AUTOINCREMENT gives new rows ids above every earlier one, in insertion order.
    return [row[0] for row in conn.execute(
        "SELECT id FROM qa_pairs WHERE chunk_id = ? AND id > ? ORDER BY id", (chunk_id, before))]


class GeneratedPairMethods:
    """Incremental generation methods of :class:`dataset_gen.store.Store` (see there for threading)."""

    _write: Callable[[], AbstractContextManager[sqlite3.Connection]]
    _read: Callable[[], AbstractContextManager[sqlite3.Connection]]
    list_chunks: Callable[..., list]

    def add_pairs(self, chunk_id: int, run_id: int, pairs: list[QAPair]) -> list[int]:
        """Insert one reply's pairs for a chunk with status ``"generated"``; return their ids in
        order. Deletes nothing and leaves the chunk's generation status as it is. An empty
        ``pairs`` inserts nothing.

        :raises StoreError: the chunk or the run does not exist, or they belong to different
            projects.
        """
        now = utc_now()
        with self._write() as conn:
            check_chunk_and_run(conn, chunk_id, run_id)
            return insert_generated(conn, chunk_id, run_id, pairs, now)

    def fill_flags(self, project_id: int) -> int:
        """Compute and store the flags of the project's pairs that have none yet (``flags IS
        NULL``: pairs made before schema version 6) with :func:`pair_flags`; return how many were
        filled. Pairs made since carry the flags of their reply (which also hold ``repeated``)."""
        with self._write() as conn:
            rows = conn.execute(
                "SELECT p.id, p.question, p.answer FROM qa_pairs p WHERE p.project_id = ? AND p.flags IS NULL",
                (project_id,)).fetchall()
            conn.executemany("UPDATE qa_pairs SET flags = ? WHERE id = ?",
                             [(json.dumps(pair_flags(conn, r[0], r[1], r[2])), r[0]) for r in rows])
        return len(rows)

    def lacking_chunk_ids(self, project_id: int, kind: str, question_types: Iterable[str] = (), *,
                          document_ids: Iterable[int] | None = None) -> list[int]:
        """The ids of the project's chunks a generation run of ``kind`` (an
        :class:`~dataset_gen.models.ItemKind` value) asking for ``question_types`` takes, in the
        order of :meth:`~dataset_gen.store_documents.DocumentMethods.list_chunks`: every chunk that
        is not ``"done"``, and every done chunk that a run of another kind marked done (its
        ``run_id``; a run's kind is read from its template, :data:`RUN_KIND`) and that has no item
        of ``kind`` (any status) of some type of :func:`kind_types` (for a conversation: no
        conversation). A chunk a run of ``kind`` marked done is not taken again even when the model
        gave nothing for it (re-asking it every run would never end). Chunks generation leaves
        out (a skip reason, not sent anyway) are never taken; ``document_ids`` limits it to those
        documents. This is the one rule of the CLI, the app's Generate page and
        :func:`dataset_gen.generation.run_generation`: items of another kind neither make a chunk
        done for this kind nor are replaced by it."""
        types = kind_types(kind, question_types)
        lacks = " OR ".join(["NOT EXISTS (SELECT 1 FROM qa_pairs p WHERE p.chunk_id = c.id AND p.kind = ?"
                             + (" AND p.question_type = ?)" if types else ")")] * max(len(types), 1))
        params: list[object] = [project_id]
        for question_type in types or (None,):
            params.extend([kind] if question_type is None else [kind, question_type])
        params.append(kind)
        sql = ("SELECT c.id FROM chunks c JOIN documents d ON d.id = c.document_id WHERE d.project_id = ?"
               " AND NOT (c.skip_reason IS NOT NULL AND c.send_anyway = 0)"
               f" AND (c.gen_status != 'done' OR (({lacks})"
               f" AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.id = c.run_id AND {RUN_KIND} = ?)))")
        if document_ids is not None:
            docs = list(dict.fromkeys(document_ids))
            sql += f" AND c.document_id IN ({placeholders(len(docs))})" if docs else " AND 0"
            params.extend(docs)
        with self._read() as conn:
            return [row[0] for row in conn.execute(sql + " ORDER BY d.name, d.id, c.ordinal", params)]

    def chunks_lacking(self, project_id: int, kind: str, question_types: Iterable[str] = (), *,
                       document_ids: Iterable[int] | None = None) -> list:
        """The chunks (:class:`~dataset_gen.store_rows.ChunkRow`) of :meth:`lacking_chunk_ids`, in
        that order."""
        wanted = set(self.lacking_chunk_ids(project_id, kind, question_types, document_ids=document_ids))
        return [c for c in self.list_chunks(project_id) if c.id in wanted]

    def fresh_question_types(self, chunk_ids: Iterable[int], kind: str | None = None) -> dict[int, set[str]]:
        """For each chunk id, the question types it already has pairs of (any status; of ``kind``
        only when given) made for its current text: every item of a ``"done"`` chunk (its text has
        not changed since), and of another chunk those created at or after its ``updated_at``.
        Chunks without such pairs are left out; unknown ids are ignored."""
        wanted = list(dict.fromkeys(chunk_ids))
        found: dict[int, set[str]] = {}
        with self._read() as conn:
            for first in range(0, len(wanted), _BATCH):
                batch = wanted[first:first + _BATCH]
                rows = conn.execute(
                    "SELECT DISTINCT p.chunk_id, p.question_type FROM qa_pairs p JOIN chunks c ON c.id = p.chunk_id"
                    f" WHERE p.chunk_id IN ({placeholders(len(batch))})"
                    " AND (p.created_at >= c.updated_at OR c.gen_status = 'done')"
                    + ("" if kind is None else " AND p.kind = ?"),
                    [*batch] + ([] if kind is None else [kind]),
                )
                for chunk_id, question_type in rows:
                    found.setdefault(chunk_id, set()).add(question_type)
        return found

    def finish_chunk(self, chunk_id: int, run_id: int, error: str | None = None) -> None:
        """End a chunk's generation in run ``run_id`` (one transaction).

        With no ``error``: deletes the chunk's pairs made for an older text that are still
        ``"generated"`` and not edited (reviewed or edited pairs are kept), and marks the chunk
        ``"done"`` by ``run_id``. With an ``error`` (one line): marks it ``"failed"`` with that error;
        its pairs are kept, and its ``updated_at`` stays, so a retry asks only for the question
        types that failed.

        :raises StoreError: the chunk or the run does not exist, or they belong to different
            projects.
        """
        with self._write() as conn:
            check_chunk_and_run(conn, chunk_id, run_id)
            if error is not None:
                conn.execute("UPDATE chunks SET gen_status = 'failed', gen_error = ?, run_id = ? WHERE id = ?",
                             (error, run_id, chunk_id))
                return
            conn.execute(
                "DELETE FROM qa_pairs WHERE chunk_id = ? AND status = 'generated' AND edited = 0"
                " AND created_at < (SELECT updated_at FROM chunks WHERE id = ?)",
                (chunk_id, chunk_id),
            )
            conn.execute(
                "UPDATE chunks SET gen_status = 'done', gen_error = NULL, run_id = ?, updated_at = ? WHERE id = ?",
                (run_id, utc_now(), chunk_id),
            )
