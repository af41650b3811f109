"""The store's chunk-editing methods: a person edits, merges or deletes chunks after splitting.

:class:`ChunkEditMethods` is mixed into :class:`dataset_gen.store.Store`. An edited or merged chunk
goes back to ``"pending"`` so the next run regenerates it; pairs a person reviewed or edited are
never deleted by an edit or a merge (they move with the text), only by deleting the chunk.

A chunk can carry a skip reason (``chunks.skip_reason``, set at upload by
:func:`dataset_gen.junk.screen_document`): generation leaves it out unless a person set
``send_anyway``. An edit or a merge screens the new text again (a person who fixes a garbled chunk
need not also override it); the override stays as the person set it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass

from .errors import StoreError
from .junk import junk_reason
from .store_rows import CHUNK_STATUSES, ChunkRow, checked, chunk_row, placeholders, utc_now

_PAGE_SELECT = """
SELECT c.id, c.document_id, d.name AS document, c.ordinal, c.heading_path, c.start, c."end",
       c.page_start, c.page_end, c.text, c.gen_status, c.gen_error, c.edited, c.skip_reason, c.send_anyway,
       (SELECT count(*) FROM qa_pairs p WHERE p.chunk_id = c.id) AS pairs,
       (SELECT n.id FROM chunks n WHERE n.document_id = c.document_id AND n.ordinal = c.ordinal + 1) AS next_id
