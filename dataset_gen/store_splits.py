"""The store's methods for held-out splits: read what the split needs, save assignments, count.

:class:`SplitMethods` is mixed into :class:`dataset_gen.store.Store`, which supplies the
connection, the lock and the ``_write``/``_read`` context managers used here. The rules that pick
a split are in :mod:`dataset_gen.splits`; this module only reads and writes ``qa_pairs.split``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass

from .errors import StoreError

SPLITS = ("train", "validation", "test")
"""The values of ``qa_pairs.split`` (``NULL``: not assigned)."""


@dataclass(frozen=True)
class SplitItem:
    """One item as the split sees it: its ``id``, ``status``, current ``split`` (``None``: not
    assigned), the chunks it rests on (its own first, then ``context_chunk_ids``; ``()`` for an
    item with no chunk) and the documents of those chunks (same order, a chunk no longer stored is
    left out of both)."""

    id: int
    status: str
    split: str | None
    chunks: tuple[int, ...]
    documents: tuple[int, ...]


class SplitMethods:
    """Split methods of :class:`dataset_gen.store.Store` (see there for threading)."""

    _write: Callable[[], AbstractContextManager[sqlite3.Connection]]
    _read: Callable[[], AbstractContextManager[sqlite3.Connection]]

    def split_items(self, project_id: int) -> list[SplitItem]:
        """Every item of the project (any status, any kind), in id order, as :class:`SplitItem`."""
        with self._read() as conn:
            document_of = dict(conn.execute(
                "SELECT c.id, c.document_id FROM chunks c JOIN documents d ON d.id = c.document_id"
                " WHERE d.project_id = ?", (project_id,)).fetchall())
            rows = conn.execute(
                "SELECT id, status, split, chunk_id, context_chunk_ids FROM qa_pairs WHERE project_id = ?"
                " ORDER BY id", (project_id,)).fetchall()
        items = []
        for pair_id, status, split, chunk_id, context in rows:
            wanted = ([chunk_id] if chunk_id is not None else []) + list(json.loads(context or "[]"))
            chunks = tuple(dict.fromkeys(c for c in wanted if c in document_of))
            items.append(SplitItem(pair_id, status, split, chunks, tuple(document_of[c] for c in chunks)))
        return items

    def set_splits(self, project_id: int, assignments: Mapping[int, str | None]) -> int:
        """Set ``qa_pairs.split`` of the items in ``assignments`` (item id → one of :data:`SPLITS`,
        or ``None`` to clear it), in one transaction; return how many rows changed. Ids of other
        projects are left alone.

        :raises StoreError: a split value that is not one of :data:`SPLITS` (nothing is written).
        """
        bad = sorted({str(s) for s in assignments.values() if s is not None and s not in SPLITS})
        if bad:
            raise StoreError(f"Unknown split {bad[0]!r}: choose one of {', '.join(SPLITS)}")
        with self._write() as conn:
            before = conn.total_changes
            conn.executemany("UPDATE qa_pairs SET split = ? WHERE id = ? AND project_id = ?",
                             [(split, pair_id, project_id) for pair_id, split in assignments.items()])
            return conn.total_changes - before

    def split_counts(self, project_id: int, statuses: tuple[str, ...] = ("accepted",)) -> dict[str, int]:
        """Items of ``statuses`` per split: ``{"train": n, "validation": n, "test": n, "none": n}``
        (``none``: not assigned), every key present."""
        counts = {name: 0 for name in (*SPLITS, "none")}
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT coalesce(split, 'none'), count(*) FROM qa_pairs WHERE project_id = ?"
                f" AND status IN ({', '.join('?' * len(statuses))}) GROUP BY 1",
                (project_id, *statuses)).fetchall()
        for split, n in rows:
            counts[split] = n
        return counts
