"""The store's document and chunk methods.

:class:`DocumentMethods` is mixed into :class:`dataset_gen.store.Store`, which supplies the
connection, the lock and the ``_write``/``_read`` context managers used here.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager

from .errors import StoreError
from .models import Chunk, Document
from .store_rows import (
    CHUNK_STATUSES,
    ChunkRow,
    DocumentRow,
    checked,
    chunk_row,
    dump_json,
    inserted_id,
    placeholders,
    require_project,
    utc_now,
)

_CHUNK_SELECT = """
SELECT c.id, c.document_id, d.name AS document, c.ordinal, c.heading_path, c.start, c."end",
       c.page_start, c.page_end, c.text, c.gen_status, c.gen_error, c.edited, c.skip_reason, c.send_anyway,
       (SELECT count(*) FROM qa_pairs p WHERE p.chunk_id = c.id) AS pairs
FROM chunks c JOIN documents d ON d.id = c.document_id
"""

class DocumentMethods:
    """Document and chunk methods of :class:`dataset_gen.store.Store` (see there for threading)."""

    _write: Callable[..., AbstractContextManager[sqlite3.Connection]]
    _read: Callable[[], AbstractContextManager[sqlite3.Connection]]

    def add_document(self, project_id: int, document: Document) -> int:
        """Store a parsed document; return its id.

        A document with the same name and sha256 already in the project is not stored again: its
        id is returned. A changed file under the same name is stored as a new document.

        :raises StoreError: no such project, or the text is above SQLite's size limit (the message
            names the document; nothing is stored).
        """
        what = f"the text of document {document.name!r} ({len(document.text):,} characters)"
        with self._write(what) as conn:
            require_project(conn, project_id)
            row = conn.execute(
                "SELECT id FROM documents WHERE project_id = ? AND name = ? AND sha256 = ?",
                (project_id, document.name, document.sha256),
            ).fetchone()
            if row:
                return row[0]
            cursor = conn.execute(
                "INSERT INTO documents (project_id, name, kind, sha256, text, page_starts,"
                " encoding, warnings, left_out, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (project_id, document.name, document.kind, document.sha256, document.text,
                 dump_json(list(document.page_starts)), document.encoding,
                 dump_json(list(document.warnings)), dump_json([list(x) for x in document.left_out]), utc_now()),
            )
            return inserted_id(cursor)

    def find_document(self, project_id: int, name: str) -> int | None:
        """The id of the project's document called ``name`` (the newest if several), or ``None``."""
        with self._read() as conn:
            row = conn.execute(
                "SELECT id FROM documents WHERE project_id = ? AND name = ? ORDER BY id DESC",
                (project_id, name),
            ).fetchone()
        return row[0] if row else None

    def list_documents(self, project_id: int) -> list[DocumentRow]:
        """The project's documents by name (without their text), with chunk and pair counts."""
        sql = """
        SELECT d.id, d.name, d.kind, d.sha256, length(d.text) AS chars, d.page_starts, d.encoding,
          d.warnings, d.created_at,
          (SELECT count(*) FROM chunks c WHERE c.document_id = d.id) AS chunks,
          (SELECT count(*) FROM qa_pairs p JOIN chunks c ON c.id = p.chunk_id
            WHERE c.document_id = d.id) AS pairs
        FROM documents d WHERE d.project_id = ? ORDER BY d.name, d.id
        """
        with self._read() as conn:
            return [
                DocumentRow(
                    id=row["id"], name=row["name"], kind=row["kind"], sha256=row["sha256"],
                    chars=row["chars"], pages=len(json.loads(row["page_starts"])) or None,
                    encoding=row["encoding"], warnings=tuple(json.loads(row["warnings"])),
                    chunks=row["chunks"], pairs=row["pairs"], created_at=row["created_at"],
                )
                for row in conn.execute(sql, (project_id,))
            ]

    def get_document(self, document_id: int) -> Document:
        """The stored document as a :class:`Document`.

        :raises StoreError: no document has this id.
        """
        with self._read() as conn:
            row = conn.execute("SELECT * FROM documents WHERE id = ?", (document_id,)).fetchone()
        if row is None:
            raise StoreError(f"No document with id {document_id}: it may have been deleted")
        return Document(
            name=row["name"], text=row["text"], kind=row["kind"], sha256=row["sha256"],
            page_starts=tuple(json.loads(row["page_starts"])), encoding=row["encoding"],
            warnings=tuple(json.loads(row["warnings"])),
            left_out=tuple((int(page), str(text)) for page, text in json.loads(row["left_out"])),
        )

    def delete_document(self, document_id: int) -> None:
        """Delete a document with its chunks and their pairs (reviewed ones too). A missing id
        does nothing."""
        with self._write() as conn:
            conn.execute("DELETE FROM documents WHERE id = ?", (document_id,))

    def replace_chunks(self, document_id: int, chunks: list[Chunk],
                       skip_reasons: Sequence[str | None] | None = None) -> list[int]:
        """Replace the document's chunks with ``chunks``; return the new ids in order.

        One transaction: the old chunks and all their pairs (reviewed ones too) are deleted, the
        new chunks are stored as ``"pending"``, each with its skip reason from ``skip_reasons``
        (one per chunk, ``None`` to send it; see :mod:`dataset_gen.junk`), so no chunk is ever
        stored without the reason it has. ``Chunk.document`` is not checked against the stored name.

        :raises StoreError: no document has this id, or a storage failure (then the old chunks stay
            as they were).
        """
        now = utc_now()
        with self._write(f"a chunk of document {document_id}") as conn:
            if not conn.execute("SELECT 1 FROM documents WHERE id = ?", (document_id,)).fetchone():
                raise StoreError(f"No document with id {document_id}: it may have been deleted")
            conn.execute("DELETE FROM chunks WHERE document_id = ?", (document_id,))
            ids = []
            reasons = list(skip_reasons) if skip_reasons is not None else [None] * len(chunks)
            for chunk, reason in zip(chunks, reasons, strict=True):
                cursor = conn.execute(
                    'INSERT INTO chunks (document_id, ordinal, heading_path, start, "end",'
                    " page_start, page_end, text, gen_status, updated_at, skip_reason)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
                    (document_id, chunk.ordinal, dump_json(list(chunk.heading_path)), chunk.start,
                     chunk.end, chunk.page_start, chunk.page_end, chunk.text, now, reason),
                )
                ids.append(inserted_id(cursor))
            return ids

    def list_chunks(
        self,
        project_id: int,
        *,
        document_id: int | None = None,
        statuses: Iterable[str] | None = None,
    ) -> list[ChunkRow]:
        """The project's chunks by document name and ordinal, optionally of one document and/or
        with a ``gen_status`` in ``statuses`` (``"pending"``, ``"done"``, ``"failed"``).

        :raises ValueError: an unknown status.
        """
        where = ["d.project_id = ?"]
        params: list = [project_id]
        if document_id is not None:
            where.append("c.document_id = ?")
            params.append(document_id)
        wanted = checked(statuses, CHUNK_STATUSES, "chunk status")
        if wanted is not None:
            where.append(f"c.gen_status IN ({placeholders(len(wanted))})" if wanted else "0")
            params.extend(wanted)
        sql = _CHUNK_SELECT + " WHERE " + " AND ".join(where) + " ORDER BY d.name, d.id, c.ordinal"
        with self._read() as conn:
            return [chunk_row(row) for row in conn.execute(sql, params)]

    def get_chunk(self, chunk_id: int) -> ChunkRow:
        """One chunk.

        :raises StoreError: no chunk has this id.
        """
        with self._read() as conn:
            row = conn.execute(_CHUNK_SELECT + " WHERE c.id = ?", (chunk_id,)).fetchone()
        if row is None:
            raise StoreError(f"No chunk with id {chunk_id}: it may have been re-chunked")
        return chunk_row(row)

    def set_chunk_failed(self, chunk_id: int, error: str, *, run_id: int | None = None) -> None:
        """Mark a chunk ``"failed"`` with the one-line ``error``; its stored pairs are kept.

        ``run_id`` names the run that failed on it; when omitted, the newest ``"running"`` run of
        the chunk's project is assumed (used by :meth:`finish_run` to count failures).
        A missing chunk id does nothing.
        """
        with self._write() as conn:
            if run_id is None:
                row = conn.execute(
                    "SELECT r.id FROM runs r JOIN documents d ON d.project_id = r.project_id"
                    " JOIN chunks c ON c.document_id = d.id"
                    " WHERE c.id = ? AND r.status = 'running' ORDER BY r.id DESC",
                    (chunk_id,),
                ).fetchone()
                run_id = row[0] if row else None
            conn.execute(
                "UPDATE chunks SET gen_status = 'failed', gen_error = ?, run_id = ?,"
                " updated_at = ? WHERE id = ?",
                (error, run_id, utc_now(), chunk_id),
            )

    def reset_chunks(self, chunk_ids: Iterable[int]) -> int:
        """Put chunks back to ``"pending"`` (error cleared) so the next run generates them again;
        return how many were reset. Their pairs stay until the new pairs are saved."""
        ids = list(chunk_ids)
        changed = 0
        now = utc_now()
        with self._write() as conn:
            for first in range(0, len(ids), 500):
                batch = ids[first:first + 500]
                cursor = conn.execute(
                    "UPDATE chunks SET gen_status = 'pending', gen_error = NULL, updated_at = ?"
                    f" WHERE id IN ({placeholders(len(batch))})",
                    [now, *batch],
                )
                changed += cursor.rowcount
        return changed
