"""The SQLite store, against a real database file in a temporary directory."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from dataset_gen.errors import StoreError
from dataset_gen.migrations import MIGRATIONS, migrate
from dataset_gen.models import Chunk, Document, QAPair
from dataset_gen.store import DB_FILENAME, Store

TEXT = "# Ollama 筆記\n\n## 安裝\n\n下載安裝程式後執行。\n\n## Usage\n\nRun ollama serve first.\n"


def make_document(name: str = "notes.md", text: str = TEXT, sha: str = "a" * 64, **extra) -> Document:
    return Document(name=name, text=text, kind="markdown", sha256=sha, **extra)


def make_chunks(document: Document, count: int = 2) -> list[Chunk]:
    """``count`` consecutive chunks covering the document's text."""
    size = max(1, len(document.text) // count)
    chunks = []
    for ordinal in range(count):
        start = ordinal * size
        end = len(document.text) if ordinal == count - 1 else start + size
        chunks.append(Chunk(document.name, ordinal, start, end, document.text[start:end],
                            heading_path=("Ollama 筆記", f"part {ordinal}")))
    return chunks


def qa(question: str, answer: str = "answer", grounded: bool = True) -> QAPair:
    return QAPair(question=question, answer=answer, evidence="quote", grounded=grounded)


@pytest.fixture
def store(tmp_path: Path):
    with Store.open(tmp_path / "data") as opened:
        yield opened


@pytest.fixture
def setup(store: Store):
    """A project with one document of two chunks and a started run."""
    project = store.create_project("notes", {"language": "zh-TW"})
    document = make_document()
    doc_id = store.add_document(project, document)
    chunk_ids = store.replace_chunks(doc_id, make_chunks(document))
    run = store.start_run(project, "qwen2.5:7b", {"temperature": 0.7}, "qa_generate", "1", 2)
    return project, doc_id, chunk_ids, run


# --- opening and migrations ------------------------------------------------------------------


def test_open_creates_file_with_wal_and_migrations(tmp_path: Path):
    data_dir = tmp_path / "deep" / "data"
    with Store.open(data_dir) as store:
        assert store.path == data_dir / DB_FILENAME
    conn = sqlite3.connect(data_dir / DB_FILENAME)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    versions = [row[0] for row in conn.execute("SELECT version FROM schema_migrations")]
    assert versions == list(range(1, len(MIGRATIONS) + 1))
    conn.close()


def test_reopen_does_not_reapply_migrations(tmp_path: Path):
    path = tmp_path / "db.sqlite3"
    with Store(path) as store:
        store.create_project("kept")
    first = sqlite3.connect(path).execute("SELECT version, applied_at FROM schema_migrations").fetchall()
    with Store(path) as store:
        assert [p.name for p in store.list_projects()] == ["kept"]
    again = sqlite3.connect(path).execute("SELECT version, applied_at FROM schema_migrations").fetchall()
    assert again == first


def test_version_8_gives_every_pair_its_project_and_keeps_everything(tmp_path: Path):
    """A database written at schema version 7, with pairs and a judge run, upgraded in place."""
    path = tmp_path / "db.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, MIGRATIONS[:7])
    conn.executescript("""
        INSERT INTO projects (id, name, settings, created_at) VALUES (1, 'a', '{}', 't'), (2, 'b', '{}', 't');
        INSERT INTO documents (id, project_id, name, kind, sha256, text, created_at)
            VALUES (1, 1, 'a.md', 'markdown', 'x', 'text a', 't'), (2, 2, 'b.md', 'markdown', 'y', 'text b', 't');
        INSERT INTO chunks (id, document_id, ordinal, start, "end", text, updated_at)
            VALUES (1, 1, 0, 0, 6, 'text a', 't'), (2, 2, 0, 0, 6, 'text b', 't');
        INSERT INTO runs (id, project_id, model, prompt_name, prompt_version, started_at, kind)
            VALUES (1, 1, 'm', 'qa_generate', '1', 't', 'generate'), (2, 2, 'j', 'qa_judge', '1', 't', 'judge');
        INSERT INTO qa_pairs (id, chunk_id, run_id, question, answer, created_at, updated_at,
                              question_type, faithfulness, relevance, clarity, judge_run_id, flags)
            VALUES (5, 1, 1, 'q a?', 'ans a', 't', 't', 'explanation', NULL, NULL, NULL, NULL, '[]'),
                   (9, 2, 2, 'q b?', 'ans b', 't', 't', 'factual', 4, 5, 3, 2, '["trivial"]');
    """)
    before = conn.execute("SELECT * FROM qa_pairs ORDER BY id").fetchall()
    old_names = [d[1] for d in conn.execute("PRAGMA table_info(qa_pairs)")]
    conn.close()
    with Store(path) as store:
        assert [(p.id, p.project, p.kind, p.origin, p.chunk_id) for p in store.list_pairs(2)] == [
            (9, "b", "qa", "document", 2)]
        assert [r.kind for r in store.list_runs(2, kind=None)] == ["judge"]
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    after = conn.execute("SELECT * FROM qa_pairs ORDER BY id").fetchall()
    assert [(r["id"], r["project_id"]) for r in after] == [(5, 1), (9, 2)]
    names = [d[1] for d in sqlite3.connect(path).execute("PRAGMA table_info(qa_pairs)")]
    assert names[:6] == ["id", "project_id", "chunk_id", "run_id", "kind", "origin"]
    assert [tuple(r[n] for n in old_names) for r in after] == before  # every earlier column kept
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    conn.close()


def test_kinds_are_not_checked_in_sql(setup, store: Store):
    """A new question type, item kind or run kind needs no table rebuild (schema version 8)."""
    project, _, chunk_ids, run = setup
    choice = QAPair("哪一個指令列出模型？", "ollama list", "ollama list", True, question_type="single_choice",
                    kind="choice", choices=("ollama run", "ollama list", "ollama pull", "ollama rm"))
    store.add_pairs(chunk_ids[0], run, [choice])
    with store._write() as conn:
        conn.execute("UPDATE runs SET kind = 'evaluate'")
    pair = store.list_pairs(project)[0]
    assert (pair.kind, pair.question_type, pair.choices) == (
        "choice", "single_choice", ("ollama run", "ollama list", "ollama pull", "ollama rm"))
    assert [r.kind for r in store.list_runs(project, kind=None)] == ["evaluate"]
    assert [p.id for p in store.list_pairs(project, kind="choice", origin="document")] == [pair.id]
    assert store.count_pairs(project, kind="qa") == 0


def test_pages_are_slices_of_the_whole_ordered_list(store: Store):
    """Paged listing reads in order without sorting every pair; it must give exactly the slices of
    the full, sorted list: items with no chunk first, then by document name, chunk and pair id."""
    project = store.create_project("paged")
    run = store.start_run(project, "m", {}, "qa_generate", "1", 4)
    for name in ("b.md", "a.md", "c.md"):  # ids in another order than names
        document = make_document(name, sha=name[0] * 64)
        for chunk_id in reversed(store.replace_chunks(store.add_document(project, document), make_chunks(document, 3))):
            store.add_pairs(chunk_id, run, [qa(f"{name} {chunk_id} {k}?") for k in range(3)])
    store.add_sourceless_pairs(project, run, [qa(f"free {k}?", grounded=False) for k in range(4)], "model")
    whole = [p.id for p in store.list_pairs(project)]
    assert len(whole) == 31 and [p.origin for p in store.list_pairs(project, limit=5)] == ["model"] * 4 + ["document"]
    for size in (1, 3, 4, 5, 7, 50):
        for offset in range(0, 33, 3):
            assert [p.id for p in store.list_pairs(project, limit=size, offset=offset)] == whole[offset:offset + size]
    accepted = [p.id for p in store.list_pairs(project)][2::3]
    store.set_status(accepted, "accepted")
    for offset in (0, 1, 2, 5):
        assert [p.id for p in store.list_pairs(project, statuses=["accepted"], limit=4, offset=offset)] == accepted[
            offset:offset + 4]
    doc_id = store.list_documents(project)[0].id
    in_doc = [p.id for p in store.list_pairs(project, document_id=doc_id)]
    assert [p.id for p in store.list_pairs(project, document_id=doc_id, limit=4, offset=2)] == in_doc[2:6]


def test_foreign_keys_are_on(store: Store):
    with store._read() as conn:
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_newer_schema_is_refused(tmp_path: Path):
    path = tmp_path / "db.sqlite3"
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO schema_migrations VALUES (999, 'later')")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="schema version 999"):
        Store(path)


def test_not_a_database_is_a_store_error(tmp_path: Path):
    path = tmp_path / "db.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a usable dataset-gen database"):
        Store(path)


