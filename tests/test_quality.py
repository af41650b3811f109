"""Near-duplicates, coverage and script conversion over a real store (and the fake Ollama's embeddings)."""

import pytest

from dataset_gen.backends import OllamaBackend
from dataset_gen.locks import ProjectBusyError, lock_project
from dataset_gen.models import Chunk, Document, QAPair
from dataset_gen.quality import convert_to_traditional, coverage, mark_duplicates
from dataset_gen.store import Store
from tests.fake_ollama import FakeOllama

TEXT = "## 安裝\n\nOllama 可以在 Linux 上執行。\n\n## 埠號\n\nOllama 預設在 11434 埠提供服務。\n\n## 其他\n\n沒有內容。"


@pytest.fixture
def project(tmp_path):
    store = Store.open(tmp_path)
    project_id = store.create_project("p")
    spans = [(TEXT.index(h), TEXT.index(n) - 2 if n else len(TEXT))
             for h, n in (("## 安裝", "## 埠號"), ("## 埠號", "## 其他"), ("## 其他", None))]
    chunk_ids = store.replace_chunks(
        store.add_document(project_id, Document("n.md", TEXT, "markdown", "0" * 64)),
        [Chunk("n.md", i, s, e, TEXT[s:e], (TEXT[s + 3:TEXT.index("\n", s)],)) for i, (s, e) in enumerate(spans)])
    run_id = store.start_run(project_id, "m", {}, "qa_generate", "2", 3)
    first = store.save_chunk_pairs(chunk_ids[0], run_id, [
        QAPair("Ollama 可以在哪裡執行？", "Linux。", "Linux", True),
        QAPair("Ollama 可以在哪裡執行?", "在 Linux 上。", "Linux", True),
        QAPair("Ollama 可以在哪里执行？", "Linux。", "Linux", True, language_ok=False),
    ])
    second = store.save_chunk_pairs(chunk_ids[1], run_id, [QAPair("預設埠號是多少？", "11434。", "11434", True)])
    yield store, project_id, chunk_ids, first + second
    store.close()


def test_duplicates_are_marked_and_an_accepted_pair_is_kept(project):
    store, project_id, _, ids = project
    store.set_status([ids[1]], "accepted")
    summary = mark_duplicates(store, project_id, threshold=80)
    assert [(c.keep, c.members) for c in summary.clusters] == [(ids[1], (ids[0], ids[1], ids[2]))]
    assert (summary.pairs, round(summary.rate_before, 2), summary.rate_after) == (4, 0.5, 0.0)
    assert [p.duplicate_of for p in store.list_pairs(project_id)] == [ids[1], None, ids[1], None]
    assert store.count_pairs(project_id, duplicate=True) == 2


def test_dedupe_is_refused_while_another_command_holds_the_project(project):
    store, project_id, _, ids = project
    with lock_project(store, project_id), pytest.raises(ProjectBusyError):
        mark_duplicates(store, project_id, threshold=80)
    assert store.count_pairs(project_id, duplicate=True) == 0  # nothing was marked
    with lock_project(store, project_id) as held:  # the holder itself may dedupe
        assert len(mark_duplicates(store, project_id, threshold=80, lock=held).clusters) == 1


def test_embeddings_from_ollama_link_questions(project):
    store, project_id, _, ids = project
    with FakeOllama(models=("nomic-embed-text",)) as fake:
        summary = mark_duplicates(store, project_id, threshold=99, backend=OllamaBackend(fake.url),
                                  embedding_model="nomic-embed-text", cosine_threshold=0.9999)
        assert [r for r in fake.requests if r["path"] == "/api/embed"] == []  # embed bodies are not recorded
    assert summary.clusters[0].members[:2] == (ids[0], ids[1])


def test_coverage_lists_each_uncovered_chunk_with_its_reason(project):
    store, project_id, chunk_ids, ids = project
    store.set_status([ids[3]], "rejected")
    documents, uncovered = coverage(store, project_id)
    assert [(d.document, d.chunks, d.covered, d.pairs, d.accepted) for d in documents] == [("n.md", 3, 1, 3, 0)]
    assert [(u.chunk_id, u.reason) for u in uncovered] == [
        (chunk_ids[1], "all 1 pairs rejected"), (chunk_ids[2], "not generated yet")]


def test_simplified_pairs_of_a_traditional_document_are_converted_as_edits(project):
    store, project_id, _, ids = project
    assert convert_to_traditional(store, project_id) == 1
    pair = store.get_pair(ids[2])
    assert (pair.question, pair.original_question, pair.edited, pair.language_ok) == (
        "Ollama 可以在哪裡執行？", "Ollama 可以在哪里执行？", True, True)
    assert convert_to_traditional(store, project_id) == 0


def test_coverage_names_skipped_chunks_with_their_reason(project):
    store, project_id, chunk_ids, _ = project
    store.set_skip(chunk_ids[2], "base64 data")
    store.set_skip(chunk_ids[0], "table of contents")  # it has pairs: covered all the same
    documents, uncovered = coverage(store, project_id)
    assert [(d.chunks, d.covered, d.skipped) for d in documents] == [(3, 2, 2)]
    assert [(u.chunk_id, u.reason) for u in uncovered] == [(chunk_ids[2], "skipped: base64 data")]
    store.set_send_anyway(chunk_ids[2], True)
    assert [u.reason for u in coverage(store, project_id)[1]] == ["not generated yet"]


def test_the_report_command_counts_each_documents_skipped_chunks(project, tmp_path, capsys):
    from dataset_gen.cli import main

    store, project_id, chunk_ids, _ = project
    store.set_skip(chunk_ids[2], "base64 data")
    assert main(["--data-dir", str(tmp_path), "report", "--project", "p"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[:3] == ["n.md\t2/3 chunks covered\t4 pairs\t0 accepted\t1 skipped",
                                    "  n.md: 2 chunks done, 0 failed; 4 pairs, 4 pass every check",
                                    "uncovered: n.md chunk 2 (其他): skipped: base64 data"]