FROM chunks c JOIN documents d ON d.id = c.document_id
"""
_SKIPPED = "(c.skip_reason IS NOT NULL AND c.send_anyway = 0)"


@dataclass(frozen=True)
class ChunkFilter:
    """Which of a project's chunks a page shows. ``document_id``: one document (``None``: all);
    ``statuses``: ``gen_status`` values (``"pending"``, ``"done"``, ``"failed"``; ``None``: any);
    ``skipped``: ``True`` only chunks generation leaves out (a skip reason and no override),
    ``False`` only the others, ``None`` both; ``search``: text the chunk contains (case folded
    for ASCII letters, as SQLite's ``lower``), ``""`` for any."""

    document_id: int | None = None
    statuses: tuple[str, ...] | None = None
    skipped: bool | None = None
    search: str = ""


def _where(project_id: int, where: ChunkFilter) -> tuple[str, list]:
    clauses: list[str] = ["d.project_id = ?"]
    params: list[object] = [project_id]
    if where.document_id is not None:
        clauses.append("c.document_id = ?")
        params.append(where.document_id)
    wanted = checked(where.statuses, CHUNK_STATUSES, "chunk status")
    if wanted is not None:
        clauses.append(f"c.gen_status IN ({placeholders(len(wanted))})" if wanted else "0")
        params.extend(wanted)
    if where.skipped is not None:
        clauses.append(_SKIPPED if where.skipped else f"NOT {_SKIPPED}")
    if where.search.strip():
        clauses.append("instr(lower(c.text), ?) > 0")
        params.append(where.search.strip().lower())
    return " WHERE " + " AND ".join(clauses), params


def _chunk(conn: sqlite3.Connection, chunk_id: int) -> sqlite3.Row:
    row = conn.execute(
        'SELECT id, document_id, ordinal, start, "end", page_start, page_end, text, edited'
        " FROM chunks WHERE id = ?", (chunk_id,)).fetchone()
    if row is None:
        raise StoreError(f"No chunk with id {chunk_id}: it may have been re-split or deleted")
    return row


def _renumber(conn: sqlite3.Connection, document_id: int) -> None:
    ids = [r[0] for r in conn.execute("SELECT id FROM chunks WHERE document_id = ? ORDER BY ordinal, id",
                                      (document_id,))]
    conn.executemany("UPDATE chunks SET ordinal = ? WHERE id = ?", list(enumerate(ids)))


class ChunkEditMethods:
    """Chunk edits and paged chunk queries of :class:`dataset_gen.store.Store` (see there for threading)."""

    _write: Callable[..., AbstractContextManager[sqlite3.Connection]]
    _read: Callable[[], AbstractContextManager[sqlite3.Connection]]

    def count_chunks(self, project_id: int, where: ChunkFilter = ChunkFilter()) -> int:
        """How many of the project's chunks ``where`` lets through.

        :raises ValueError: an unknown status.
        """
        sql, params = _where(project_id, where)
        with self._read() as conn:
            return conn.execute("SELECT count(*) FROM chunks c JOIN documents d ON d.id = c.document_id" + sql,
                                params).fetchone()[0]

    def chunk_page(self, project_id: int, where: ChunkFilter = ChunkFilter(), *, limit: int = 50,
                   offset: int = 0) -> list[tuple[ChunkRow, int | None]]:
        """One page of the project's chunks that ``where`` lets through, by document name and
        ordinal: ``limit`` chunks from the ``offset``-th, each with the id of the next chunk of its
        document (``None`` for the last one), which is what "merge with next" needs. Only the page's
        rows are read in full, so a page costs about the same in a project of 1,000 or 30,000 chunks.

        :raises ValueError: an unknown status, or a negative ``limit`` or ``offset``.
        """
        if limit < 0 or offset < 0:
            raise ValueError(f"A page needs a limit and an offset of 0 or more, not {limit} and {offset}")
        sql, params = _where(project_id, where)
        ids = ("SELECT c.id FROM chunks c JOIN documents d ON d.id = c.document_id" + sql
               + " ORDER BY d.name, d.id, c.ordinal LIMIT ? OFFSET ?")
        with self._read() as conn:
            rows = conn.execute(_PAGE_SELECT + f" WHERE c.id IN ({ids}) ORDER BY d.name, d.id, c.ordinal",
                                [*params, limit, offset]).fetchall()
        return [(chunk_row(row), row["next_id"]) for row in rows]

    def chunk_lengths(self, project_id: int, where: ChunkFilter = ChunkFilter()) -> list[int]:
        """The lengths in characters (SQLite's ``length`` of the text) of the chunks ``where`` lets
        through, in no particular order: the Chunks page's histogram.

        :raises ValueError: an unknown status.
        """
        sql, params = _where(project_id, where)
        with self._read() as conn:
            return [r[0] for r in conn.execute(
                "SELECT length(c.text) FROM chunks c JOIN documents d ON d.id = c.document_id" + sql, params)]

    def chunk_counts(self, project_id: int, document_ids: Iterable[int] | None = None) -> dict[str, int]:
        """The project's chunks (or those of ``document_ids``) by state: ``pending``, ``failed`` and
        ``done`` count the chunks a run would look at, ``skipped`` those it leaves out (a skip
        reason, no override, not done); every key is present. Two runs of this cost one query."""
        clauses, params = ["d.project_id = ?"], [project_id]
        if document_ids is not None:
            wanted = list(document_ids)
            clauses.append(f"c.document_id IN ({placeholders(len(wanted))})" if wanted else "0")
            params.extend(wanted)
        counts = {"pending": 0, "failed": 0, "done": 0, "skipped": 0}
        with self._read() as conn:
            for state, n in conn.execute(
                    f"SELECT CASE WHEN {_SKIPPED} AND c.gen_status != 'done' THEN 'skipped' ELSE c.gen_status END,"
                    " count(*) FROM chunks c JOIN documents d ON d.id = c.document_id WHERE "
                    + " AND ".join(clauses) + " GROUP BY 1", params):
                counts[state] = n
        return counts

    def skip_reason_counts(self, project_id: int) -> dict[str, int]:
        """How many of the project's chunks a run leaves out (not done), by skip reason."""
        with self._read() as conn:
            return dict(conn.execute(
                f"SELECT c.skip_reason, count(*) FROM chunks c JOIN documents d ON d.id = c.document_id"
                f" WHERE d.project_id = ? AND {_SKIPPED} AND c.gen_status != 'done' GROUP BY 1", (project_id,)))

    def edit_chunk(self, chunk_id: int, text: str) -> None:
        """Replace a chunk's text with ``text`` (marked edited) and set it ``"pending"``.

        The chunk keeps its span, pages and heading path (its source). Its unreviewed pairs are
        replaced at the next run; reviewed or edited ones stay. Its skip reason becomes
        :func:`dataset_gen.junk.junk_reason` of the new text.

        :raises StoreError: no such chunk, ``text`` is empty, or it is above SQLite's size limit
            (the chunk is then left as it was).
        """
        if not text.strip():
            raise StoreError("A chunk's text cannot be empty: delete the chunk instead")
        with self._write(f"the new text of chunk {chunk_id} ({len(text):,} characters)") as conn:
            _chunk(conn, chunk_id)
            conn.execute("UPDATE chunks SET text = ?, edited = 1, gen_status = 'pending', gen_error = NULL,"
                         " skip_reason = ?, updated_at = ? WHERE id = ?",
                         (text, junk_reason(text), utc_now(), chunk_id))

    def merge_chunks(self, first_id: int, second_id: int) -> int:
        """Merge two neighbouring chunks of one document into the first; return its id.

        The merged span runs from the first's start to the second's end, pages likewise. Its text
        is the document's text over that span, or, when either chunk was edited, the two texts
        joined by a blank line (then marked edited). The second chunk's pairs move to the merged
        chunk; the merged chunk is ``"pending"`` and its skip reason is screened from the merged
        text (the first chunk's ``send_anyway`` is kept).

        :raises StoreError: a chunk is missing, or they are not neighbours in one document.
        """
        with self._write(f"the merged text of chunks {first_id} and {second_id}") as conn:
            first, second = _chunk(conn, first_id), _chunk(conn, second_id)
            if first["document_id"] != second["document_id"] or second["ordinal"] != first["ordinal"] + 1:
                raise StoreError(f"Chunks {first_id} and {second_id} are not neighbours in one document")
            edited = bool(first["edited"] or second["edited"])
            if edited:
                text = first["text"].rstrip() + "\n\n" + second["text"].lstrip()
            else:
                source = conn.execute("SELECT text FROM documents WHERE id = ?", (first["document_id"],)).fetchone()
                text = source[0][first["start"]:second["end"]]
            pages = [p for p in (first["page_start"], second["page_start"], first["page_end"], second["page_end"])
                     if p is not None]
            conn.execute("UPDATE qa_pairs SET chunk_id = ? WHERE chunk_id = ?", (first_id, second_id))
            conn.execute("DELETE FROM chunks WHERE id = ?", (second_id,))
            conn.execute(
                'UPDATE chunks SET text = ?, "end" = ?, page_start = ?, page_end = ?, edited = ?,'
                " gen_status = 'pending', gen_error = NULL, skip_reason = ?, updated_at = ? WHERE id = ?",
                (text, second["end"], min(pages) if pages else None, max(pages) if pages else None,
                 int(edited), junk_reason(text), utc_now(), first_id))
            _renumber(conn, first["document_id"])
        return first_id

    def delete_chunk(self, chunk_id: int) -> None:
        """Delete a chunk and all its pairs; the document's other chunks are renumbered.

        :raises StoreError: no such chunk.
        """
        with self._write() as conn:
            row = _chunk(conn, chunk_id)
            conn.execute("DELETE FROM chunks WHERE id = ?", (chunk_id,))
            _renumber(conn, row["document_id"])

    def set_skip(self, chunk_id: int, reason: str | None) -> None:
        """Set why a chunk is not sent to the model (``None``: it is sent). ``reason`` is a short
        phrase shown to the person, normally one of :data:`dataset_gen.junk.REASONS`.

        :raises StoreError: no such chunk, or ``reason`` is an empty string.
        """
        if reason is not None and not reason.strip():
            raise StoreError("A skip reason cannot be empty: pass None to send the chunk")
        with self._write() as conn:
            _chunk(conn, chunk_id)
            conn.execute("UPDATE chunks SET skip_reason = ?, updated_at = ? WHERE id = ?",
                         (reason, utc_now(), chunk_id))

    def set_send_anyway(self, chunk_id: int, send: bool) -> None:
        """A person's override: ``send=True`` sends a chunk with a skip reason to the model anyway
        (it is generated at the next run); ``False`` undoes that. The reason itself stays, so the
        Chunks page can still say why the chunk was held back.

        :raises StoreError: no such chunk.
        """
        with self._write() as conn:
            _chunk(conn, chunk_id)
            conn.execute("UPDATE chunks SET send_anyway = ?, updated_at = ? WHERE id = ?",
                         (int(bool(send)), utc_now(), chunk_id))