def test_closed_store_raises(tmp_path: Path):
    store = Store(tmp_path / "db.sqlite3")
    store.close()
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.list_projects()


# --- projects --------------------------------------------------------------------------------


def test_projects(store: Store):
    a = store.create_project("alpha", {"pairs_per_chunk": 3})
    assert store.project_id("alpha") == a
    assert store.ensure_project("alpha") == a
    b = store.ensure_project("beta")
    assert b != a
    with pytest.raises(StoreError, match="already exists"):
        store.create_project("alpha")
    with pytest.raises(StoreError, match="cannot be empty"):
        store.create_project("  ")
    with pytest.raises(StoreError, match=r"No project named 'gamma' \(existing: alpha, beta\)"):
        store.project_id("gamma")

    assert store.get_settings(a) == {"pairs_per_chunk": 3}
    store.set_settings(a, {"language": "zh-TW"})
    assert store.get_settings(a) == {"language": "zh-TW"}

    store.rename_project(b, "gamma")
    assert store.project_id("gamma") == b
    with pytest.raises(StoreError, match="already exists"):
        store.rename_project(b, "alpha")

    rows = store.list_projects()
    assert [(r.name, r.settings, r.documents, r.chunks, r.pairs) for r in rows] == [
        ("alpha", {"language": "zh-TW"}, 0, 0, 0),
        ("gamma", {}, 0, 0, 0),
    ]
    store.delete_project(b)
    assert [r.name for r in store.list_projects()] == ["alpha"]
    with pytest.raises(StoreError, match="No project with id"):
        store.get_settings(b)


