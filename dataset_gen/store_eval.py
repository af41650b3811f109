"""The store's evaluation methods: evaluations, the answers and scores of each model, and blind votes.

:class:`EvalMethods` is mixed into :class:`dataset_gen.store.Store`, which supplies the connection,
the lock and the ``_write``/``_read`` context managers used here. Tables: ``evaluations``,
``eval_answers`` and ``arena_votes`` (schema version 9, :mod:`dataset_gen.migrations`). An answer is
saved the moment it arrives and scored later (``score`` NULL until then), so a stopped evaluation
keeps every answer and resumes with only what is missing.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

from .errors import StoreError
from .store_rows import checked, inserted_id, require_project, utc_now

CONTEXTS = ("none", "reference")
"""What a candidate sees besides the question: nothing (closed-book) or the item's gold chunks."""
EVAL_STATUSES = ("running", "finished", "cancelled", "failed", "interrupted")
VOTES = ("a", "b", "tie")


@dataclass(frozen=True)
class EvaluationRow:
    """An evaluation: ``models`` in the order given (the first is the baseline of win rates),
    ``judge`` (``""`` when every item is scored exactly), ``context`` (one of :data:`CONTEXTS`),
    ``split`` (``None``: every accepted item), ``status`` (one of :data:`EVAL_STATUSES`), ``run_id``
    the latest ``evaluate`` run that worked on it; ``created_at`` ISO 8601 UTC.

    ``status`` is read as ``interrupted`` when the evaluation is stored ``running`` but its run is
    ``interrupted``: its process died, which whoever next takes the project's lock records on the
    run (:meth:`~dataset_gen.store_projects.ProjectMethods.close_interrupted_runs`). Running it
    again resumes it."""

    id: int
    project_id: int
    run_id: int | None
    models: tuple[str, ...]
    judge: str
    context: str
    split: str | None
    status: str
    created_at: str


@dataclass(frozen=True)
class EvalAnswer:
    """One model's answer to one item. ``score`` is 1–5 (``None``: not scored yet), ``reason`` the
    judge's one line (or the exact scorer's); tokens are the server's counts, ``duration_s`` seconds."""

    id: int
    evaluation_id: int
    pair_id: int
    model: str
    answer: str
    score: int | None
    reason: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    duration_s: float = 0.0


_SELECT = ("SELECT e.*, CASE WHEN e.status = 'running' AND r.status = 'interrupted' THEN 'interrupted'"
           " ELSE e.status END AS shown FROM evaluations e LEFT JOIN runs r ON r.id = e.run_id")


def _evaluation(row) -> EvaluationRow:
    return EvaluationRow(row["id"], row["project_id"], row["run_id"], tuple(json.loads(row["models"])),
                         row["judge"], row["context"], row["split"], row["shown"], row["created_at"])


