"""The store's schema as numbered migrations.

``MIGRATIONS[i]`` is the SQL script that brings the schema to version ``i + 1``. Scripts are applied
in order, each inside its own transaction together with its row in ``schema_migrations(version,
applied_at)``, so a failed script leaves the database at the previous version. Never edit a
released script: append a new one.

A script that rebuilds a table (SQLite cannot change a CHECK constraint in place) starts with the
line :data:`REBUILDS`: it then runs with ``PRAGMA foreign_keys=OFF`` (so dropping the old table
cascades nothing), and ``PRAGMA foreign_key_check`` must find no broken reference before it commits.
The rebuild follows SQLite's "making other kinds of table schema changes" procedure
(https://www.sqlite.org/lang_altertable.html#otheralter): create the new table, copy, drop the
old one, rename the new one, recreate its indexes.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from .errors import StoreError

# Version 1: the whole first schema. AUTOINCREMENT keeps ids of deleted rows from being reused,
# so an id the app still holds after a re-chunk or a re-generation never names a different row.
_V1 = """
CREATE TABLE projects (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL UNIQUE,
    settings    TEXT NOT NULL DEFAULT '{}',
    created_at  TEXT NOT NULL
);

CREATE TABLE prompt_overrides (
    project_id  INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    prompt_name TEXT NOT NULL,
    text        TEXT NOT NULL,
    PRIMARY KEY (project_id, prompt_name)
);

CREATE TABLE documents (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id  INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    text        TEXT NOT NULL,
    page_starts TEXT NOT NULL DEFAULT '[]',
    encoding    TEXT,
    warnings    TEXT NOT NULL DEFAULT '[]',
    created_at  TEXT NOT NULL
);
CREATE INDEX documents_by_project ON documents(project_id, name);

CREATE TABLE runs (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id        INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    model             TEXT NOT NULL,
    options           TEXT NOT NULL DEFAULT '{}',
    prompt_name       TEXT NOT NULL,
    prompt_version    TEXT NOT NULL,
    started_at        TEXT NOT NULL,
    finished_at       TEXT,
    status            TEXT NOT NULL DEFAULT 'running'
                      CHECK (status IN ('running', 'finished', 'cancelled', 'failed')),
    chunks_total      INTEGER NOT NULL DEFAULT 0,
    chunks_done       INTEGER NOT NULL DEFAULT 0,
    chunks_failed     INTEGER NOT NULL DEFAULT 0,
    prompt_tokens     INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    duration_s        REAL NOT NULL DEFAULT 0
);
CREATE INDEX runs_by_project ON runs(project_id);

-- run_id: the run that last generated (or failed on) the chunk; finish_run counts from it.
CREATE TABLE chunks (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id  INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ordinal      INTEGER NOT NULL,
    heading_path TEXT NOT NULL DEFAULT '[]',
    start        INTEGER NOT NULL,
    "end"        INTEGER NOT NULL,
    page_start   INTEGER,
    page_end     INTEGER,
    text         TEXT NOT NULL,
    gen_status   TEXT NOT NULL DEFAULT 'pending'
                 CHECK (gen_status IN ('pending', 'done', 'failed')),
    gen_error    TEXT,
    run_id       INTEGER REFERENCES runs(id) ON DELETE SET NULL,
    updated_at   TEXT NOT NULL,
    UNIQUE (document_id, ordinal)
);
CREATE INDEX chunks_by_run ON chunks(run_id);

CREATE TABLE qa_pairs (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    chunk_id          INTEGER NOT NULL REFERENCES chunks(id) ON DELETE CASCADE,
    run_id            INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    question          TEXT NOT NULL,
    answer            TEXT NOT NULL,
    evidence          TEXT NOT NULL DEFAULT '',
    grounded          INTEGER NOT NULL DEFAULT 0 CHECK (grounded IN (0, 1)),
    status            TEXT NOT NULL DEFAULT 'generated'
                      CHECK (status IN ('generated', 'accepted', 'rejected')),
    edited            INTEGER NOT NULL DEFAULT 0 CHECK (edited IN (0, 1)),
    original_question TEXT,
    original_answer   TEXT,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);
CREATE INDEX qa_pairs_by_chunk ON qa_pairs(chunk_id, status);
CREATE INDEX qa_pairs_by_run ON qa_pairs(run_id);
"""

_V2 = """
-- A person edited the chunk's text: it no longer equals the document's text at its span.
ALTER TABLE chunks ADD COLUMN edited INTEGER NOT NULL DEFAULT 0 CHECK (edited IN (0, 1));
"""

_V3 = """
-- Question types, chain of thought, audience, multi-hop contexts, judge scores, duplicates.
ALTER TABLE qa_pairs ADD COLUMN question_type TEXT NOT NULL DEFAULT 'factual'
    CHECK (question_type IN ('factual', 'explanation', 'comparison', 'unanswerable'));