def test_no_projects_message(store: Store):
    with pytest.raises(StoreError, match=r"No project named 'x' \(no projects yet"):
        store.project_id("x")


def test_prompt_overrides(store: Store):
    project = store.create_project("p")
    store.set_prompt_override(project, "qa_generate", "first")
    store.set_prompt_override(project, "qa_generate", "second")
    store.set_prompt_override(project, "qa_repair", "fix it")
    assert store.prompt_overrides(project) == {"qa_generate": "second", "qa_repair": "fix it"}
    store.set_prompt_override(project, "qa_repair", None)
    assert store.prompt_overrides(project) == {"qa_generate": "second"}


def test_delete_project_removes_everything(store: Store, setup):
    project, doc_id, chunk_ids, run = setup
    store.save_chunk_pairs(chunk_ids[0], run, [qa("q1")])
    store.set_prompt_override(project, "qa_generate", "x")
    store.delete_project(project)
    with store._read() as conn:
        for table in ("documents", "chunks", "runs", "qa_pairs", "prompt_overrides"):
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0, table


# --- documents and chunks --------------------------------------------------------------------


def test_add_document_round_trip_and_dedupe(store: Store):
    project = store.create_project("p")
    document = make_document(name="paper.pdf", page_starts=(0, 10, 40), warnings=("repaired",))
    doc_id = store.add_document(project, document)
    assert store.add_document(project, document) == doc_id
    assert store.get_document(doc_id) == document
    assert store.find_document(project, "paper.pdf") == doc_id
    assert store.find_document(project, "other.pdf") is None

    changed = make_document(name="paper.pdf", sha="b" * 64)
    new_id = store.add_document(project, changed)
    assert new_id != doc_id
    assert store.find_document(project, "paper.pdf") == new_id

    other = store.create_project("q")
    assert store.add_document(other, document) not in (doc_id, new_id)

    rows = store.list_documents(project)
    assert [(r.id, r.name, r.pages, r.chars, r.warnings) for r in rows] == [
        (doc_id, "paper.pdf", 3, len(TEXT), ("repaired",)),
        (new_id, "paper.pdf", None, len(TEXT), ()),
    ]
    with pytest.raises(StoreError):
        store.get_document(9999)


def test_replace_chunks_cascades_to_pairs(store: Store, setup):
    project, doc_id, chunk_ids, run = setup
    store.save_chunk_pairs(chunk_ids[0], run, [qa("q1"), qa("q2")])
    store.set_status([store.list_pairs(project)[0].id], "accepted")

    document = store.get_document(doc_id)
    new_ids = store.replace_chunks(doc_id, make_chunks(document, 3))
    assert len(new_ids) == 3 and not set(new_ids) & set(chunk_ids)
    assert store.count_pairs(project) == 0
    rows = store.list_chunks(project)
    assert [(r.id, r.ordinal, r.gen_status, r.pairs) for r in rows] == [
        (new_ids[0], 0, "pending", 0), (new_ids[1], 1, "pending", 0), (new_ids[2], 2, "pending", 0),
    ]
    assert rows[0].heading_path == ("Ollama 筆記", "part 0")
    assert rows[0].text == document.text[rows[0].start:rows[0].end]
    assert rows[0].document == "notes.md"


