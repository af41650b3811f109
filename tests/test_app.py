"""The web app's pages, driven by Streamlit's AppTest against a real store and the fake Ollama."""

import json
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dataset_gen.store import Store

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(__file__).resolve().parent / "data" / "corpus"


@pytest.fixture
def app_env(tmp_path, monkeypatch, fake_ollama):
    """Data folder and Ollama host for the app; process-wide caches cleared before and after."""
    monkeypatch.setenv("DATASET_GEN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("OLLAMA_HOST", fake_ollama.url)
    monkeypatch.chdir(ROOT)
    st.cache_resource.clear()
    st.cache_data.clear()
    yield tmp_path, fake_ollama
    st.cache_resource.clear()
    st.cache_data.clear()


def open_app(page=None, project_id=None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    if project_id is not None:
        at.session_state["project_id"] = project_id
    at.run()
    if page:
        at.switch_page(f"ui/pages/{page}.py")
        at.run()
    assert not at.exception, at.exception
    return at


def seeded_project(data_dir: Path, files=("ollama-notes-zh-TW.md",)) -> int:
    """A project with the given corpus files ingested, through the core (not the UI)."""
    from dataset_gen.config import ChunkSettings
    from dataset_gen.ingest import ingest_bytes

    with Store.open(data_dir) as store:
        project_id = store.create_project("notes")
        for name in files:
            ingest_bytes(store, project_id, (CORPUS / name).read_bytes(), name, ChunkSettings(), max_bytes=1 << 30)
    return project_id


def test_projects_page_creates_a_project_and_saves_its_settings(app_env):
    data_dir, _ = app_env
    at = open_app()
    at.text_input[0].input("手冊")
    at.button[0].click().run()
    assert not at.exception
    with Store.open(data_dir) as store:
        [project] = store.list_projects()
    assert project.name == "手冊"
    assert at.session_state["project_id"] == project.id
    model = next(w for w in at.text_input if w.label == "Model")
    model.input("qwen2.5:7b")
    next(w for w in at.number_input if w.label == "QA pairs per chunk").set_value(5)
    next(b for b in at.button if b.label == "Save settings").click().run()
    with Store.open(data_dir) as store:
        saved = store.get_settings(project.id)
    assert (saved["model"], saved["pairs_per_chunk"]) == ("qwen2.5:7b", 5)


def test_documents_page_uploads_good_and_bad_files(app_env):
    data_dir, _ = app_env
    with Store.open(data_dir) as store:
        project_id = store.create_project("p")
    at = open_app("documents", project_id)
    at.file_uploader[0].set_value([
        ("ollama-notes-zh-TW.md", (CORPUS / "ollama-notes-zh-TW.md").read_bytes(), "text/markdown"),
        ("pdf_encrypted_user_password.pdf", (CORPUS / "pdf_encrypted_user_password.pdf").read_bytes(), "application/pdf"),
    ])
    at.run()
    assert not at.exception
    assert [s.value.split(":")[0] for s in at.success] == ["ollama-notes-zh-TW.md"]
    assert len(at.error) == 1 and at.error[0].value.startswith("pdf_encrypted_user_password.pdf: ")
    table = at.dataframe[0].value
    assert list(table["document"]) == ["ollama-notes-zh-TW.md"]
    assert list(table["language"]) == ["zh-TW"]
    assert list(table["encoding"]) == ["utf-8"]


def test_chunks_page_lists_chunks_with_heading_paths(app_env):
    data_dir, _ = app_env
    project_id = seeded_project(data_dir)
    at = open_app("chunks", project_id)
    with Store.open(data_dir) as store:
        chunks = store.list_chunks(project_id)
    assert len(at.expander) == len(chunks)
    assert at.expander[0].label.startswith("#0 · " + " > ".join(chunks[0].heading_path))


def test_generate_page_trial_and_background_run(app_env):
    data_dir, fake = app_env
    project_id = seeded_project(data_dir)
    at = open_app("generate", project_id)
    assert at.success[0].value.startswith("Ollama 0.12.6 is running at " + fake.url)
    assert at.info[0].value == "Pick the model that writes the pairs."
    next(s for s in at.selectbox if s.label == "Model").select("qwen2.5:7b").run()
    next(b for b in at.button if b.label == "Try one chunk").click().run()
    assert not at.exception
    assert any(c.value.startswith('{"pairs"') for c in at.code)
    assert any("<chunk-" in c.value for c in at.code)
    next(b for b in at.button if b.label == "Start generation").click().run()
    from ui.common import get_registry

    job = get_registry().get(project_id)
    job.thread.join(timeout=60)
    assert job.state == "finished", job.error
    at.run()
    assert not at.exception
    with Store.open(data_dir) as store:
        total = len(store.list_chunks(project_id))
        assert store.count_pairs(project_id) == 3 * total
    assert any(i.value.startswith("Run ended: finished.") for i in at.info)


def test_generate_page_says_when_ollama_is_not_running(app_env, monkeypatch):
    data_dir, _ = app_env
    project_id = seeded_project(data_dir)
    monkeypatch.setenv("OLLAMA_HOST", "http://127.0.0.1:9")
    st.cache_resource.clear()
    at = open_app("generate", project_id)
    assert "Ollama is not running at http://127.0.0.1:9" in at.error[0].value


def test_review_page_edits_and_accepts(app_env):
    data_dir, fake = app_env
    project_id = seeded_project(data_dir)
    from dataset_gen.backends import OllamaBackend
    from dataset_gen.config import Settings
    from dataset_gen.generation import run_generation

    with Store.open(data_dir) as store:
        run_generation(store, project_id, OllamaBackend(fake.url), "qwen2.5:7b", Settings(pairs_per_chunk=1))
        first = store.list_pairs(project_id)[0]
    at = open_app("review", project_id)
    at.session_state[at.session_state["rv_editor_key"]] = {"edited_rows": {0: {"answer": "人工修改的答案"}}, "added_rows": [], "deleted_rows": []}
    at.run()
    assert not at.exception
    with Store.open(data_dir) as store:
        edited = store.get_pair(first.id)
    assert (edited.answer, edited.edited, edited.original_answer) == ("人工修改的答案", True, first.answer)
    accept_all = next(b for b in at.button if b.label.startswith("Accept all"))
    accept_all.click().run()
    with Store.open(data_dir) as store:
        assert store.status_counts(project_id).get("accepted") == store.count_pairs(project_id)


def test_export_page_previews_validates_and_offers_download(app_env):
    data_dir, fake = app_env
    project_id = seeded_project(data_dir)
    from dataset_gen.backends import OllamaBackend
    from dataset_gen.config import Settings
    from dataset_gen.generation import run_generation

    with Store.open(data_dir) as store:
        run_generation(store, project_id, OllamaBackend(fake.url), "qwen2.5:7b", Settings(pairs_per_chunk=1))
        count = store.count_pairs(project_id)
    at = open_app("export", project_id)
    assert at.info[0].value.startswith("No pairs to export")
    next(c for c in at.checkbox if c.label == "Include unreviewed pairs").check().run()
    assert at.success[0].value == f"All {count} records pass LLaMA-Factory's loader rules."
    next(b for b in at.button if b.label == "Write files").click().run()
    assert not at.exception
    written = data_dir / "exports" / "notes" / "notes-alpaca.json"
    records = json.loads(written.read_text(encoding="utf-8"))
    assert len(records) == count
    info = json.loads((written.parent / "dataset_info.json").read_text(encoding="utf-8"))
    assert info["notes-alpaca"]["file_name"] == "notes-alpaca.json"


def test_interface_language_switches_labels(app_env):
    at = open_app()
    at.sidebar.selectbox[0].select("zh-TW").run()
    assert at.title[0].value == "專案"


def test_chunks_page_edits_merges_and_deletes(app_env):
    data_dir, _ = app_env
    project_id = seeded_project(data_dir)
    at = open_app("chunks", project_id)
    with Store.open(data_dir) as store:
        before = store.list_chunks(project_id)
    at.text_area(key=f"chunk_text_{before[0].id}").input(before[0].text + "\n\n補充說明。").run()
    at.button(key=f"chunk_save_{before[0].id}").click().run()
    at.button(key=f"chunk_merge_{before[1].id}").click().run()
    at.button(key=f"chunk_delete_{before[-1].id}").click().run()
    assert not at.exception
    with Store.open(data_dir) as store:
        after = store.list_chunks(project_id)
    assert after[0].text.endswith("補充說明。") and after[0].edited
    assert len(after) == len(before) - 2
    assert (after[1].id, after[1].end) == (before[1].id, before[2].end)
    assert before[-1].id not in {c.id for c in after}


def test_review_quality_checks_and_rag_downloads(app_env):
    data_dir, fake = app_env
    project_id = seeded_project(data_dir)
    from dataset_gen.backends import OllamaBackend
    from dataset_gen.config import ProjectConfig, Settings
    from dataset_gen.generation import run_generation

    with Store.open(data_dir) as store:
        store.set_settings(project_id, ProjectConfig(judge_model="qwen2.5:7b").model_dump())
        run_generation(store, project_id, OllamaBackend(fake.url), "qwen2.5:7b",
                       Settings(pairs_per_chunk=1, concurrency=1, question_types=("factual", "comparison")))
        total = store.count_pairs(project_id)
    at = open_app("review", project_id)
    next(b for b in at.button if b.label.startswith("Find near-duplicates")).click().run()
    assert not at.exception
    notice = next(i.value for i in at.info if "clusters;" in i.value)
    with Store.open(data_dir) as store:
        marked = store.count_pairs(project_id, duplicate=True)
    assert notice.endswith(f"{marked} pairs marked as duplicates.")
    next(b for b in at.button if b.label == "Score unjudged pairs with qwen2.5:7b").click().run()
    from ui.common import get_registry

    job = get_registry().get(project_id, "judge")
    job.thread.join(timeout=60)
    assert (job.state, job.done, job.total) == ("finished", total, total)
    with Store.open(data_dir) as store:
        assert store.count_pairs(project_id, score_below=6) == total

    at = open_app("export", project_id)
    next(c for c in at.checkbox if c.label == "Include unreviewed pairs").check().run()
    assert not at.exception
    labels = [b.label for b in at.get("download_button")]
    assert labels == ["Download", "Ragas JSONL", "Ragas CSV", "BEIR retrieval set (.zip)"]
