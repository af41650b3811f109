"""The web app's pages, driven by Streamlit's AppTest against a real store and the fake Ollama."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dataset_gen.store import Store
from ui.safe import md_escape

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(__file__).resolve().parent / "data" / "corpus"


@pytest.fixture
def app_env(app_data_dir, fake_ollama):
    """(data folder, fake Ollama) for the app; see ``app_data_dir`` in conftest.py."""
    return app_data_dir, fake_ollama


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
    model = next(w for w in at.selectbox if w.label == "Model")  # the server's models to pick from
    assert model.options == ["qwen2.5:7b · 7.6B · Q4_K_M · 4.68 GB"] and model.value is None
    model.select("qwen2.5:7b")
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
    assert len(at.error) == 1 and at.error[0].value.startswith(md_escape("pdf_encrypted_user_password.pdf: "))
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
    assert at.success[0].value == md_escape("Ollama 0.12.6") + md_escape(f" is running at {fake.url}.")
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


def test_generate_page_shows_a_run_whose_process_died_as_interrupted_and_one_elsewhere_as_live(app_env):
    data_dir, _ = app_env
    project_id = seeded_project(data_dir)
    with Store.open(data_dir) as store:
        [first, second] = store.list_chunks(project_id)[:2]
        run_id = store.start_run(project_id, "qwen2.5:7b", {}, "qa_generate", "4", 27)
        store.save_chunk_pairs(first.id, run_id, [])  # one chunk done, then the process died (no lock held)
    at = open_app("generate", project_id)
    assert [w.value for w in at.warning] == [
        "Run 1 was interrupted: its process stopped after 1 of 27 chunks. Everything it saved is kept; "
        "Start generation resumes the rest."]
    with Store.open(data_dir) as store:
        assert store.get_run(run_id).status == "interrupted"
    import subprocess
    import sys
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from dataset_gen.locks import lock_project; "
         "from dataset_gen.store import Store; s = Store.open(sys.argv[1]); "
         "l = lock_project(s, int(sys.argv[2])); print('held', flush=True); time.sleep(60)",
         str(data_dir), str(project_id)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        at.run()
        assert any(i.value.startswith("Another program (e.g. the command line) is generating") for i in at.info)
        next(s for s in at.selectbox if s.label == "Model").select("qwen2.5:7b").run()
        assert next(b for b in at.button if b.label == "Start generation").disabled
    finally:
        holder.kill()
        holder.wait()


def test_generate_page_says_when_ollama_is_not_running(app_env, monkeypatch):
    data_dir, _ = app_env
    project_id = seeded_project(data_dir)
    monkeypatch.setenv("OLLAMA_HOST", "http://127.0.0.1:9")
    st.cache_resource.clear()
    at = open_app("generate", project_id)
    assert at.error[0].value.startswith(md_escape("Ollama is not running at http://127.0.0.1:9 (no answer after"))


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
    at.session_state[at.session_state["rv_drawn"]["key"]] = {"edited_rows": {0: {"answer": "人工修改的答案"}}, "added_rows": [], "deleted_rows": []}
    at.run()
    assert not at.exception
    with Store.open(data_dir) as store:
        edited = store.get_pair(first.id)
    assert (edited.answer, edited.edited, edited.original_answer) == ("人工修改的答案", True, first.answer)
    accept_all = next(b for b in at.button if b.label.startswith("Accept all"))
    accept_all.click().run()
    with Store.open(data_dir) as store:
        assert store.status_counts(project_id).get("accepted") == 0  # it asks first
    at.button(key="rv_bulk_yes").click().run()
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
        count = store.count_pairs(project_id) - 3  # the fake quoted a heading, a code line and a table row alone
    at = open_app("export", project_id)
    assert at.info[0].value.startswith("No pairs to export")
    next(c for c in at.checkbox if c.label == "Include unreviewed pairs").check().run()
    assert at.success[0].value == f"All {count} records pass LLaMA-Factory's loader rules."
    assert [c.value for c in at.caption if c.value.startswith("held back")] == [
        "held back 3 items: trivial evidence 2, wrong language 1"] * 2  # the training and the RAG tab
    next(b for b in at.button if b.label == "Write files").click().run()
    assert not at.exception
    written = data_dir / "exports" / "notes" / "notes-alpaca.json"
    records = json.loads(written.read_text(encoding="utf-8"))
    assert len(records) == count
    info = json.loads((written.parent / "dataset_info.json").read_text(encoding="utf-8"))
    assert info["notes-alpaca"]["file_name"] == "notes-alpaca.json"
    at.multiselect(key="ex_flagged").select("trivial_evidence").select("wrong_language").run()
    assert at.success[0].value == f"All {count + 3} records pass LLaMA-Factory's loader rules."
    assert not [c.value for c in at.caption if c.value.startswith("held back")]


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
    next(b for b in at.button if b.label == "Score unjudged pairs with " + md_escape("qwen2.5:7b")).click().run()
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


# --- text from documents, names and models is shown as text ----------------------------------


def test_md_escape_leaves_nothing_for_markdown_to_interpret():
    assert md_escape("report_2024-v2.pdf: 3 chunks") == "report_2024-v2.pdf: 3 chunks"
    j = "\u2060"  # WORD JOINER: Streamlit would make a bare address a link
    assert md_escape("**bold** [a](http://x)") == r"\*\*bold\*\* \[a\]\(http\:" + j + "//x\\)"
    assert md_escape('![x](http://h/p.png) <img src="y">') == r'\!\[x\]\(http\:' + j + '//h/p.png\\) \\<img src="y"\\>'
    assert md_escape("see www.example.com or ask a@b.org") == f"see www{j}.example.com or ask a{j}@b.org"
    assert md_escape(":red[x] :material/home: $x$ a_b _c_ ~d~ &amp;") == (
        r"\:red\[x\] \:material/home: \$x\$ a_b \_c\_ \~d\~ \&amp;")
    assert md_escape("1. one\n- two\n  + three\n# four\n> five\n=") == (
        "1\\. one\n\\- two\n  \\+ three\n\\# four\n\\> five\n\\=")
    assert md_escape("a\\b 2.5 x-y") == "a\\\\b 2.5 x-y"


HOSTILE_DOC = "**bold** [a](http:x) ![d](http:127.0.0.1:9)"
HOSTILE_ANSWER = '![x](http://127.0.0.1:9/pixel.png) and <img src="http://127.0.0.1:9/img.png">'
DOC_TEXT = "# Pixels\n\nThe chunk shows ![c](http://127.0.0.1:9/chunk.png) and <img src=x onerror=alert(1)> as text.\n"


def hostile_project(data_dir: Path) -> tuple[int, int]:
    """A project whose name, document name, document text, pair and judge text carry Markdown
    images and HTML: (project id, pair id)."""
    from dataset_gen.config import ChunkSettings
    from dataset_gen.ingest import ingest_bytes
    from dataset_gen.models import QAPair

    with Store.open(data_dir) as store:
        project_id = store.create_project("**p** ![p](http://127.0.0.1:9/project.png)")
        document_id = ingest_bytes(store, project_id, DOC_TEXT.encode(), HOSTILE_DOC, ChunkSettings(),
                                   max_bytes=1 << 20).document_id
        chunk = store.list_chunks(project_id, document_id=document_id)[0]
        run = store.start_run(project_id, "qwen2.5:7b", {}, "qa_generate", "1", 1)
        [pair_id] = store.save_chunk_pairs(chunk.id, run, [QAPair(
            question="What is <b>shown</b>?", answer=HOSTILE_ANSWER, evidence="![c](http://127.0.0.1:9/chunk.png)",
            grounded=True, reasoning="![r](http://127.0.0.1:9/reasoning.png)")])
        store.set_judgement(pair_id, 5, 5, 5, "![j](http://127.0.0.1:9/judge.png)")
    return project_id, pair_id


def test_review_page_shows_model_and_document_text_as_text(app_env):
    from ui.safe import highlighted, text_block

    data_dir, _ = app_env
    project_id, _ = hostile_project(data_dir)
    at = open_app("review", project_id)
    [focus] = [h.value for h in at.html if "focus-pair" in h.value]
    assert focus == text_block([("Q:", "What is <b>shown</b>?"), ("A:", HOSTILE_ANSWER),
                                ("Evidence:", "![c](http://127.0.0.1:9/chunk.png)"),
                                ("Reasoning:", "![r](http://127.0.0.1:9/reasoning.png)")], "focus-pair")
    assert "&lt;img src=&quot;http://127.0.0.1:9/img.png&quot;&gt;" in focus and "<img" not in focus
    [source] = [h.value for h in at.html if "source-chunk" in h.value]
    chunk = DOC_TEXT.strip()
    start = chunk.index("c](")  # the evidence as grounding finds it, without the quote's edge punctuation
    assert source == highlighted(chunk, (start, start + len("c](http://127.0.0.1:9/chunk.png")), "source-chunk")
    assert "![<mark>c](http://127.0.0.1:9/chunk.png</mark>) and &lt;img src=x onerror=alert(1)&gt;" in source
    captions = [c.value for c in at.caption]
    assert md_escape(f"{HOSTILE_DOC} · Pixels · chunk #0") in captions
    assert "Judge: faithfulness 5, relevance 5, clarity 5. " + md_escape("![j](http://127.0.0.1:9/judge.png)") in captions
    assert f"Project: **{md_escape('**p** ![p](http://127.0.0.1:9/project.png)')}**" in [
        c.value for c in at.sidebar.caption]
    assert not at.markdown or all("![" not in m.value for m in at.markdown)


def test_chunks_and_documents_pages_escape_names_in_labels(app_env):
    data_dir, _ = app_env
    project_id, _ = hostile_project(data_dir)
    with Store.open(data_dir) as store:
        chunk = store.list_chunks(project_id)[0]
        store.set_chunk_failed(chunk.id, "model said ![e](http://127.0.0.1:9/error.png)")
    at = open_app("chunks", project_id)
    assert at.expander[0].label.startswith("#0 · Pixels · ")
    assert [e.value for e in at.error] == [md_escape("model said ![e](http://127.0.0.1:9/error.png)")]
    at = open_app("documents", project_id)
    assert list(at.dataframe[0].value["document"]) == [HOSTILE_DOC]
    assert at.selectbox(key="docs_pick").format_func(at.selectbox(key="docs_pick").value) == HOSTILE_DOC
    at = open_app("projects", project_id)
    assert at.subheader[0].value == "Settings of " + md_escape("**p** ![p](http://127.0.0.1:9/project.png)")


# --- exports stay in the data folder -----------------------------------------------------------


def test_export_page_writes_only_under_the_data_folder_whatever_the_project_name(tmp_path, monkeypatch, fake_ollama):
    # Deep enough that the old behaviour's climb would still land inside tmp_path.
    data_dir = tmp_path / "a" / "b" / "c" / "d" / "e" / "f" / "data"
    monkeypatch.setenv("DATASET_GEN_DATA_DIR", str(data_dir))
    monkeypatch.chdir(ROOT)
    st.cache_resource.clear()
    st.cache_data.clear()
    from dataset_gen.backends import OllamaBackend
    from dataset_gen.config import ChunkSettings, Settings
    from dataset_gen.generation import run_generation
    from dataset_gen.ingest import ingest_bytes

    try:
        with Store.open(data_dir) as store:
            project_id = store.create_project("../../../../tmp/x/proj")
            ingest_bytes(store, project_id, (CORPUS / "ollama-notes-zh-TW.md").read_bytes(), "ollama-notes-zh-TW.md",
                         ChunkSettings(), max_bytes=1 << 30)
            run_generation(store, project_id, OllamaBackend(fake_ollama.url), "qwen2.5:7b", Settings(pairs_per_chunk=1))
            count = store.count_pairs(project_id) - 3  # held back: trivial evidence 2, wrong language 1
        at = open_app("export", project_id)
        next(c for c in at.checkbox if c.label == "Include unreviewed pairs").check().run()
        folder = data_dir.resolve() / "exports" / "tmp-x-proj"
        assert [c.value for c in at.code] == [str(folder / "tmp-x-proj-alpaca.json")]
        next(b for b in at.button if b.label == "Write files").click().run()
        assert not at.exception and not at.error
        at.text_input(key="ex_subfolder").input("../../../elsewhere/sub").run()
        assert [c.value for c in at.code] == [str(folder / "elsewhere-sub" / "tmp-x-proj-alpaca.json")]
        next(b for b in at.button if b.label == "Write files").click().run()
        assert not at.exception and not at.error
    finally:
        st.cache_resource.clear()
        st.cache_data.clear()
    # Every file anywhere under tmp_path, but the store's own (the database and run locks).
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file() and p.parent != data_dir)
    inside = "a/b/c/d/e/f/data/exports/tmp-x-proj/"
    assert written == [f"{inside}dataset_info.json", f"{inside}elsewhere-sub/dataset_info.json",
                       f"{inside}elsewhere-sub/tmp-x-proj-alpaca.json", f"{inside}tmp-x-proj-alpaca.json"]
    assert len(json.loads((folder / "tmp-x-proj-alpaca.json").read_text(encoding="utf-8"))) == count
    info = json.loads((folder / "dataset_info.json").read_text(encoding="utf-8"))
    assert info["tmp-x-proj-alpaca"]["file_name"] == "tmp-x-proj-alpaca.json"


# --- upload errors are one line ----------------------------------------------------------------


def test_documents_page_shows_store_and_unexpected_upload_errors_as_one_line(app_env, caplog):
    import sqlite3

    from dataset_gen.store import DB_FILENAME

    data_dir, _ = app_env
    with Store.open(data_dir) as store:
        project_id = store.create_project("p")
    # Real database conditions: a document deleted (as by another tab) the moment it is stored, and
    # a write the database refuses.
    conn = sqlite3.connect(data_dir / DB_FILENAME)
    conn.executescript(
        "CREATE TRIGGER gone AFTER INSERT ON documents WHEN NEW.name = 'gone.md'"
        " BEGIN DELETE FROM documents WHERE id = NEW.id; END;"
        "CREATE TRIGGER quota BEFORE INSERT ON documents WHEN NEW.name = 'quota.md'"
        " BEGIN SELECT RAISE(ABORT, 'disk quota exceeded\nsee the admin'); END;")
    conn.close()
    data = (CORPUS / "ollama-notes-zh-TW.md").read_bytes()
    at = open_app("documents", project_id)
    at.file_uploader[0].set_value([("gone.md", data, "text/markdown"), ("quota.md", data + b" ", "text/markdown"),
                                   ("ollama-notes-zh-TW.md", data, "text/markdown")])
    with caplog.at_level("ERROR", logger="dataset_gen.ui"):
        at.run()
    assert not at.exception
    with Store.open(data_dir) as store:
        [kept] = store.list_documents(project_id)
    gone_id = kept.id - 1
    assert [e.value for e in at.error] == [
        md_escape(f"gone.md: No document with id {gone_id}: it may have been deleted"),
        md_escape("quota.md: could not be added (IntegrityError: disk quota exceeded see the admin);"
                  " the details are in the app's log"),
    ]
    assert [s.value for s in at.success] == [f"ollama-notes-zh-TW.md: added, {kept.chunks} chunks"]
    [record] = [r for r in caplog.records if r.name == "dataset_gen.ui"]
    assert record.getMessage() == "Upload of 'quota.md' failed" and record.exc_info[0] is sqlite3.IntegrityError


# --- changes take the project's lock -----------------------------------------------------------

HOLDER = r"""
import sys, time
from pathlib import Path
from dataset_gen.locks import lock_project
from dataset_gen.store import Store