def test_replace_chunks_is_one_transaction(store: Store, setup):
    project, doc_id, chunk_ids, run = setup
    document = store.get_document(doc_id)
    duplicate = make_chunks(document, 2)
    duplicate[1] = duplicate[0]  # same ordinal twice violates UNIQUE(document_id, ordinal)
    with pytest.raises(sqlite3.IntegrityError):
        store.replace_chunks(doc_id, duplicate)
    assert [c.id for c in store.list_chunks(project)] == chunk_ids


def test_chunk_status_and_listing_filters(store: Store, setup):
    project, doc_id, chunk_ids, run = setup
    store.set_chunk_failed(chunk_ids[1], "model returned no JSON")
    failed = store.get_chunk(chunk_ids[1])
    assert (failed.gen_status, failed.gen_error) == ("failed", "model returned no JSON")
    assert [c.id for c in store.list_chunks(project, statuses=["failed"])] == [chunk_ids[1]]
    assert [c.id for c in store.list_chunks(project, statuses=("pending",))] == [chunk_ids[0]]
    assert store.list_chunks(project, statuses=[]) == []
    assert [c.id for c in store.list_chunks(project, document_id=doc_id)] == chunk_ids
    with pytest.raises(ValueError, match="Unknown chunk status 'bogus'"):
        store.list_chunks(project, statuses=["bogus"])

    assert store.reset_chunks([chunk_ids[1]]) == 1
    reset = store.get_chunk(chunk_ids[1])
    assert (reset.gen_status, reset.gen_error) == ("pending", None)
    with pytest.raises(StoreError):
        store.get_chunk(9999)


def test_delete_document_removes_chunks_and_pairs(store: Store, setup):
    project, doc_id, chunk_ids, run = setup
    other_doc = store.add_document(project, make_document("other.md", sha="c" * 64))
    [other_chunk] = store.replace_chunks(other_doc, make_chunks(store.get_document(other_doc), 1))
    store.save_chunk_pairs(chunk_ids[0], run, [qa("q1")])
    store.save_chunk_pairs(other_chunk, run, [qa("q2")])

    store.delete_document(doc_id)
    assert [d.name for d in store.list_documents(project)] == ["other.md"]
    assert [c.id for c in store.list_chunks(project)] == [other_chunk]
    assert [p.question for p in store.list_pairs(project)] == ["q2"]


# --- runs ------------------------------------------------------------------------------------


def test_runs(store: Store, setup):
    project, doc_id, chunk_ids, run = setup
    row = store.get_run(run)
    assert (row.status, row.finished_at, row.options, row.chunks_total) == (
        "running", None, {"temperature": 0.7}, 2)

    store.add_run_usage(run, 100, 20, 1.5)
    store.add_run_usage(run, 50, 10, 0.5)
    store.save_chunk_pairs(chunk_ids[0], run, [qa("q1")])
    store.set_chunk_failed(chunk_ids[1], "timeout")
    store.finish_run(run, "finished")

    row = store.get_run(run)
    assert (row.status, row.chunks_done, row.chunks_failed) == ("finished", 1, 1)
    assert (row.prompt_tokens, row.completion_tokens, row.duration_s) == (150, 30, 2.0)
    assert row.finished_at is not None and row.finished_at.endswith("+00:00")

    later = store.start_run(project, "llama3.1:8b", {}, "qa_generate", "2", 1)
    assert [r.id for r in store.list_runs(project)] == [later, run]
    with pytest.raises(ValueError):
        store.finish_run(later, "running")
    with pytest.raises(StoreError):
        store.finish_run(9999, "finished")
    with pytest.raises(StoreError):
        store.get_run(9999)


# --- pairs -----------------------------------------------------------------------------------