ALTER TABLE qa_pairs ADD COLUMN reasoning TEXT NOT NULL DEFAULT '';
ALTER TABLE qa_pairs ADD COLUMN audience TEXT NOT NULL DEFAULT '';
ALTER TABLE qa_pairs ADD COLUMN context_chunk_ids TEXT NOT NULL DEFAULT '[]';
ALTER TABLE qa_pairs ADD COLUMN faithfulness INTEGER CHECK (faithfulness BETWEEN 1 AND 5);
ALTER TABLE qa_pairs ADD COLUMN relevance INTEGER CHECK (relevance BETWEEN 1 AND 5);
ALTER TABLE qa_pairs ADD COLUMN clarity INTEGER CHECK (clarity BETWEEN 1 AND 5);
ALTER TABLE qa_pairs ADD COLUMN judge_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE qa_pairs ADD COLUMN duplicate_of INTEGER;
ALTER TABLE qa_pairs ADD COLUMN language_ok INTEGER NOT NULL DEFAULT 1 CHECK (language_ok IN (0, 1));
CREATE INDEX qa_pairs_duplicate_of ON qa_pairs (duplicate_of);
"""

REBUILDS = "-- rebuilds tables"
"""First line of a migration that rebuilds tables and so must run with foreign keys off."""

_V4 = REBUILDS + """
-- Runs end as 'interrupted' when their process died (found by the project lock, never guessed).
CREATE TABLE runs_v4 (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id        INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    model             TEXT NOT NULL,
    options           TEXT NOT NULL DEFAULT '{}',
    prompt_name       TEXT NOT NULL,
    prompt_version    TEXT NOT NULL,
    started_at        TEXT NOT NULL,
    finished_at       TEXT,
    status            TEXT NOT NULL DEFAULT 'running'
                      CHECK (status IN ('running', 'finished', 'cancelled', 'failed', 'interrupted')),
    chunks_total      INTEGER NOT NULL DEFAULT 0,
    chunks_done       INTEGER NOT NULL DEFAULT 0,
    chunks_failed     INTEGER NOT NULL DEFAULT 0,
    prompt_tokens     INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    duration_s        REAL NOT NULL DEFAULT 0
);
INSERT INTO runs_v4 SELECT id, project_id, model, options, prompt_name, prompt_version, started_at,
    finished_at, status, chunks_total, chunks_done, chunks_failed, prompt_tokens, completion_tokens,
    duration_s FROM runs;
DROP TABLE runs;
ALTER TABLE runs_v4 RENAME TO runs;
CREATE INDEX runs_by_project ON runs(project_id);

-- A pair's revision goes up by one with every change a person makes, so a save made from an
-- older revision is refused instead of overwriting what another tab saved.
ALTER TABLE qa_pairs ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
"""

_V5 = """
-- Text kept out of a document's text on purpose (running headers, footers, page numbers), as a
-- JSON list of [page, text], so a person can see what was left out.
ALTER TABLE documents ADD COLUMN left_out TEXT NOT NULL DEFAULT '[]';
-- A chunk that is not worth sending to the model (base64, a table of contents, garbage text) has
-- the reason here; send_anyway = 1 when a person overrode it.
ALTER TABLE chunks ADD COLUMN skip_reason TEXT;
ALTER TABLE chunks ADD COLUMN send_anyway INTEGER NOT NULL DEFAULT 0 CHECK (send_anyway IN (0, 1));
"""

_V6 = """
-- The reason codes (dataset_gen.checks.REASONS) a pair fails, as a JSON list; NULL for pairs made
-- before the checks existed, filled by Store.fill_flags (SQL cannot run the Python checks).
ALTER TABLE qa_pairs ADD COLUMN flags TEXT;
"""

_V7 = """
-- A run is a generation run or a judge run; every run before this one generated.
ALTER TABLE runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'generate' CHECK (kind IN ('generate', 'judge'));
-- A judge run's pairs: in scope at its start, judged (scores saved) and failed (no usable verdict).
ALTER TABLE runs ADD COLUMN pairs_total INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN pairs_judged INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN pairs_failed INTEGER NOT NULL DEFAULT 0;
-- The judge run whose scores the pair holds (NULL: never judged, or judged before runs were kept).
ALTER TABLE qa_pairs ADD COLUMN judge_run_id INTEGER REFERENCES runs(id) ON DELETE SET NULL;
CREATE INDEX runs_by_kind ON runs(project_id, kind);
"""

_REVIEW_TRAIL = """
-- Every change a person makes on the Review page, one row per pair, grouped in batches (one
-- click = one batch), so Undo takes back the newest batch after a reload or from another tab, and
-- what a pair was before stays on record. old_question/old_answer hold the text before an edit
-- (NULL: the status alone changed); new_revision is the revision the change left, so an undo of a
-- pair changed since is refused. undone_at is set when the batch was undone, undo_kept = 1 for a
-- pair that undo left as it was (changed since). pair_id has no reference: the trail outlives the pair.
CREATE TABLE review_changes (
    id           INTEGER PRIMARY KEY,
    project_id   INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    batch_id     INTEGER NOT NULL,
    pair_id      INTEGER NOT NULL,
    old_status   TEXT NOT NULL,
    new_status   TEXT NOT NULL,
    old_question TEXT,
    old_answer   TEXT,
    old_revision INTEGER NOT NULL,
    new_revision INTEGER NOT NULL,
    changed_at   TEXT NOT NULL,
    undone_at    TEXT,
    undo_kept    INTEGER CHECK (undo_kept IN (0, 1))
);
CREATE INDEX review_changes_by_batch ON review_changes(batch_id);
CREATE INDEX review_changes_by_project ON review_changes(project_id, batch_id);
CREATE INDEX review_changes_by_pair ON review_changes(pair_id);
-- The revision a pair's judge scores were given at: they are stale exactly when revision differs.
-- Pairs judged before this and never edited were judged on their current text.
ALTER TABLE qa_pairs ADD COLUMN judged_revision INTEGER;
UPDATE qa_pairs SET judged_revision = revision WHERE faithfulness IS NOT NULL AND edited = 0;
-- A revision bump that leaves the text as it was (a status change, its undo) keeps fresh scores
-- fresh. (A later rebuild of qa_pairs must create this trigger again.)
CREATE TRIGGER qa_pairs_judged_follows_status AFTER UPDATE OF revision ON qa_pairs
WHEN OLD.judged_revision = OLD.revision AND NEW.question IS OLD.question AND NEW.answer IS OLD.answer
BEGIN
    UPDATE qa_pairs SET judged_revision = NEW.revision WHERE id = NEW.id;