store = Store.open(Path(sys.argv[1]))
lock = lock_project(store, int(sys.argv[2]))
print("locked", flush=True)
time.sleep(600)
"""


@contextmanager
def locked_elsewhere(data_dir: Path, project_id: int) -> Iterator[None]:
    """Project ``project_id``'s lock held by another process (as a CLI run holds it) in the block."""
    import os
    import subprocess
    import sys

    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(data_dir), str(project_id)], cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        yield
    finally:
        holder.kill()
        holder.wait(timeout=30)


def project_state(data_dir: Path, project_id: int) -> tuple:
    """The project's chunks (id, ordinal, span, text, edited), document ids and project names."""
    with Store.open(data_dir) as store:
        return ([(c.id, c.ordinal, c.start, c.end, c.text, c.edited) for c in store.list_chunks(project_id)],
                [d.id for d in store.list_documents(project_id)], [p.name for p in store.list_projects()])


def test_changes_to_a_project_another_process_holds_are_refused_in_one_line(app_env):
    from dataset_gen.locks import BUSY_MESSAGE

    data_dir, _ = app_env
    project_id = seeded_project(data_dir)
    before = project_state(data_dir, project_id)
    chunks, [document_id], _ = before
    first, second, last = chunks[0][0], chunks[1][0], chunks[-1][0]
    busy = [md_escape(BUSY_MESSAGE.format(what="The project"))]
    with locked_elsewhere(data_dir, project_id):
        at = open_app("chunks", project_id)
        at.text_area(key=f"chunk_text_{first}").input(chunks[0][4] + "\n\n補充說明。").run()
        at.button(key=f"chunk_save_{first}").click().run()
        assert [w.value for w in at.warning] == busy
        for key in (f"chunk_merge_{second}", f"chunk_delete_{last}", f"resplit_{document_id}"):
            at.button(key=key).click().run()
            assert not at.exception
            assert [w.value for w in at.warning] == busy, key
        at = open_app("documents", project_id)
        at.button(key=f"delete_doc_{document_id}").click().run()
        assert [w.value for w in at.warning] == busy
        at = open_app("projects", project_id)
        at.text_input(key=f"delete_{project_id}").input("notes").run()
        next(b for b in at.button if b.label == "Delete project").click().run()
        assert not at.exception
        assert [w.value for w in at.warning] == busy
        assert at.session_state["project_id"] == project_id
        assert project_state(data_dir, project_id) == before
    # Once the other process has ended, the same change goes through.
    at = open_app("chunks", project_id)
    at.button(key=f"chunk_delete_{last}").click().run()
    assert not at.exception and not at.warning
    assert [c[0] for c in project_state(data_dir, project_id)[0]] == [c[0] for c in chunks[:-1]]