def test_save_chunk_pairs_fills_provenance(store: Store, setup):
    project, doc_id, chunk_ids, run = setup
    store.set_chunk_failed(chunk_ids[0], "earlier failure")
    ids = store.save_chunk_pairs(
        chunk_ids[0], run, [qa("第一個問題？", "答案"), qa("q2", grounded=False)])
    assert len(ids) == 2

    chunk = store.get_chunk(chunk_ids[0])
    assert (chunk.gen_status, chunk.gen_error, chunk.pairs) == ("done", None, 2)

    pair = store.get_pair(ids[0])
    assert (pair.id, pair.project, pair.question, pair.answer, pair.evidence) == (
        ids[0], "notes", "第一個問題？", "答案", "quote")
    assert (pair.grounded, pair.status, pair.edited) == (True, "generated", False)
    assert (pair.document, pair.chunk_id, pair.chunk_ordinal) == ("notes.md", chunk_ids[0], 0)
    assert pair.heading_path == ("Ollama 筆記", "part 0")
    assert (pair.chunk_start, pair.chunk_end, pair.pages) == (chunk.start, chunk.end, None)
    assert (pair.model, pair.prompt_name, pair.prompt_version, pair.run_id) == (
        "qwen2.5:7b", "qa_generate", "1", run)
    assert pair.chunk_text == chunk.text
    assert pair.created_at.endswith("+00:00")
    assert (pair.original_question, pair.original_answer) == (None, None)
    assert store.get_pair(ids[1]).grounded is False


def test_pages_come_from_the_chunk(store: Store):
    project = store.create_project("p")
    document = make_document("paper.pdf", page_starts=(0, 20, 40))
    doc_id = store.add_document(project, document)
    chunk = Chunk("paper.pdf", 0, 0, 30, document.text[:30], page_start=1, page_end=2)
    [chunk_id] = store.replace_chunks(doc_id, [chunk])
    run = store.start_run(project, "m", {}, "qa_generate", "1", 1)
    [pair_id] = store.save_chunk_pairs(chunk_id, run, [qa("q")])
    assert store.get_pair(pair_id).pages == (1, 2)


def test_regeneration_replaces_only_unreviewed_unedited_pairs(store: Store, setup):
    project, doc_id, chunk_ids, run = setup
    keep_accepted, keep_rejected, keep_edited, replaced = store.save_chunk_pairs(
        chunk_ids[0], run, [qa("accepted"), qa("rejected"), qa("edited"), qa("replaced")])
    other_chunk = store.save_chunk_pairs(chunk_ids[1], run, [qa("other chunk")])
    store.set_status([keep_accepted], "accepted")
    store.set_status([keep_rejected], "rejected")
    store.update_pair(keep_edited, answer="fixed by hand")

    second_run = store.start_run(project, "m2", {}, "qa_generate", "2", 1)
    new_ids = store.save_chunk_pairs(chunk_ids[0], second_run, [qa("new 1"), qa("new 2")])

    remaining = {p.id: p for p in store.list_pairs(project)}
    assert set(remaining) == {keep_accepted, keep_rejected, keep_edited, *new_ids, *other_chunk}
    assert replaced not in remaining
    assert remaining[new_ids[0]].model == "m2"
    assert remaining[keep_accepted].model == "qwen2.5:7b"


def test_save_chunk_pairs_errors(store: Store, setup):
    project, doc_id, chunk_ids, run = setup
    with pytest.raises(StoreError, match="No chunk"):
        store.save_chunk_pairs(9999, run, [qa("q")])
    with pytest.raises(StoreError, match="No run"):
        store.save_chunk_pairs(chunk_ids[0], 9999, [qa("q")])
    other = store.create_project("other")
    other_run = store.start_run(other, "m", {}, "qa_generate", "1", 0)
    with pytest.raises(StoreError, match="another project"):
        store.save_chunk_pairs(chunk_ids[0], other_run, [qa("q")])
    assert store.count_pairs(project) == 0


def test_update_pair_keeps_first_originals(store: Store, setup):
    project, doc_id, chunk_ids, run = setup
    [pair_id] = store.save_chunk_pairs(chunk_ids[0], run, [qa("model question", "model answer")])

    unchanged = store.update_pair(pair_id, question="model question")
    assert unchanged.edited is False and unchanged.original_question is None

    first = store.update_pair(pair_id, question="better question")
    assert (first.question, first.answer, first.edited) == ("better question", "model answer", True)
    assert (first.original_question, first.original_answer) == ("model question", "model answer")

    second = store.update_pair(pair_id, answer="better answer")
    assert (second.question, second.answer) == ("better question", "better answer")
    assert (second.original_question, second.original_answer) == ("model question", "model answer")
    assert second.updated_at >= second.created_at

    with pytest.raises(StoreError, match="cannot be empty"):
        store.update_pair(pair_id, answer="   ")
    with pytest.raises(StoreError, match="No QA pair"):
        store.update_pair(9999, answer="x")
    with pytest.raises(StoreError, match="No QA pair"):
        store.get_pair(9999)


