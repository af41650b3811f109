"""The store's schema, version by version: ``MIGRATIONS[i]`` is the SQL script that brings it to
version ``i + 1`` (applied by :func:`dataset_gen.migrations.migrate`). Never edit a released
script: append a new one. A script that rebuilds tables starts with :data:`REBUILDS`.
"""

from __future__ import annotations

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

_V8 = REBUILDS + """
-- Kinds are data, not a closed list in SQL: item kinds (dataset_gen.models.ItemKind), where an
-- item's content came from (Origin), question types (QuestionType) and run kinds (RUN_KINDS) are
-- checked by code, so a new kind needs no table rebuild. An item belongs to its project directly:
-- items made from the model's own knowledge or from a person's examples have no chunk.
-- choices: the options of an objective question (kind 'choice') as a JSON list of strings.
-- split: 'train', 'validation' or 'test' once a held-out split was made (NULL: not assigned).
CREATE TABLE qa_pairs_v8 (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id        INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    chunk_id          INTEGER REFERENCES chunks(id) ON DELETE CASCADE,
    run_id            INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    kind              TEXT NOT NULL DEFAULT 'qa',
    origin            TEXT NOT NULL DEFAULT 'document',
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
    updated_at        TEXT NOT NULL,
    question_type     TEXT NOT NULL DEFAULT 'factual',
    reasoning         TEXT NOT NULL DEFAULT '',
    audience          TEXT NOT NULL DEFAULT '',
    context_chunk_ids TEXT NOT NULL DEFAULT '[]',
    faithfulness      INTEGER CHECK (faithfulness BETWEEN 1 AND 5),
    relevance         INTEGER CHECK (relevance BETWEEN 1 AND 5),
    clarity           INTEGER CHECK (clarity BETWEEN 1 AND 5),
    judge_reason      TEXT NOT NULL DEFAULT '',
    duplicate_of      INTEGER,
    language_ok       INTEGER NOT NULL DEFAULT 1 CHECK (language_ok IN (0, 1)),
    revision          INTEGER NOT NULL DEFAULT 0,
    flags             TEXT,
    judge_run_id      INTEGER REFERENCES runs(id) ON DELETE SET NULL,
    choices           TEXT NOT NULL DEFAULT '[]',
    split             TEXT
);
INSERT INTO qa_pairs_v8 SELECT p.id, d.project_id, p.chunk_id, p.run_id, 'qa', 'document', p.question,
    p.answer, p.evidence, p.grounded, p.status, p.edited, p.original_question, p.original_answer,
    p.created_at, p.updated_at, p.question_type, p.reasoning, p.audience, p.context_chunk_ids,
    p.faithfulness, p.relevance, p.clarity, p.judge_reason, p.duplicate_of, p.language_ok, p.revision,
    p.flags, p.judge_run_id, '[]', NULL
    FROM qa_pairs p JOIN chunks c ON c.id = p.chunk_id JOIN documents d ON d.id = c.document_id;
DROP TABLE qa_pairs;
ALTER TABLE qa_pairs_v8 RENAME TO qa_pairs;
CREATE INDEX qa_pairs_by_chunk ON qa_pairs(chunk_id, status);
CREATE INDEX qa_pairs_by_run ON qa_pairs(run_id);
CREATE INDEX qa_pairs_duplicate_of ON qa_pairs(duplicate_of);
CREATE INDEX qa_pairs_by_project ON qa_pairs(project_id, kind, status);
CREATE INDEX qa_pairs_by_split ON qa_pairs(project_id, split);
-- Items with no chunk, found without scanning a project's document items (they list first).
CREATE INDEX qa_pairs_sourceless ON qa_pairs(project_id, id) WHERE chunk_id IS NULL;

CREATE TABLE runs_v8 (
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
    duration_s        REAL NOT NULL DEFAULT 0,
    kind              TEXT NOT NULL DEFAULT 'generate',
    pairs_total       INTEGER NOT NULL DEFAULT 0,
    pairs_judged      INTEGER NOT NULL DEFAULT 0,
    pairs_failed      INTEGER NOT NULL DEFAULT 0
);
INSERT INTO runs_v8 SELECT id, project_id, model, options, prompt_name, prompt_version, started_at,
    finished_at, status, chunks_total, chunks_done, chunks_failed, prompt_tokens, completion_tokens,
    duration_s, kind, pairs_total, pairs_judged, pairs_failed FROM runs;
DROP TABLE runs;
ALTER TABLE runs_v8 RENAME TO runs;
CREATE INDEX runs_by_project ON runs(project_id);
CREATE INDEX runs_by_kind ON runs(project_id, kind);
"""