def test_a_storage_failure_in_an_action_is_one_line(app_env):
    from ui.common import get_store

    data_dir, fake = app_env
    project_id = seeded_project(data_dir)
    before = project_state(data_dir, project_id)
    first = before[0][0][0]
    at = open_app("chunks", project_id)
    conn = get_store()._conn  # the app's own connection: let its file grow by no page at all
    conn.execute(f"PRAGMA max_page_count = {conn.execute('PRAGMA page_count').fetchone()[0]}")
    at.text_area(key=f"chunk_text_{first}").input("長" * 20_000).run()
    at.button(key=f"chunk_save_{first}").click().run()
    full = md_escape(f"{data_dir}: the disk is full: free some space and run again; nothing was saved from the "
                     "step that failed")
    assert not at.exception
    assert [e.value for e in at.error] == [full]
    at = open_app("projects", project_id)
    next(w for w in at.text_area if w.label == "System prompt for exports (optional)").input("系" * 20_000)
    next(b for b in at.button if b.label == "Save settings").click().run()
    assert not at.exception
    assert [e.value for e in at.error] == [full]
    assert [s.value for s in at.success] == [md_escape("Ollama 0.12.6") + md_escape(f" is running at {fake.url}.")]
    conn.execute("PRAGMA max_page_count = 1073741823")
    assert project_state(data_dir, project_id) == before