def test_set_status_and_counts(store: Store, setup):
    project, doc_id, chunk_ids, run = setup
    ids = store.save_chunk_pairs(chunk_ids[0], run, [qa("a"), qa("b"), qa("c")])
    assert store.set_status(ids[:2], "accepted") == 2
    assert store.set_status(ids[:2], "accepted") == 0  # already accepted
    assert store.set_status(iter([ids[2], 9999]), "rejected") == 1
    assert store.status_counts(project) == {"generated": 0, "accepted": 2, "rejected": 1}
    with pytest.raises(ValueError, match="Unknown pair status 'approved'"):
        store.set_status(ids, "approved")
    assert store.status_counts(store.create_project("empty")) == {
        "generated": 0, "accepted": 0, "rejected": 0}


def test_list_pairs_filters_order_and_search(store: Store, setup):
    project, doc_id, chunk_ids, run = setup
    # A document whose name sorts first is listed first, whatever the insertion order.
    first_doc = store.add_document(project, make_document("a-first.md", sha="d" * 64))
    [first_chunk] = store.replace_chunks(first_doc, make_chunks(store.get_document(first_doc), 1))

    # The edited pair quotes its chunk: an edit re-checks grounding against the chunk's text.
    second = next(c for c in store.list_chunks(project) if c.id == chunk_ids[1])
    late = store.save_chunk_pairs(chunk_ids[1], run, [
        QAPair(question="How do I START the server?", answer="Run ollama serve", evidence=second.text.strip()[:40], grounded=True)])
    early = store.save_chunk_pairs(chunk_ids[0], run, [
        qa("如何安裝 Ollama？", "下載安裝程式後執行。"),
        qa("Ungrounded?", "maybe", grounded=False),
    ])
    top = store.save_chunk_pairs(first_chunk, run, [qa("Straße?", "STRASSE")])
    store.set_status([early[0]], "accepted")
    store.update_pair(late[0], answer="Run `ollama serve`")

    def ids(**filters):
        return [p.id for p in store.list_pairs(project, **filters)]

    assert ids() == [*top, *early, *late]
    assert ids(statuses=["accepted"]) == [early[0]]
    assert ids(statuses=("generated", "rejected")) == [*top, early[1], *late]
    assert ids(statuses=[]) == []
    assert ids(document_id=doc_id) == [*early, *late]
    assert ids(grounded=False) == [early[1]]
    assert ids(grounded=True, document_id=doc_id) == [early[0], *late]
    assert ids(edited=True) == late
    assert ids(edited=False, statuses=["generated"]) == [*top, early[1]]
    assert ids(search="安裝") == [early[0]]  # Chinese substring in question and answer
    assert ids(search="程式後") == [early[0]]  # only in the answer
    assert ids(search="start THE") == late  # case-insensitive
    assert ids(search="strasse") == top  # Unicode case folding: ß folds to ss
    assert ids(search="100%") == []  # no LIKE wildcards
    assert ids(search="", statuses=["accepted"]) == [early[0]]
    assert ids(limit=2) == [*top, early[0]]
    assert ids(limit=2, offset=2) == [early[1], *late]
    assert ids(offset=3) == late

    assert store.count_pairs(project) == 4
    assert store.count_pairs(project, search="安裝", statuses=["accepted"]) == 1
    assert store.count_pairs(project, grounded=False) == 1
    with pytest.raises(ValueError):
        store.count_pairs(project, statuses=["nope"])

    docs = {d.name: d for d in store.list_documents(project)}
    assert (docs["notes.md"].chunks, docs["notes.md"].pairs) == (2, 3)
    [row] = store.list_projects()
    assert (row.documents, row.chunks, row.pairs) == (2, 3, 4)


def test_pairs_do_not_leak_between_projects(store: Store, setup):
    project, doc_id, chunk_ids, run = setup
    store.save_chunk_pairs(chunk_ids[0], run, [qa("mine")])
    other = store.create_project("other")
    assert store.list_pairs(other) == []
    assert store.count_pairs(other) == 0


# --- threads and volume ----------------------------------------------------------------------


