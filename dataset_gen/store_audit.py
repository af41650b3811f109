"""The review trail: every change a person makes on the Review page, kept in the database
(table ``review_changes``, see :mod:`dataset_gen.migrations`) so Undo works after a reload or from
another tab, and what a pair was before stays on record.

One click is one *batch* (``batch_id``, counted per database): a bulk status change of 20,000
pairs is one batch of 20,000 rows; an edit of one pair's text is a batch of one row holding the
text before. Undo takes back the newest batch of a project not undone yet, pair by pair: a pair
whose revision moved on since the change (someone edited or re-reviewed it) is kept as it is now
and counted as kept; the rest get their earlier status and text back. The batch stays in the trail
with ``undone_at`` set, so undoing again goes one batch further back.

These functions run inside a transaction the caller holds (``Store._write``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class TrailRow:
    """One pair's entry in a batch: its status and revision before and after the change, and the
    text before (``None`` when only the status changed)."""

    pair_id: int
    old_status: str
    new_status: str
    old_revision: int
    new_revision: int
    old_question: str | None = None
    old_answer: str | None = None


@dataclass(frozen=True)
class Batch:
    """The newest batch Undo would take back: its id, how many pairs, the status they were given,
    and the pair whose text was edited (``None`` for a status change)."""

    batch_id: int
    count: int
    status: str
    edited_pair: int | None


@dataclass(frozen=True)
class UndoResult:
    """What an undo did: the batch, the pairs given back their earlier state, and the pairs kept
    as they are because they changed since (in the batch's order)."""

    batch: Batch
    restored: tuple[int, ...]
    kept: tuple[int, ...]


_ROW = ("pair_id, old_status, new_status, old_revision, new_revision, old_question, old_answer")


def record(conn: sqlite3.Connection, project_id: int, rows: Iterable[TrailRow], now: str) -> int | None:
    """Write ``rows`` as one new batch of project ``project_id`` changed at ``now`` (ISO 8601 UTC);
    return the batch id, or ``None`` when there were no rows (nothing is written)."""
    rows = list(rows)
    if not rows:
        return None
    batch_id = conn.execute("SELECT coalesce(max(batch_id), 0) + 1 FROM review_changes").fetchone()[0]
    conn.executemany(
        f"INSERT INTO review_changes (project_id, batch_id, {_ROW}, changed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(project_id, batch_id, r.pair_id, r.old_status, r.new_status, r.old_revision, r.new_revision,
          r.old_question, r.old_answer, now) for r in rows])
    return int(batch_id)


def last_batch(conn: sqlite3.Connection, project_id: int) -> Batch | None:
    """The newest batch of the project not undone yet, or ``None``."""
    found = conn.execute(
        "SELECT batch_id, count(*), max(new_status), max(CASE WHEN old_question IS NOT NULL THEN pair_id END)"
        " FROM review_changes WHERE project_id = ? AND undone_at IS NULL"
        " AND batch_id = (SELECT max(batch_id) FROM review_changes WHERE project_id = ? AND undone_at IS NULL)",
        (project_id, project_id)).fetchone()
    if found is None or found[0] is None:
        return None
    return Batch(int(found[0]), int(found[1]), str(found[2]), found[3])


def batch_rows(conn: sqlite3.Connection, batch_id: int) -> list[TrailRow]:
    """The rows of one batch, in the order they were written."""
    return [TrailRow(*row) for row in conn.execute(
        f"SELECT {_ROW} FROM review_changes WHERE batch_id = ? ORDER BY id", (batch_id,))]


def retarget(conn: sqlite3.Connection, pair_id: int, old: int, new: int) -> None:
    """An undo put pair ``pair_id`` back to the state it had at revision ``old``, now stored as
    revision ``new``: the older entries not undone that left it at ``old`` now expect ``new``, so
    they can still be undone."""
    conn.execute("UPDATE review_changes SET new_revision = ? WHERE pair_id = ? AND new_revision = ?"
                 " AND undone_at IS NULL", (new, pair_id, old))


def mark_undone(conn: sqlite3.Connection, batch_id: int, kept: Iterable[int], now: str) -> None:
    """Mark batch ``batch_id`` undone at ``now``; the pairs in ``kept`` were left as they were."""
    conn.execute("UPDATE review_changes SET undone_at = ?, undo_kept = 0 WHERE batch_id = ?", (now, batch_id))
    conn.executemany("UPDATE review_changes SET undo_kept = 1 WHERE batch_id = ? AND pair_id = ?",
                     [(batch_id, pair_id) for pair_id in kept])


def history(conn: sqlite3.Connection, project_id: int, limit: int) -> list[tuple]:
    """The newest ``limit`` trail rows of the project, newest first: ``(batch id, pair id, old
    status, new status, old question, old answer, old revision, new revision, changed at, undone
    at, undo kept)``."""
    return [tuple(row) for row in conn.execute(
        "SELECT batch_id, pair_id, old_status, new_status, old_question, old_answer, old_revision,"
        " new_revision, changed_at, undone_at, undo_kept FROM review_changes WHERE project_id = ?"
        " ORDER BY id DESC LIMIT ?", (project_id, limit))]
