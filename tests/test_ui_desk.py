"""The desk's pages at scale and for a first run: labels in every language, paged chunk queries, the
Chunks page's filters and pages, the server's status and model picker, live counts, honest run
summaries and one-click resume. AppTest against a real store and the fake Ollama."""

import json
import string
from hashlib import sha256
from pathlib import Path

import pytest

from dataset_gen.models import Chunk, Document
from dataset_gen.store import Store
from dataset_gen.store_chunks import ChunkFilter
from tests.fake_ollama import FakeOllama, qa_responder
from tests.test_app import open_app, seeded_project
from ui.i18n import LANGUAGES, catalogue, placeholders, plural_form, translate
from ui.safe import md_escape

LOCALES = Path(__file__).resolve().parents[1] / "ui" / "locales"


@pytest.fixture
def app_env(app_data_dir, fake_ollama):
    """(data folder, fake Ollama) for the app; see ``app_data_dir`` in conftest.py."""
    return app_data_dir, fake_ollama


def test_every_label_exists_in_every_language_with_the_same_placeholders():
    english = catalogue("en")
    assert sorted(p.name for p in LOCALES.glob("*.json")) == sorted(f"{code}.json" for code in LANGUAGES)
    for code in LANGUAGES:
        labels = json.loads((LOCALES / f"{code}.json").read_text(encoding="utf-8"))
        assert sorted(labels) == sorted(english), code
        for key, text in labels.items():
            assert placeholders(text) == placeholders(english[key]), (code, key)
            if isinstance(text, dict):  # a plural label: the forms of CLDR's categories, always "other"
                assert "other" in text and set(text) <= {"one", "other", "by"}, (code, key)
                forms = [v for k, v in text.items() if k != "by"]
            else:
                forms = [text]
            for form in forms:  # every form formats (no stray brace)
                list(string.Formatter().parse(form))


def test_plural_forms_follow_the_count():
    assert [translate("en", "count.pairs", n=n) for n in (0, 1, 2)] == ["0 pairs", "1 pair", "2 pairs"]
    assert translate("en", "review.count", n=1) == "1 pair"
    assert translate("en", "chunks.delete_confirm", pairs=1) == "Delete this chunk and its 1 pair?"
    assert translate("en", "chunks.delete_confirm", pairs=4) == "Delete this chunk and its 4 pairs?"
    assert translate("zh-TW", "count.pairs", n=1) == "1 組問答"
    assert (plural_form("en", 1), plural_form("en", 21), plural_form("zh-TW", 1)) == ("one", "other", "other")


def big_project(data_dir: Path, chunks: int = 120) -> tuple[int, list[int]]:
    """A project with one Markdown document of ``chunks`` sections, one chunk each."""
    text = "\n\n".join(f"## Part {i}\n\nOllama listens on port 11434; section {i} says so." for i in range(chunks))
    with Store.open(data_dir) as store:
        project_id = store.create_project("big")
        document = Document("big.md", text, "markdown", sha256(text.encode()).hexdigest())
        starts = [i for i in range(len(text)) if text.startswith("## Part ", i)]
        ends = [*(s - 2 for s in starts[1:]), len(text)]
        ids = store.replace_chunks(store.add_document(project_id, document), [
            Chunk("big.md", i, s, e, text[s:e], (f"Part {i}",)) for i, (s, e) in enumerate(zip(starts, ends))])
    return project_id, ids


def test_chunk_pages_filters_and_counts_come_from_the_store(tmp_path):
    project_id, ids = big_project(tmp_path)
    with Store.open(tmp_path) as store:
        store.set_chunk_failed(ids[3], "boom")
        store.set_skip(ids[5], "base64")
        store.set_skip(ids[6], "toc")
        store.set_send_anyway(ids[6], True)
        page = store.chunk_page(project_id, limit=50, offset=100)
        assert [(c.ordinal, next_id) for c, next_id in page[-2:]] == [(118, ids[119]), (119, None)]
        assert len(page) == 20 and store.count_chunks(project_id) == 120
        assert store.count_chunks(project_id, ChunkFilter(statuses=("failed",))) == 1
        assert [c.id for c, _ in store.chunk_page(project_id, ChunkFilter(skipped=True))] == [ids[5]]
        assert store.count_chunks(project_id, ChunkFilter(skipped=False)) == 119
        assert [c.ordinal for c, _ in store.chunk_page(project_id, ChunkFilter(search="SECTION 42 "))] == [42]
        assert store.chunk_counts(project_id) == {"pending": 118, "failed": 1, "done": 0, "skipped": 1}
        assert store.skip_reason_counts(project_id) == {"base64": 1}
        assert sorted(store.chunk_lengths(project_id, ChunkFilter(search="section 7 ")))[0] == len(
            store.get_chunk(ids[7]).text)


def test_chunks_page_pages_and_filters(app_env):
    data_dir, _ = app_env
    project_id, ids = big_project(data_dir)
    with Store.open(data_dir) as store:
        store.set_chunk_failed(ids[70], "boom")
        store.set_skip(ids[80], "base64")
    at = open_app("chunks", project_id)
    assert len(at.expander) == 50 and at.expander[0].label.startswith("#0 · Part 0 · ")
    assert "Chunks 1–50 of 120" in [c.value for c in at.caption]
    page = next(n for n in at.number_input if n.label == "Page")
    page.set_value(3).run()
    assert [e.label.split(" · ")[0] for e in at.expander] == [f"#{i}" for i in range(100, 120)]
    assert "Chunks 101–120 of 120" in [c.value for c in at.caption]
    at.selectbox(key="chunks_status").select("failed").run()
    assert [e.label.split(" · ")[0] for e in at.expander] == ["#70"]
    assert [e.value for e in at.error] == ["boom"]
    at.selectbox(key="chunks_status").select(None).run()
    at.selectbox(key="chunks_skipped").select(True).run()
    assert [e.label.split(" · ")[0] for e in at.expander] == ["#80"]
    at.selectbox(key="chunks_skipped").select(None).run()
    at.text_input(key="chunks_search").input("section 99 ").run()
    with Store.open(data_dir) as store:
        size = len(store.get_chunk(ids[99]).text)
    assert [e.label for e in at.expander] == [f"#99 · Part 99 · {size} characters · pending · 0 pairs"]


