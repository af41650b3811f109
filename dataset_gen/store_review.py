"""The store's review methods: re-checking one pair after an edit, and bulk status changes that can
be undone.

:class:`ReviewMethods` is mixed into :class:`dataset_gen.store.Store`, which supplies the connection,
the lock and the ``_write``/``_read`` context managers used here.

Re-check (:func:`recheck`) runs inside the transaction of every real edit
(:meth:`~dataset_gen.store_pairs.PairMethods.update_pair`), so no edited pair keeps the verdicts of
its old text: ``flags`` (:func:`dataset_gen.checks.check_pair`; a ``choice`` item whose answer is
not exactly one of its options also gets ``not_an_option``, and a true/false statement is checked
as its own answer, as at generation), ``grounded``
(:func:`dataset_gen.grounding.is_grounded` of the evidence in the pair's chunk or a comparison's
second chunk, as generation decides it), ``language_ok``
(:func:`dataset_gen.language.language_matches` against the language detected in the chunk, and
no ``wrong_language`` flag, so the two always agree) and
``duplicate_of`` (the edited question against every other pair of the project that is not rejected,
with the rule and threshold of :func:`dataset_gen.quality.mark_duplicates` without embeddings).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process

from . import store_audit
from .checks import check_pair
from .duplicates import normalise as duplicate_form
from .errors import StoreError
from .grounding import is_grounded
from .language import detect_language, language_matches
from .models import ItemKind, StoredPair
from .store_audit import Batch, TrailRow, UndoResult
from .store_rows import PAIR_STATUSES, checked, placeholders, utc_now

DUPLICATE_THRESHOLD = 90.0
"""rapidfuzz ``fuzz.ratio`` (0–100) of normalised questions at or above which an edited question
is a near-duplicate: the default of :func:`dataset_gen.quality.mark_duplicates`."""

_BATCH = 500


class StaleEditError(StoreError):
    """A change to a pair was made from an older revision than the one stored: someone (another
    tab, another person) saved the pair since, and the change was refused so it overwrites nothing.

    ``current`` is the pair as stored now; ``expected`` the revision the change was made from. The
    message is one line showing the newer question, answer and status.
    """

    def __init__(self, current: StoredPair, expected: int):
        self.current = current
        self.expected = expected
        super().__init__(
            f"QA pair {current.id} was changed elsewhere since you saw it (your revision {expected},"
            f" now {current.revision}), so your change was not saved; it now reads: question"
            f" {current.question!r}, answer {current.answer!r}, status {current.status}:"
            " compare, then make your change again"
        )


@dataclass(frozen=True)
class StatusChange:
    """One bulk status change, enough to undo it: ``status`` is what the pairs were given, and
    ``before`` holds ``(pair id, status before, revision before, revision after the change)`` for
    each pair that changed (pairs already in ``status`` are not in it)."""

    status: str
    before: tuple[tuple[int, str, int, int], ...]
    batch_id: int | None = field(default=None, compare=False)  # in the review trail (store_audit)

    @property
    def count(self) -> int:
        """How many pairs the change moved."""
        return len(self.before)


def _duplicate_of(conn: sqlite3.Connection, pair_id: int, project_id: int, question: str) -> int | None:
    """The id this edited pair is a near-duplicate of, or ``None``; rejected pairs are not compared
    (as :func:`mark_duplicates`). The closest other question at or above the threshold is found; as
    :func:`mark_duplicates` keeps accepted or edited pairs over others, and this pair is edited, it
    is marked only when that pair is accepted or edited too (then it points at the pair kept for
    it); otherwise that pair is marked a duplicate of this one."""
    wanted = duplicate_form(question)
    if not wanted:
        return None
    rows = conn.execute(
        "SELECT p.id, p.question, p.duplicate_of, p.status = 'accepted' OR p.edited = 1 FROM qa_pairs p"
        " WHERE p.project_id = ? AND p.status != 'rejected' AND p.id != ? ORDER BY p.id",
        (project_id, pair_id)).fetchall()
    if not rows:
        return None
    found = process.extractOne(wanted, [duplicate_form(r[1]) for r in rows], scorer=fuzz.ratio,
                               score_cutoff=DUPLICATE_THRESHOLD)
    if found is None:
        return None
    other_id, _, other_of, preferred = rows[found[2]]
    if not preferred:
        conn.execute("UPDATE qa_pairs SET duplicate_of = ? WHERE id = ?", (pair_id, other_id))
        return None
    return int(other_of if other_of is not None and other_of != pair_id else other_id)


def recheck(conn: sqlite3.Connection, pair_id: int) -> None:
    """Compute and store again, in the open transaction, the ``flags``, ``grounded``,
    ``language_ok`` and ``duplicate_of`` of pair ``pair_id`` from its current text (rules in the
    module docstring). Pairs that were marked duplicates of this one and no longer match its
    question are cleared. An unknown id changes nothing."""
    row = conn.execute(
        "SELECT p.question, p.answer, p.evidence, p.question_type, p.context_chunk_ids, p.status,"
        " c.text, c.heading_path, d.project_id, p.kind, p.choices FROM qa_pairs p JOIN chunks c ON c.id = p.chunk_id"
        " JOIN documents d ON d.id = c.document_id WHERE p.id = ?", (pair_id,)).fetchone()
    if row is None:
        return
    (question, answer, evidence, question_type, context_json, status, chunk_text, heading_json, project_id,
     kind, choices_json) = row
    sources = [chunk_text] + [found[0] for i in json.loads(context_json)
                              if (found := conn.execute("SELECT text FROM chunks WHERE id = ?", (i,)).fetchone())]
    language = detect_language(chunk_text)
    choice = kind == ItemKind.CHOICE.value
    # a true/false statement is checked as the answer its evidence supports, as at generation
    flags = check_pair(question, question if choice and question_type == "true_false" else answer, evidence,
                       "\n\n".join(sources), language, question_type=question_type,
                       heading_path=json.loads(heading_json))
    if choice and json.loads(choices_json or "[]").count(answer) != 1:
        flags = (*flags, "not_an_option")
    grounded = any(is_grounded(evidence, text) for text in sources)
    duplicate = None if status == "rejected" else _duplicate_of(conn, pair_id, project_id, question)
    conn.execute(
        "UPDATE qa_pairs SET flags = ?, grounded = ?, language_ok = ?, duplicate_of = ? WHERE id = ?",
        (json.dumps(list(flags)), int(grounded),
         int(language_matches(f"{question} {answer}", language) and "wrong_language" not in flags),
         duplicate, pair_id))
    mine = duplicate_form(question)
    for other_id, other_question in conn.execute(
            "SELECT id, question FROM qa_pairs WHERE duplicate_of = ?", (pair_id,)).fetchall():
        if fuzz.ratio(mine, duplicate_form(other_question)) < DUPLICATE_THRESHOLD:
            conn.execute("UPDATE qa_pairs SET duplicate_of = NULL WHERE id = ?", (other_id,))


class ReviewMethods:
    """Review methods of :class:`dataset_gen.store.Store` (see there for threading)."""

    _write: Callable[[], AbstractContextManager[sqlite3.Connection]]
    _read: Callable[[], AbstractContextManager[sqlite3.Connection]]
    get_pair: Callable[[int], StoredPair]
    update_pair: Callable[..., StoredPair]  # from PairMethods

    def change_status(self, pair_ids: Iterable[int], status: str, *,
                      expected_revisions: Mapping[int, int] | None = None) -> StatusChange:
        """Give the pairs ``status`` in one transaction and return what they were before, for
        :meth:`undo_status_change`. Unknown ids and pairs already in ``status`` are skipped; each
        changed pair's ``revision`` goes up by one. The change is one batch of the review trail
        (:mod:`dataset_gen.store_audit`), so :meth:`undo_last` can take it back later.

        ``expected_revisions`` maps pair ids to the revision the person saw: when a pair that
        would change has another revision stored (someone saved it since), no pair is changed.

        :raises StaleEditError: a pair to change has moved on from its expected revision.
        :raises ValueError: ``status`` is not ``"generated"``, ``"accepted"`` or ``"rejected"``.
        """
        checked([status], PAIR_STATUSES, "pair status")
        ids = list(dict.fromkeys(pair_ids))
        before: list[tuple[int, str, int, int]] = []
        now = utc_now()
        with self._write() as conn:
            for first in range(0, len(ids), _BATCH):
                batch = ids[first:first + _BATCH]
                rows = conn.execute(
                    f"SELECT id, status, revision FROM qa_pairs WHERE status != ?"
                    f" AND id IN ({placeholders(len(batch))})", [status, *batch]).fetchall()
                for pair_id, _, revision in rows:  # checked before any write: the error shows the stored pair
                    if expected_revisions and expected_revisions.get(pair_id, revision) != revision:
                        raise StaleEditError(self.get_pair(pair_id), expected_revisions[pair_id])
                conn.execute(
                    f"UPDATE qa_pairs SET status = ?, updated_at = ?, revision = revision + 1"
                    f" WHERE status != ? AND id IN ({placeholders(len(batch))})", [status, now, status, *batch])
                before += [(r[0], r[1], r[2], r[2] + 1) for r in rows]
            order = {pair_id: i for i, pair_id in enumerate(ids)}
            before.sort(key=lambda b: order[b[0]])
            batch_id = store_audit.record(conn, _project_of(conn, before[0][0]), (
                TrailRow(pair_id, old, status, prior, after) for pair_id, old, prior, after in before), now) \
                if before else None
        return StatusChange(status, tuple(before), batch_id)

    def undo_status_change(self, change: StatusChange) -> tuple[list[int], list[int]]:
        """Put back the status each pair of ``change`` had before it, in one transaction; return
        ``(restored ids, kept ids)``. A pair changed again since (its revision moved on, or it was
        deleted) is kept as it is now, so an undo never overwrites a later edit. Each restored
        pair's ``revision`` goes up by one (to its revision in ``change`` plus one)."""
        restored: list[int] = []
        kept: list[int] = []
        now = utc_now()
        with self._write() as conn:
            for pair_id, status, _, revision in change.before:
                done = conn.execute(
                    "UPDATE qa_pairs SET status = ?, updated_at = ?, revision = revision + 1"
                    " WHERE id = ? AND revision = ?", (status, now, pair_id, revision)).rowcount
                (restored if done else kept).append(pair_id)
            if change.batch_id is not None:
                store_audit.mark_undone(conn, change.batch_id, kept, now)
        return restored, kept

    def clear_judgement(self, pair_id: int) -> None:
        """Remove a pair's judge scores and reason, so the next judge run scores its current text.

        :raises StoreError: no such pair.
        """
        with self._write() as conn:
            if conn.execute("UPDATE qa_pairs SET faithfulness = NULL, relevance = NULL, clarity = NULL,"
                            " judge_reason = '', judged_revision = NULL WHERE id = ?", (pair_id,)).rowcount == 0:
                raise StoreError(f"No QA pair with id {pair_id}: it may have been deleted or regenerated")


    def edit_pair(self, pair_id: int, *, question: str | None = None, answer: str | None = None,
                  expected_revision: int | None = None) -> StoredPair:
        """:meth:`~dataset_gen.store_pairs.PairMethods.update_pair` (same arguments, result and
        errors) that also writes a real change as one batch of the review trail, with the text
        before, in the same transaction, so :meth:`undo_last` can take it back."""
        with self._write() as conn:
            before = self.get_pair(pair_id) if conn.execute(
                "SELECT 1 FROM qa_pairs WHERE id = ?", (pair_id,)).fetchone() else None
            after = self.update_pair(pair_id, question=question, answer=answer, expected_revision=expected_revision)
            if before is not None and after.revision != before.revision:
                store_audit.record(conn, _project_of(conn, pair_id), [TrailRow(
                    pair_id, before.status, after.status, before.revision, after.revision,
                    before.question, before.answer)], utc_now())
        return after

    def last_change(self, project_id: int) -> Batch | None:
        """The newest change of the project's review trail not undone yet (what :meth:`undo_last`
        would take back), or ``None``."""
        with self._read() as conn:
            return store_audit.last_batch(conn, project_id)

    def undo_last(self, project_id: int, batch_id: int | None = None) -> UndoResult | None:
        """Take back the newest batch of the project's review trail, in one transaction: each pair
        still at the revision the change left gets its earlier status and text back (its revision
        goes up by one and, for text, it is re-checked; a text back to the model's own is no longer
        marked edited); a pair changed since, or deleted, is kept as it is now. The batch is marked
        undone; ``None`` when nothing is left to undo.

        ``batch_id`` is the batch the person was shown: when a newer change came since (another
        tab, the CLI), nothing is undone.

        :raises StoreError: the newest batch is not ``batch_id``.
        """
        now = utc_now()
        with self._write() as conn:
            batch = store_audit.last_batch(conn, project_id)
            if batch is None:
                return None
            if batch_id is not None and batch.batch_id != batch_id:
                raise StoreError("A newer change was made since this page showed its Undo (in another tab or "
                                 "from the command line): nothing was undone; Undo now names the newest change")
            restored: list[int] = []
            kept: list[int] = []
            for row in store_audit.batch_rows(conn, batch.batch_id):
                current = conn.execute("SELECT status, revision FROM qa_pairs WHERE id = ?", (row.pair_id,)).fetchone()
                if current is None or current[1] != row.new_revision:
                    kept.append(row.pair_id)
                    continue
                revision = current[1]
                if row.old_question is not None and row.old_answer is not None:
                    revision = self.update_pair(row.pair_id, question=row.old_question, answer=row.old_answer,
                                                expected_revision=revision).revision
                    conn.execute(  # back to the model's text: no longer an edited pair
                        "UPDATE qa_pairs SET edited = 0, original_question = NULL, original_answer = NULL"
                        " WHERE id = ? AND question = original_question AND answer = original_answer",
                        (row.pair_id,))
                if row.old_status != current[0]:
                    conn.execute("UPDATE qa_pairs SET status = ?, updated_at = ?, revision = revision + 1"
                                 " WHERE id = ?", (row.old_status, now, row.pair_id))
                    revision += 1
                store_audit.retarget(conn, row.pair_id, row.old_revision, revision)
                restored.append(row.pair_id)
            store_audit.mark_undone(conn, batch.batch_id, kept, now)
        return UndoResult(batch, tuple(restored), tuple(kept))

    def review_history(self, project_id: int, limit: int = 100) -> list[tuple]:
        """The newest ``limit`` rows of the project's review trail, newest first, each
        ``(batch id, pair id, old status, new status, old question, old answer, old revision, new
        revision, changed at, undone at, undo kept)`` (:func:`dataset_gen.store_audit.history`)."""
        with self._read() as conn:
            return store_audit.history(conn, project_id, limit)

    def change_stamp(self) -> tuple[int, int]:
        """A value that differs whenever anything may have been written to the database since it
        was last read: ``(rows changed through this store's connection since it opened, SQLite's
        PRAGMA data_version, which moves when another connection commits)``. Equal stamps mean
        nothing changed, so a count made at the first is still true (for the Review page, which
        then counts once per change instead of once per rerun)."""
        with self._read() as conn:
            return conn.total_changes, conn.execute("PRAGMA data_version").fetchone()[0]

    def document_names(self, project_id: int) -> dict[int, str]:
        """Document id → name for the project's documents, ordered by name (for the Review filter;
        unlike ``list_documents`` it counts nothing, so it costs the same at any number of pairs)."""
        with self._read() as conn:
            return dict(conn.execute("SELECT id, name FROM documents WHERE project_id = ? ORDER BY name, id",
                                     (project_id,)).fetchall())

    def stale_judgements(self, pair_ids: Iterable[int]) -> set[int]:
        """The ids among ``pair_ids`` whose judge scores are of an earlier text: judged, and their
        revision is not the one they were judged at (``judged_revision``; a status change keeps
        it fresh, an edit of the question or answer does not). Unknown ids are left out."""
        ids = list(pair_ids)
        stale: set[int] = set()
        with self._read() as conn:
            for first in range(0, len(ids), _BATCH):
                batch = ids[first:first + _BATCH]
                stale.update(row[0] for row in conn.execute(
                    f"SELECT id FROM qa_pairs WHERE faithfulness IS NOT NULL AND judged_revision IS NOT revision"
                    f" AND id IN ({placeholders(len(batch))})", batch))
        return stale


def _project_of(conn: sqlite3.Connection, pair_id: int) -> int:
    """The project a pair belongs to (through its chunk's document)."""
    return int(conn.execute("SELECT d.project_id FROM qa_pairs p JOIN chunks c ON c.id = p.chunk_id"
                            " JOIN documents d ON d.id = c.document_id WHERE p.id = ?", (pair_id,)).fetchone()[0])


def judge_may_be_stale(pair: StoredPair) -> bool:
    """Whether ``pair``'s judge scores may be of an earlier text: it was judged and a person has
    edited it. Kept for callers holding only a :class:`StoredPair`; the exact answer, from the
    revision the pair was judged at, is :meth:`ReviewMethods.stale_judgements`."""
    return pair.faithfulness is not None and pair.edited
