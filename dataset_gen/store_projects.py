"""The store's project and run methods: create, find, rename and delete projects, their settings
and prompt overrides; start, count and end runs (generation runs and judge runs), and save a
judge run's verdicts.

:class:`ProjectRunMethods` is mixed into :class:`dataset_gen.store.Store`, which supplies the
connection, the lock and the ``_write``/``_read`` context managers used here.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager

from .errors import StoreError
from .store_rows import (
    RUN_KINDS,
    RUN_STATUSES,
    ProjectRow,
    RunRow,
    checked,
    dump_json,
    inserted_id,
    placeholders,
    require_project,
    run_row,
    utc_now,
)

_END_RUN = (
    "UPDATE runs SET status = ?, finished_at = ?,"
    " chunks_done = (SELECT count(*) FROM (SELECT id FROM chunks WHERE run_id = runs.id AND gen_status = 'done'"
    " UNION SELECT p.chunk_id FROM qa_pairs p JOIN chunks c ON c.id = p.chunk_id"
    " WHERE p.run_id = runs.id AND c.gen_status = 'done')),"
    " chunks_failed = (SELECT count(*) FROM chunks WHERE run_id = runs.id AND gen_status = 'failed')"
)
"""Ends runs: status, finish time, and the chunks each completed and failed (add a WHERE). A
chunk a run made items for counts as done by it even when an earlier run of another kind marked
the chunk done (a conversation run after a QA run)."""


class ProjectRunMethods:
    """Project and run methods of :class:`dataset_gen.store.Store` (see there for threading)."""

    _write: Callable[..., AbstractContextManager[sqlite3.Connection]]
    _read: Callable[[], AbstractContextManager[sqlite3.Connection]]
    set_judgement: Callable[[int, int, int, int, str], None]  # from PairMethods

    # --- projects --------------------------------------------------------------------------

    def create_project(self, name: str, settings: dict | None = None) -> int:
        """Create a project; return its id. ``settings`` must be JSON-serialisable.

        :raises StoreError: the name is empty or already taken.
        """
        name = _clean_name(name)
        with self._write(f"the settings of project {name!r}") as conn:
            if conn.execute("SELECT 1 FROM projects WHERE name = ?", (name,)).fetchone():
                raise StoreError(f"A project named {name!r} already exists: pick another name")
            cursor = conn.execute(
                "INSERT INTO projects (name, settings, created_at) VALUES (?, ?, ?)",
                (name, dump_json(settings or {}), utc_now()),
            )
            return inserted_id(cursor)

    def project_id(self, name: str) -> int:
        """The id of the project called ``name``.

        :raises StoreError: no such project (the message lists the existing ones).
        """
        with self._read() as conn:
            row = conn.execute("SELECT id FROM projects WHERE name = ?", (name.strip(),)).fetchone()
            if row is not None:
                return row[0]
            names = [r[0] for r in conn.execute("SELECT name FROM projects ORDER BY name")]
        existing = f"existing: {', '.join(names)}" if names else "no projects yet: create one first"
        raise StoreError(f"No project named {name!r} ({existing})")

    def ensure_project(self, name: str) -> int:
        """The id of the project called ``name``, created (with empty settings) when missing.

        :raises StoreError: the name is empty, or it is missing and the store is read-only.
        """
        name = _clean_name(name)
        with self._read() as conn:  # an existing project needs no write (works read-only)
            row = conn.execute("SELECT id FROM projects WHERE name = ?", (name,)).fetchone()
        if row:
            return row[0]
        with self._write() as conn:
            row = conn.execute("SELECT id FROM projects WHERE name = ?", (name,)).fetchone()
            return row[0] if row else self.create_project(name)

    def list_projects(self) -> list[ProjectRow]:
        """All projects by name, with their document, chunk and pair counts."""
        sql = """
        SELECT pr.id, pr.name, pr.settings, pr.created_at,
          (SELECT count(*) FROM documents d WHERE d.project_id = pr.id) AS documents,
          (SELECT count(*) FROM chunks c JOIN documents d ON d.id = c.document_id
            WHERE d.project_id = pr.id) AS chunks,
          (SELECT count(*) FROM qa_pairs p WHERE p.project_id = pr.id) AS pairs
        FROM projects pr ORDER BY pr.name
        """
        with self._read() as conn:
            return [
                ProjectRow(row["id"], row["name"], json.loads(row["settings"]), row["created_at"],
                           row["documents"], row["chunks"], row["pairs"])
                for row in conn.execute(sql)
            ]

    def rename_project(self, project_id: int, new_name: str) -> None:
        """Rename a project.

        :raises StoreError: no such project, or the new name is empty or taken by another project.
        """
        new_name = _clean_name(new_name)
        with self._write() as conn:
            require_project(conn, project_id)
            other = conn.execute(
                "SELECT id FROM projects WHERE name = ? AND id != ?", (new_name, project_id)
            ).fetchone()
            if other:
                raise StoreError(f"A project named {new_name!r} already exists: pick another name")
            conn.execute("UPDATE projects SET name = ? WHERE id = ?", (new_name, project_id))

    def delete_project(self, project_id: int) -> None:
        """Delete a project with all its documents, chunks, runs, pairs and prompt overrides.

        Deleting a project that does not exist does nothing.
        """
        with self._write() as conn:
            conn.execute("DELETE FROM projects WHERE id = ?", (project_id,))

    def get_settings(self, project_id: int) -> dict:
        """The project's settings dict (``{}`` when never set).

        :raises StoreError: no such project.
        """
        with self._read() as conn:
            return json.loads(require_project(conn, project_id)["settings"])

    def set_settings(self, project_id: int, settings: dict) -> None:
        """Replace the project's settings (JSON-serialisable dict).

        :raises StoreError: no such project.
        """
        with self._write(f"the settings of project {project_id}") as conn:
            require_project(conn, project_id)
            conn.execute(
                "UPDATE projects SET settings = ? WHERE id = ?", (dump_json(settings), project_id)
            )

    def set_prompt_override(self, project_id: int, prompt_name: str, text: str | None) -> None:
        """Use ``text`` instead of the shipped prompt ``prompt_name`` in this project; ``None``
        removes the override.

        :raises StoreError: no such project.
        """
        size = f" ({len(text):,} characters)" if text is not None else ""
        with self._write(f"the override of prompt {prompt_name!r}{size}") as conn:
            require_project(conn, project_id)
            if text is None:
                conn.execute(
                    "DELETE FROM prompt_overrides WHERE project_id = ? AND prompt_name = ?",
                    (project_id, prompt_name),
                )
            else:
                conn.execute(
                    "INSERT INTO prompt_overrides (project_id, prompt_name, text) VALUES (?, ?, ?)"
                    " ON CONFLICT (project_id, prompt_name) DO UPDATE SET text = excluded.text",
                    (project_id, prompt_name, text),
                )

    def prompt_overrides(self, project_id: int) -> dict[str, str]:
        """The project's prompt overrides, prompt name → template text."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT prompt_name, text FROM prompt_overrides WHERE project_id = ?"
                " ORDER BY prompt_name",
                (project_id,),
            )
            return {row[0]: row[1] for row in rows}

    # --- runs ------------------------------------------------------------------------------

    def start_run(
        self,
        project_id: int,
        model: str,
        options: dict,
        prompt_name: str,
        prompt_version: str,
        chunks_total: int,
    ) -> int:
        """Record the start of a generation run (kind ``"generate"``, status ``"running"``) over
        ``chunks_total`` chunks; return its id.

        :raises StoreError: no such project.
        """
        return self._insert_run(project_id, "generate", model, options, prompt_name, prompt_version,
                                chunks_total=chunks_total)

    def start_judge_run(
        self,
        project_id: int,
        model: str,
        options: dict,
        prompt_name: str,
        prompt_version: str,
        pairs_total: int,
    ) -> int:
        """Record the start of a judge run (kind ``"judge"``, status ``"running"``) over
        ``pairs_total`` pairs; return its id. ``options`` are the options sent with every call
        (Ollama's names, with ``num_ctx``); ``prompt_version`` ends in ``+override`` when the
        project's own template is used (:func:`dataset_gen.prompts.load_prompt`).

        :raises StoreError: no such project.
        """
        return self._insert_run(project_id, "judge", model, options, prompt_name, prompt_version,
                                pairs_total=pairs_total)

    def _insert_run(self, project_id: int, kind: str, model: str, options: dict, prompt_name: str,
                    prompt_version: str, *, chunks_total: int = 0, pairs_total: int = 0) -> int:
        checked([kind], RUN_KINDS, "run kind")
        with self._write() as conn:
            require_project(conn, project_id)
            cursor = conn.execute(
                "INSERT INTO runs (project_id, kind, model, options, prompt_name, prompt_version,"
                " started_at, status, chunks_total, pairs_total) VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?, ?)",
                (project_id, kind, model, dump_json(options or {}), prompt_name, prompt_version,
                 utc_now(), chunks_total, pairs_total),
            )
            return inserted_id(cursor)

    def save_judgement(self, run_id: int, pair_id: int, faithfulness: int, relevance: int, clarity: int,
                       reason: str) -> None:
        """Store a judge run's verdict on a pair in one transaction: the scores (each 1–5) and
        reason (:meth:`set_judgement`), the pair's ``judge_run_id`` = ``run_id``, and one more
        ``pairs_judged`` on the run.

        :raises StoreError: no such pair, or no judge run ``run_id``. :raises ValueError: a score outside 1–5.
        """
        with self._write() as conn:
            self.set_judgement(pair_id, faithfulness, relevance, clarity, reason)  # joins this transaction
            if conn.execute("UPDATE runs SET pairs_judged = pairs_judged + 1 WHERE id = ? AND kind = 'judge'",
                            (run_id,)).rowcount == 0:
                raise StoreError(f"No judge run with id {run_id}: start a judge run first")
            conn.execute("UPDATE qa_pairs SET judge_run_id = ? WHERE id = ?", (run_id, pair_id))

    def add_judge_failure(self, run_id: int) -> None:
        """Count one pair the judge run ``run_id`` could not score (``pairs_failed``)."""
        with self._write() as conn:
            conn.execute("UPDATE runs SET pairs_failed = pairs_failed + 1 WHERE id = ?", (run_id,))

    def judge_runs_of(self, pair_ids: list[int]) -> dict[int, int | None]:
        """Pair id → the judge run whose scores the pair holds (``None``: not judged, or judged
        before judge runs were recorded). Ids of missing pairs are left out."""
        found: dict[int, int | None] = {}
        ids = list(pair_ids)
        with self._read() as conn:
            for start in range(0, len(ids), 500):  # SQLite's parameter limit
                batch = ids[start:start + 500]
                found.update(conn.execute(
                    f"SELECT id, judge_run_id FROM qa_pairs WHERE id IN ({placeholders(len(batch))})",
                    batch).fetchall())
        return found

    def add_run_usage(
        self, run_id: int, prompt_tokens: int, completion_tokens: int, duration_s: float
    ) -> None:
        """Add one model call's token counts and duration to the run's totals (atomic)."""
        with self._write() as conn:
            conn.execute(
                "UPDATE runs SET prompt_tokens = prompt_tokens + ?,"
                " completion_tokens = completion_tokens + ?, duration_s = duration_s + ?"
                " WHERE id = ?",
                (int(prompt_tokens), int(completion_tokens), float(duration_s), run_id),
            )

    def finish_run(self, run_id: int, status: str) -> None:
        """End a run: set ``status``, ``finished_at`` and the counts of chunks it completed and
        failed (from the chunks it last touched; 0 for a judge run, whose pair counts were added
        as its verdicts were saved).

        :raises ValueError: ``status`` is not ``"finished"``, ``"cancelled"`` or ``"failed"``.
        :raises StoreError: no run has this id.
        """
        checked([status], RUN_STATUSES[1:], "final run status")
        with self._write() as conn:
            cursor = conn.execute(
                _END_RUN + " WHERE id = ?",
                (status, utc_now(), run_id),
            )
            if cursor.rowcount == 0:
                raise StoreError(f"No run with id {run_id}: start a run first")

    def close_interrupted_runs(self, project_id: int) -> int:
        """Mark the project's runs still ``"running"`` as ``"interrupted"`` (with their chunk counts);
        return how many.

        Runs of both kinds are closed: a judge run, like a generation run, holds the project's lock.
        Call it only while holding the project's lock (:mod:`dataset_gen.locks`): a run is live
        exactly while its process holds that lock, so any run still ``"running"`` then belongs to a
        process that died (kill -9, a crash, a power cut). Its unfinished chunks are still pending,
        so the next run resumes them. Nothing is written when no run is left ``"running"`` (pages
        call this on every redraw).
        """
        with self._read() as conn:
            if conn.execute("SELECT 1 FROM runs WHERE status = 'running' AND project_id = ? LIMIT 1",
                            (project_id,)).fetchone() is None:
                return 0
        with self._write() as conn:
            cursor = conn.execute(
                _END_RUN + " WHERE status = 'running' AND project_id = ?",
                ("interrupted", utc_now(), project_id),
            )
            return cursor.rowcount

    def run_saved(self, run_id: int) -> tuple[int, int]:
        """``(chunks, pairs)`` run ``run_id`` has saved so far: chunks it finished (done or failed)
        and pairs it inserted, counted from the tables (right even when the run was never ended)."""
        with self._read() as conn:
            chunks = conn.execute("SELECT count(*) FROM chunks WHERE run_id = ? AND gen_status != 'pending'",
                                  (run_id,)).fetchone()[0]
            pairs = conn.execute("SELECT count(*) FROM qa_pairs WHERE run_id = ?", (run_id,)).fetchone()[0]
        return chunks, pairs

    def get_run(self, run_id: int) -> RunRow:
        """One run.

        :raises StoreError: no run has this id.
        """
        with self._read() as conn:
            row = conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise StoreError(f"No run with id {run_id}: it may have been deleted")
        return run_row(row)

    def list_runs(self, project_id: int, kind: str | None = "generate") -> list[RunRow]:
        """The project's runs of ``kind`` (``"generate"``, the default, or ``"judge"``; ``None``:
        both), newest first.

        :raises ValueError: ``kind`` is not one of those.
        """
        if kind is not None:
            checked([kind], RUN_KINDS, "run kind")
        with self._read() as conn:
            rows = conn.execute(
                "SELECT * FROM runs WHERE project_id = ? AND (? IS NULL OR kind = ?) ORDER BY id DESC",
                (project_id, kind, kind),
            )
            return [run_row(row) for row in rows]


def _clean_name(name: str) -> str:
    cleaned = (name or "").strip()
    if not cleaned:
        raise StoreError("A project name cannot be empty: type a name")
    return cleaned