# --- prompt overrides without the data fence ---------------------------------------------------

UNFENCED = "---\nname: {name}\nlanguage: {language}\nversion: 9\n---\n=== user ===\nWrite pairs about:\n{{{{chunk}}}}\n"


def no_fence_warning(key: str) -> str:
    return (f"{key}: this override has no `{{{{fence}}}}` placeholder, so a document's text can close the data "
            "fence and pass for instructions; copy the fence lines from the built-in template.")


def test_projects_page_warns_of_generate_and_judge_overrides_without_the_fence(app_env):
    from dataset_gen.prompts import PROMPTS_DIR

    data_dir, _ = app_env
    with Store.open(data_dir) as store:
        project_id = store.create_project("notes")
        store.set_prompt_override(project_id, "qa_judge.zh-TW", UNFENCED.format(name="qa_judge", language="zh-TW"))
    at = open_app("projects", project_id)
    assert [w.value for w in at.warning] == [no_fence_warning("qa_judge.zh-TW")]

    at.text_area(key=f"override_{project_id}_qa_generate.en").input(
        UNFENCED.format(name="qa_generate", language="en")).run()
    picker = at.selectbox(key=f"override_prompt_{project_id}")
    assert {"conversation_generate", "choice_generate", "distill_questions", "eval_judge", "nosource_judge"} <= set(
        picker.options)  # every built-in prompt can be overridden
    picker.select("qa_repair").run()
    at.text_area(key=f"override_{project_id}_qa_repair.en").input(
        UNFENCED.format(name="qa_repair", language="en")).run()  # the repair prompt fences no document
    assert not at.exception
    assert [s.value for s in at.success][1:] == ["Settings saved."]  # after the server's status line
    assert [w.value for w in at.warning] == [no_fence_warning("qa_generate.en"), no_fence_warning("qa_judge.zh-TW")]

    builtin = (PROMPTS_DIR / "qa_generate.en.txt").read_text(encoding="utf-8")
    at.selectbox(key=f"override_prompt_{project_id}").select("qa_generate").run()
    at.text_area(key=f"override_{project_id}_qa_generate.en").input(builtin).run()
    assert [w.value for w in at.warning] == [no_fence_warning("qa_judge.zh-TW")]
    with Store.open(data_dir) as store:
        assert sorted(store.prompt_overrides(project_id)) == ["qa_generate.en", "qa_judge.zh-TW", "qa_repair.en"]