def test_interface_language_comes_from_the_url_and_is_written_back(app_env):
    data_dir, _ = app_env
    project_id = seeded_project(data_dir)
    from streamlit.testing.v1 import AppTest

    from tests.test_app import ROOT

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params["lang"] = "zh-TW"
    at.session_state["project_id"] = project_id
    at.run()
    assert not at.exception
    assert at.title[0].value == "專案"
    assert at.sidebar.selectbox[0].value == "zh-TW"
    at.sidebar.selectbox[0].select("en").run()
    assert at.title[0].value == "Projects" and "lang" not in at.query_params
    at.sidebar.selectbox[0].select("zh-TW").run()
    assert at.query_params["lang"] == "zh-TW"


def test_generate_page_flags_a_model_the_server_lacks_with_the_pull_command(app_env):
    data_dir, fake = app_env
    project_id = seeded_project(data_dir)
    with Store.open(data_dir) as store:
        store.set_settings(project_id, {"model": "llama3.1:70b"})
    at = open_app("generate", project_id)
    assert [w.value for w in at.warning] == [md_escape("llama3.1:70b") + " is not on the server at "
                                             + md_escape(fake.url) + ". Pull it first: `ollama pull llama3.1:70b`"]
    picker = at.selectbox(key="gen_model")
    assert picker.options == ["⚠ llama3.1:70b", "qwen2.5:7b · 7.6B · Q4_K_M · 4.68 GB"]
    assert next(b for b in at.button if b.label == "Start generation").disabled
    picker.select("qwen2.5:7b").run()
    assert not at.warning and not next(b for b in at.button if b.label == "Start generation").disabled


def test_a_stale_server_error_goes_when_the_project_points_at_a_live_server(app_env, monkeypatch):
    data_dir, fake = app_env
    project_id = seeded_project(data_dir)
    with Store.open(data_dir) as store:
        store.set_settings(project_id, {"model": "qwen2.5:7b", "host": "http://127.0.0.1:9"})
    at = open_app("projects", project_id)
    [error] = at.error
    assert error.value.startswith(md_escape("Ollama is not running at http://127.0.0.1:9 (no answer after"))
    next(w for w in at.text_input if w.label.startswith("Ollama host")).input(fake.url)
    next(b for b in at.button if b.label == "Save settings").click().run()
    assert not at.exception and not at.error
    assert [s.value for s in at.success] == [md_escape("Ollama 0.12.6") + md_escape(f" is running at {fake.url}."),
                                             "Settings saved."]


def failing_responder(request: dict):
    """The well-behaved fake, except that chunks about part 1 get prose where JSON belongs."""
    if any("Part 1" in str(m.get("content", "")) and "<chunk" in str(m.get("content", ""))
           for m in request.get("messages") or []):
        return "I would rather not answer in JSON."
    return qa_responder(request)


def test_run_summary_counts_saved_failed_and_pending_chunks(app_data_dir, monkeypatch):
    with FakeOllama(responder=failing_responder) as fake:
        monkeypatch.setenv("OLLAMA_HOST", fake.url)
        project_id, ids = big_project(app_data_dir, chunks=4)
        with Store.open(app_data_dir) as store:
            store.set_settings(project_id, {"model": "qwen2.5:7b", "pairs_per_chunk": 2})
        at = open_app("generate", project_id)
        assert "4 chunks pending, 0 failed, 0 done." in [c.value for c in at.caption]
        next(b for b in at.button if b.label == "Start generation").click().run()
        from ui.common import get_registry

        job = get_registry().get(project_id)
        job.thread.join(timeout=60)
        at.run()
        assert [i.value for i in at.info if i.value.startswith("Run ended")] == [
            "Run ended: finished. 6 pairs saved from 3 chunks; 1 chunk failed; 0 chunks left pending."]
        assert "0 chunks pending, 1 failed, 3 done." in [c.value for c in at.caption]


def test_an_interrupted_run_resumes_in_one_click_saying_how_many_chunks_are_left(app_env):
    data_dir, _ = app_env
    project_id = seeded_project(data_dir)
    with Store.open(data_dir) as store:
        store.set_settings(project_id, {"model": "qwen2.5:7b", "pairs_per_chunk": 1})
        chunks = store.list_chunks(project_id)
        run_id = store.start_run(project_id, "qwen2.5:7b", {}, "qa_generate", "4", len(chunks))
        store.save_chunk_pairs(chunks[0].id, run_id, [])  # one chunk done, then the server stopped
    at = open_app("generate", project_id)
    left = len(chunks) - 1
    resume = at.button(key="resume_run")
    assert resume.label == f"Resume: generate the {left} chunks left" and not resume.disabled
    resume.click().run()
    from ui.common import get_registry

    job = get_registry().get(project_id)
    job.thread.join(timeout=60)
    assert job.state == "finished" and job.summary.total == left
    at.run()
    assert not [b for b in at.button if b.key == "resume_run"]
    with Store.open(data_dir) as store:
        assert store.chunk_counts(project_id) == {"pending": 0, "failed": 0, "done": len(chunks), "skipped": 0}
        assert [r.status for r in store.list_runs(project_id)] == ["finished", "interrupted"]