def test_concurrent_saves_from_four_threads(store: Store):
    project = store.create_project("p")
    document = make_document(text="x" * 4000)
    doc_id = store.add_document(project, document)
    chunk_ids = store.replace_chunks(doc_id, make_chunks(document, 40))
    run = store.start_run(project, "m", {}, "qa_generate", "1", len(chunk_ids))
    errors: list[BaseException] = []

    def worker(mine: list[int]) -> None:
        try:
            for chunk_id in mine:
                store.save_chunk_pairs(chunk_id, run, [qa(f"{chunk_id}-{n}") for n in range(5)])
                store.add_run_usage(run, 10, 5, 0.25)
                store.count_pairs(project)
        except BaseException as error:  # collected and re-raised in the main thread
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(chunk_ids[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    store.finish_run(run, "finished")

    pairs = store.list_pairs(project)
    assert len(pairs) == 40 * 5
    assert {p.question for p in pairs} == {f"{c}-{n}" for c in chunk_ids for n in range(5)}
    row = store.get_run(run)
    assert (row.chunks_done, row.prompt_tokens, row.completion_tokens, row.duration_s) == (
        40, 400, 200, 10.0)


def test_fifty_thousand_pairs(store: Store):
    project = store.create_project("big")
    document = make_document(text="y" * 50_000)
    doc_id = store.add_document(project, document)
    chunk_ids = store.replace_chunks(doc_id, make_chunks(document, 500))
    run = store.start_run(project, "m", {}, "qa_generate", "1", len(chunk_ids))
    for chunk_id in chunk_ids:
        store.save_chunk_pairs(
            chunk_id, run, [qa(f"question {chunk_id}/{n}", grounded=n % 2 == 0) for n in range(100)]
        )

    assert store.count_pairs(project) == 50_000
    all_ids = [p.id for p in store.list_pairs(project, limit=20_000)]
    assert store.set_status(all_ids, "accepted") == 20_000
    assert store.status_counts(project) == {"generated": 30_000, "accepted": 20_000, "rejected": 0}
    assert store.count_pairs(project, statuses=["accepted"], grounded=True) == 10_000
    assert store.count_pairs(project, search=f"question {chunk_ids[7]}/") == 100
    page = store.list_pairs(project, statuses=["generated"], limit=50, offset=100)
    assert len(page) == 50 and all(p.status == "generated" for p in page)
    assert store.list_projects()[0].pairs == 50_000


def test_pair_ids_lengths_and_interrupted_runs(tmp_path):

    with Store.open(tmp_path) as store:
        project_id = store.create_project("p")
        document = Document("a.md", "# A\n\n甲乙丙。", "markdown", "0" * 64)
        [chunk_id] = store.replace_chunks(store.add_document(project_id, document),
                                          [Chunk("a.md", 0, 0, 9, "# A\n\n甲乙丙。", ("A",))])
        run_id = store.start_run(project_id, "m", {}, "qa_generate", "1", 1)
        ids = store.save_chunk_pairs(chunk_id, run_id, [QAPair("問題一？", "答案", "甲乙丙", True),
                                                        QAPair("Q2?", "A two", "x", False)])
        assert store.pair_ids(project_id) == ids
        assert store.pair_ids(project_id, grounded=False) == [ids[1]]
        assert store.pair_lengths(project_id) == [("a.md", "generated", 4, 2), ("a.md", "generated", 3, 5)]
        other = store.create_project("other")
        other_run = store.start_run(other, "m", {}, "qa_generate", "1", 1)
        assert store.close_interrupted_runs(project_id) == 1
        run = store.get_run(run_id)
        assert (run.status, run.chunks_done) == ("interrupted", 1)
        assert store.close_interrupted_runs(project_id) == 0
        assert store.get_run(other_run).status == "running"


def test_text_left_out_of_a_document_is_stored_per_page(store: Store):
    project = store.create_project("p")
    document = Document(name="r.pdf", text="Body one.\n\nBody two.", kind="pdf", sha256="ab", page_starts=(0, 11),
                        left_out=((1, "Federal Register / Vol. 85"), (2, "Federal Register / Vol. 85"), (2, "2")))
    doc_id = store.add_document(project, document)
    assert store.get_document(doc_id).left_out == document.left_out
    plain = store.add_document(project, Document(name="a.md", text="x", kind="markdown", sha256="cd"))
    assert store.get_document(plain).left_out == ()