class EvalMethods:
    """Evaluation methods of :class:`dataset_gen.store.Store` (see there for threading)."""

    _write: Callable[..., AbstractContextManager[sqlite3.Connection]]
    _read: Callable[[], AbstractContextManager[sqlite3.Connection]]
    _insert_run: Callable[..., int]

    def start_eval_run(self, project_id: int, models: str, options: dict, prompt_name: str,
                       prompt_version: str, total: int) -> int:
        """Record the start of an evaluate run (kind ``"evaluate"``, status ``"running"``) over
        ``total`` answers to get or score; ``models`` names the candidates and the judge (e.g.
        ``"a, b; judge c"``). Returns the run's id.

        :raises StoreError: no such project.
        """
        return self._insert_run(project_id, "evaluate", models, options, prompt_name, prompt_version,
                                pairs_total=total)

    def create_evaluation(self, project_id: int, models: list[str], judge: str, context: str,
                          split: str | None) -> int:
        """Record a new evaluation (status ``running``) and return its id.

        :raises ValueError: no model, a model named twice, or ``context`` not in :data:`CONTEXTS`.
        :raises StoreError: no such project.
        """
        if not models or len(set(models)) != len(models):
            raise ValueError(f"An evaluation needs one or more different models, got {models!r}")
        checked([context], CONTEXTS, "evaluation context")
        with self._write() as conn:
            require_project(conn, project_id)
            cursor = conn.execute(
                "INSERT INTO evaluations (project_id, models, judge, context, split, status, created_at)"
                " VALUES (?, ?, ?, ?, ?, 'running', ?)",
                (project_id, json.dumps(list(models), ensure_ascii=False), judge, context, split, utc_now()))
            return inserted_id(cursor)

    def get_evaluation(self, evaluation_id: int) -> EvaluationRow:
        """One evaluation. :raises StoreError: no evaluation has this id."""
        with self._read() as conn:
            row = conn.execute(_SELECT + " WHERE e.id = ?", (evaluation_id,)).fetchone()
        if row is None:
            raise StoreError(f"No evaluation with id {evaluation_id}: it may have been deleted")
        return _evaluation(row)

    def list_evaluations(self, project_id: int) -> list[EvaluationRow]:
        """The project's evaluations, newest first."""
        with self._read() as conn:
            rows = conn.execute(_SELECT + " WHERE e.project_id = ? ORDER BY e.id DESC", (project_id,))
            return [_evaluation(r) for r in rows]

    def set_evaluation_state(self, evaluation_id: int, status: str, run_id: int | None = None) -> None:
        """Set an evaluation's ``status`` (and its latest ``run_id`` when given).

        :raises ValueError: ``status`` not in :data:`EVAL_STATUSES`.
        """
        checked([status], EVAL_STATUSES, "evaluation status")
        with self._write() as conn:
            conn.execute("UPDATE evaluations SET status = ?, run_id = coalesce(?, run_id) WHERE id = ?",
                         (status, run_id, evaluation_id))

    def save_eval_answer(self, evaluation_id: int, pair_id: int, model: str, answer: str, *,
                         prompt_tokens: int = 0, completion_tokens: int = 0, duration_s: float = 0.0) -> None:
        """Store ``model``'s answer to item ``pair_id`` (unscored). An answer already stored for
        the same item and model is replaced, its score cleared.

        :raises StoreError: the evaluation or the item is missing.
        """
        with self._write() as conn:
            try:
                conn.execute(
                    "INSERT INTO eval_answers (evaluation_id, pair_id, model, answer, prompt_tokens,"
                    " completion_tokens, duration_s) VALUES (?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (evaluation_id, pair_id, model) DO UPDATE SET answer = excluded.answer,"
                    " score = NULL, reason = '', prompt_tokens = excluded.prompt_tokens,"
                    " completion_tokens = excluded.completion_tokens, duration_s = excluded.duration_s",
                    (evaluation_id, pair_id, model, answer, int(prompt_tokens), int(completion_tokens),
                     float(duration_s)))
            except sqlite3.IntegrityError as exc:
                raise StoreError(f"Evaluation {evaluation_id} or item {pair_id} is missing: {exc}") from None

    def save_eval_score(self, evaluation_id: int, pair_id: int, model: str, score: int, reason: str) -> None:
        """Score a stored answer (1–5) with a one-line ``reason``.

        :raises ValueError: ``score`` outside 1–5. :raises StoreError: no such answer stored.
        """
        if isinstance(score, bool) or not 1 <= int(score) <= 5:
            raise ValueError(f"An evaluation score is a whole number from 1 to 5, got {score!r}")
        with self._write() as conn:
            if conn.execute("UPDATE eval_answers SET score = ?, reason = ? WHERE evaluation_id = ? AND pair_id = ?"
                            " AND model = ?", (int(score), reason, evaluation_id, pair_id, model)).rowcount == 0:
                raise StoreError(f"No answer of {model!r} to item {pair_id} in evaluation {evaluation_id}")

    def eval_answers(self, evaluation_id: int) -> list[EvalAnswer]:
        """Every stored answer of the evaluation, by item id then model name."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT id, evaluation_id, pair_id, model, answer, score, reason, prompt_tokens,"
                " completion_tokens, duration_s FROM eval_answers WHERE evaluation_id = ? ORDER BY pair_id, model",
                (evaluation_id,))
            return [EvalAnswer(*tuple(r)) for r in rows]

    def add_arena_vote(self, evaluation_id: int, pair_id: int, model_a: str, model_b: str, winner: str) -> int:
        """Record a person's blind vote on item ``pair_id``: ``winner`` is ``"a"`` (``model_a``'s
        answer was better), ``"b"`` or ``"tie"``. Returns the vote's id.

        :raises ValueError: ``winner`` not in :data:`VOTES`, or the same model on both sides.
        :raises StoreError: the evaluation or the item is missing.
        """
        checked([winner], VOTES, "vote")
        if model_a == model_b:
            raise ValueError(f"A vote compares two different models, got {model_a!r} twice")
        with self._write() as conn:
            try:
                cursor = conn.execute(
                    "INSERT INTO arena_votes (evaluation_id, pair_id, model_a, model_b, winner, voted_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)", (evaluation_id, pair_id, model_a, model_b, winner, utc_now()))
            except sqlite3.IntegrityError as exc:
                raise StoreError(f"Evaluation {evaluation_id} or item {pair_id} is missing: {exc}") from None
            return inserted_id(cursor)

    def arena_votes(self, evaluation_id: int) -> list[tuple[int, str, str, str]]:
        """The evaluation's votes in the order cast: ``(pair id, model a, model b, winner)``."""
        with self._read() as conn:
            rows = conn.execute("SELECT pair_id, model_a, model_b, winner FROM arena_votes WHERE evaluation_id = ?"
                                " ORDER BY id", (evaluation_id,))
            return [tuple(r) for r in rows]