# Version 9: a conversation item's turns, one row each, and what it was asked for (scenario,
# roles, language); both go with their item (ON DELETE CASCADE).
_V9 = """
CREATE TABLE conversation_turns (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    pair_id          INTEGER NOT NULL REFERENCES qa_pairs(id) ON DELETE CASCADE,
    position         INTEGER NOT NULL,
    role             TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    content          TEXT NOT NULL,
    evidence         TEXT NOT NULL DEFAULT '',
    grounded         INTEGER NOT NULL DEFAULT 1,
    edited           INTEGER NOT NULL DEFAULT 0,
    original_content TEXT,
    flags            TEXT NOT NULL DEFAULT '[]',
    UNIQUE (pair_id, position)
);

CREATE TABLE conversations (
    pair_id  INTEGER PRIMARY KEY REFERENCES qa_pairs(id) ON DELETE CASCADE,
    language TEXT NOT NULL,
    scenario TEXT NOT NULL DEFAULT '',
    roles    TEXT NOT NULL DEFAULT '[]'
);
"""

_V10 = """
-- Evaluations of models on a project's accepted items (dataset_gen.evaluate): which models answered,
-- which judge scored them, with what context (none: closed-book; reference: the gold chunks) and
-- on which split (NULL: every accepted item). run_id is the latest evaluate run that worked on it.
CREATE TABLE evaluations (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    run_id     INTEGER REFERENCES runs(id) ON DELETE SET NULL,
    models     TEXT NOT NULL,
    judge      TEXT NOT NULL DEFAULT '',
    context    TEXT NOT NULL DEFAULT 'none',
    split      TEXT,
    status     TEXT NOT NULL DEFAULT 'running',
    created_at TEXT NOT NULL
);
CREATE INDEX evaluations_by_project ON evaluations(project_id);
-- One model's answer to one item, saved as it arrives; score (1-5) and reason once judged or
-- scored exactly (NULL: not scored yet).
CREATE TABLE eval_answers (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    evaluation_id     INTEGER NOT NULL REFERENCES evaluations(id) ON DELETE CASCADE,
    pair_id           INTEGER NOT NULL REFERENCES qa_pairs(id) ON DELETE CASCADE,
    model             TEXT NOT NULL,
    answer            TEXT NOT NULL,
    score             INTEGER CHECK (score BETWEEN 1 AND 5),
    reason            TEXT NOT NULL DEFAULT '',
    prompt_tokens     INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    duration_s        REAL NOT NULL DEFAULT 0,
    UNIQUE (evaluation_id, pair_id, model)
);
-- A person's blind vote between two models' answers to one item: winner 'a', 'b' or 'tie'.
CREATE TABLE arena_votes (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    evaluation_id INTEGER NOT NULL REFERENCES evaluations(id) ON DELETE CASCADE,
    pair_id       INTEGER NOT NULL REFERENCES qa_pairs(id) ON DELETE CASCADE,
    model_a       TEXT NOT NULL,
    model_b       TEXT NOT NULL,
    winner        TEXT NOT NULL CHECK (winner IN ('a', 'b', 'tie')),
    voted_at      TEXT NOT NULL
);
"""

# A project's domain tag tree (parent_id NULL: a top-level tag) and each item's tag (a leaf).
_V11 = """
CREATE TABLE tags (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    parent_id  INTEGER REFERENCES tags(id) ON DELETE CASCADE,
    name       TEXT NOT NULL
);
CREATE INDEX tags_by_project ON tags(project_id, parent_id);
ALTER TABLE qa_pairs ADD COLUMN tag_id INTEGER REFERENCES tags(id) ON DELETE SET NULL;
CREATE INDEX qa_pairs_by_tag ON qa_pairs(project_id, tag_id);
"""

_V12 = """
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

MIGRATIONS: tuple[str, ...] = (_V1, _V2, _V3, _V4, _V5, _V6, _V7, _V8, _V9, _V10, _V11, _V12)
"""SQL scripts; the script at index ``i`` is schema version ``i + 1``."""