def test_generate_page_leaves_skipped_chunks_out_of_the_count_and_the_start_button(app_env):
    data_dir, _ = app_env
    project_id = seeded_project(data_dir)
    with Store.open(data_dir) as store:
        chunks = store.list_chunks(project_id)
        store.set_skip(chunks[0].id, "base64 data")
        store.set_skip(chunks[1].id, "base64 data")
        for c in chunks[2:5]:
            store.set_skip(c.id, "table of contents")
        store.set_send_anyway(chunks[4].id, True)  # sent anyway: pending again
    at = open_app("generate", project_id)
    next(s for s in at.selectbox if s.label == "Model").select("qwen2.5:7b").run()
    assert not at.exception
    assert f"{len(chunks) - 4} chunks pending, 0 failed, 0 done." in [c.value for c in at.caption]
    assert [i.value for i in at.info if "skipped" in i.value] == [
        "4 chunks skipped (base64 data: 2, table of contents: 2): they are not sent to the model. "
        "The Chunks page shows why and can send any of them anyway."]
    assert next(b for b in at.button if b.label == "Start generation").disabled is False
    with Store.open(data_dir) as store:  # everything else done: nothing left to send
        run_id = store.start_run(project_id, "qwen2.5:7b", {}, "qa_generate", "4", len(chunks) - 4)
        for c in store.list_chunks(project_id):
            if not c.skipped:
                store.finish_chunk(c.id, run_id)
        store.finish_run(run_id, "finished")
    at.run()
    assert next(b for b in at.button if b.label == "Start generation").disabled is True
    assert "Nothing to send: the chunks without pairs are all skipped." in [i.value for i in at.info]


def test_chunks_page_length_histogram_has_a_numeric_ascending_axis(app_env):
    import json

    import pyarrow

    data_dir, _ = app_env
    project_id = seeded_project(data_dir)
    at = open_app("chunks", project_id)
    assert not at.exception
    with Store.open(data_dir) as store:
        lengths = sorted(len(c.text) for c in store.list_chunks(project_id))
    [chart] = at.get("vega_lite_chart")
    spec = json.loads(chart.proto.spec)
    assert spec["encoding"]["x"] == {"field": "from", "type": "quantitative", "bin": {"binned": True},
                                     "title": "Chunk lengths (characters)"}
    table = pyarrow.ipc.open_stream(chart.proto.data.data).read_all().to_pandas()
    assert list(table.columns) == ["from", "to", "chunks"]
    # 20 bins of 42 characters from the shortest chunk up, in ascending order (not sorted as text).
    assert list(table["from"]) == [401 + 42 * i for i in range(20)]
    assert list(table["chunks"]) == [3, 4, 6, 3, 2, 3, 2, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
    assert (table["chunks"].sum(), lengths[0], lengths[-1]) == (27, 401, 1223)