END;
"""

MIGRATIONS: tuple[str, ...] = (_V1, _V2, _V3, _V4, _V5, _V6, _V7, _REVIEW_TRAIL)
"""SQL scripts; the script at index ``i`` is schema version ``i + 1``."""

_TRACKING = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    applied_at TEXT NOT NULL
)
"""


def statements(script: str) -> list[str]:
    """Split an SQL script into complete statements (``;`` inside triggers or strings is kept)."""
    found: list[str] = []
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n\t;"):
                found.append(pending.strip())
            pending = ""
    if pending.strip(" \n\t;"):
        raise ValueError(f"Incomplete SQL statement at the end of a migration: {pending[:80]!r}")
    return found


def applied_versions(conn: sqlite3.Connection) -> list[int]:
    """Versions already recorded in ``schema_migrations``, ascending (the table must exist)."""
    rows = conn.execute("SELECT version FROM schema_migrations ORDER BY version")
    return [row[0] for row in rows]


def pending_versions(
    conn: sqlite3.Connection, migrations: tuple[str, ...] = MIGRATIONS
) -> tuple[list[int], list[int]]:
    """``(pending, applied)``: the versions ``conn`` still lacks and those it has, ascending.

    Only reads, so it works on a read-only connection; a database without ``schema_migrations``
    has applied nothing.

    :raises StoreError: the file was written by a newer dataset-gen (it has versions we lack).
    """
    tracked = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    ).fetchone()
    have = applied_versions(conn) if tracked else []
    _refuse_newer(have, migrations)
    return [v for v in range(1, len(migrations) + 1) if v not in have], have


def _refuse_newer(have: list[int], migrations: tuple[str, ...]) -> None:
    if have and have[-1] > len(migrations):
        raise StoreError(
            f"The database has schema version {have[-1]} but this dataset-gen knows only up to "
            f"{len(migrations)}: upgrade dataset-gen, or use another data directory"
        )


def migrate(conn: sqlite3.Connection, migrations: tuple[str, ...] = MIGRATIONS) -> list[int]:
    """Apply the migrations ``conn`` does not have yet; return the versions applied now.

    ``conn`` must be in autocommit mode (``isolation_level=None``). Each script runs in a
    ``BEGIN IMMEDIATE`` transaction that also re-checks the version, so two processes opening the
    same file at once apply each script once.

    :raises StoreError: the file was written by a newer dataset-gen (it has versions we lack).
    """
    conn.execute(_TRACKING)
    have = applied_versions(conn)
    _refuse_newer(have, migrations)
    done: list[int] = []
    for version, script in enumerate(migrations, start=1):
        if version in have:
            continue
        rebuilds = script.startswith(REBUILDS)
        if rebuilds:
            conn.execute("PRAGMA foreign_keys = OFF")  # a no-op inside a transaction, so before BEGIN
        conn.execute("BEGIN IMMEDIATE")
        try:
            already = conn.execute(
                "SELECT 1 FROM schema_migrations WHERE version = ?", (version,)
            ).fetchone()
            if not already:
                for statement in statements(script):
                    conn.execute(statement)
                if rebuilds and conn.execute("PRAGMA foreign_key_check").fetchone() is not None:
                    raise StoreError(f"Schema migration {version} would break references: nothing was changed")
                conn.execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                    (version, datetime.now(UTC).isoformat(timespec="seconds")),
                )
                done.append(version)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            if rebuilds:
                conn.execute("PRAGMA foreign_keys = ON")
    return done
