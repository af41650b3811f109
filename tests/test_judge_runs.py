"""A judge call is a run: its row (kind, model, prompt, options, tokens, counts), scores naming it,
its end (finished, cancelled, failed, interrupted), templates in the project's language, and the
migration that gives old runs their kind."""

import json
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dataset_gen.backends import OllamaBackend
from dataset_gen.judge import judge_pairs
from dataset_gen.locks import ProjectBusyError, close_dead_runs, lock_project
from dataset_gen.migrations import MIGRATIONS, migrate
from dataset_gen.models import Chunk, Document, QAPair
from dataset_gen.store import DB_FILENAME, Store
from tests.fake_ollama import Reply, Slow, not_found

ROOT = Path(__file__).resolve().parents[1]
MODEL = "qwen2.5:7b"
ZH = "## 埠號\n\nOllama 預設在 11434 埠提供服務。"
EN = "## Port\n\nOllama serves on port 11434 by default."


def verdict(faithfulness: int, reason: str = "ok", **counts) -> Reply:
    return Reply(json.dumps({"faithfulness": faithfulness, "relevance": 4, "clarity": 4, "reason": reason},
                            ensure_ascii=False), **counts)


def seed(store: Store, text: str, settings: dict | None = None, name: str = "p") -> tuple[int, int, list[int]]:
    """A project with one document of ``text``, one chunk and two generated pairs: (project, run, pair ids)."""
    project_id = store.create_project(name, settings)
    document_id = store.add_document(project_id, Document("a.md", text, "markdown", "0" * 64))
    [chunk_id] = store.replace_chunks(document_id, [Chunk("a.md", 0, 0, len(text), text, ())])
    run_id = store.start_run(project_id, "gen:7b", {}, "qa_generate", "5", 1)
    ids = store.save_chunk_pairs(chunk_id, run_id, [QAPair("Q1?", "11434", "11434", True),
                                                    QAPair("Q2?", "All GPUs.", "", False)])
    store.finish_chunk(chunk_id, run_id, None)
    store.finish_run(run_id, "finished")
    return project_id, run_id, ids


@pytest.fixture
def store(tmp_path):
    with Store.open(tmp_path) as opened:
        yield opened


def test_a_judge_run_records_model_prompt_options_tokens_and_its_pairs(store, fake_ollama):
    project_id, generate_run, ids = seed(store, EN)
    fake_ollama.push(
        verdict(5, prompt_eval_count=120, eval_count=30, total_duration=1_500_000_000),
        Reply("not json", prompt_eval_count=50, eval_count=5, total_duration=250_000_000),
        verdict(2, "invented", prompt_eval_count=80, eval_count=20, total_duration=500_000_000),
    )
    summary = judge_pairs(store, project_id, OllamaBackend(fake_ollama.url), MODEL, concurrency=1)
    assert (summary.total, summary.judged, summary.failures, summary.status) == (2, 2, [], "finished")
    assert (summary.prompt_tokens, summary.completion_tokens) == (250, 55)
    [run] = store.list_runs(project_id, kind="judge")
    assert run.id == summary.run_id
    assert (run.kind, run.model, run.prompt_name, run.prompt_version, run.status) == (
        "judge", "qwen2.5:7b", "qa_judge", "3", "finished")
    assert run.options == {"temperature": 0.0, "num_predict": 300, "num_ctx": 2048}
    assert (run.prompt_tokens, run.completion_tokens, run.duration_s) == (250, 55, 2.25)
    assert (run.pairs_total, run.pairs_judged, run.pairs_failed) == (2, 2, 0)
    assert (run.chunks_total, run.chunks_done, run.chunks_failed) == (0, 0, 0)
    assert run.finished_at is not None
    assert [r["options"] for r in fake_ollama.chat_requests()] == [run.options] * 3
    assert store.judge_runs_of(ids) == {ids[0]: run.id, ids[1]: run.id}
    assert [r.id for r in store.list_runs(project_id)] == [generate_run]  # generation runs by default
    assert [r.kind for r in store.list_runs(project_id, kind=None)] == ["judge", "generate"]
    # Each pair still names the generation run that made it.
    assert {store.get_pair(i).run_id for i in ids} == {generate_run}


def test_a_rejudge_is_a_new_run_and_the_scores_name_it(store, fake_ollama):
    project_id, _, ids = seed(store, EN)
    backend = OllamaBackend(fake_ollama.url)
    first = judge_pairs(store, project_id, backend, MODEL)
    second = judge_pairs(store, project_id, backend, MODEL, rejudge=True, pair_ids=[ids[1]])
    assert (second.total, second.judged, second.failures) == (1, 1, [])
    assert [r.id for r in store.list_runs(project_id, kind="judge")] == [second.run_id, first.run_id]
    assert store.judge_runs_of(ids) == {ids[0]: first.run_id, ids[1]: second.run_id}
    assert (store.get_run(first.run_id).status, store.get_run(second.run_id).status) == ("finished", "finished")
    assert (store.get_run(second.run_id).pairs_total, store.get_run(second.run_id).pairs_judged) == (1, 1)
    nothing = judge_pairs(store, project_id, backend, MODEL)
    assert (nothing.total, nothing.run_id) == (0, None)  # nothing to judge: no run
    assert len(store.list_runs(project_id, kind="judge")) == 2


ZH_SYSTEM_START = "你負責檢查由文件產生的問答對。你會看到產生這組問答對的來源文字。"
ZH_REASK = ("你的回覆無法使用：the reply held no JSON\n"
            "請重新回覆，只要 JSON：一個物件，含 \"faithfulness\"、\"relevance\"、\"clarity\" 三個鍵（各為 1 到 5 的整數）"
            "以及 \"reason\"（用繁體中文寫一句理由）。")


@pytest.mark.parametrize("settings, text", [({"language": "zh-TW"}, EN), ({"language": "auto"}, ZH)],
                         ids=["project-language-wins", "document-language"])
def test_a_zh_tw_project_is_judged_and_asked_again_with_the_zh_tw_templates(store, fake_ollama, settings, text):
    project_id, _, ids = seed(store, text, settings)
    fake_ollama.push(Reply("不是 JSON"), verdict(4, "來源有寫"), verdict(5, "來源有寫"))
    summary = judge_pairs(store, project_id, OllamaBackend(fake_ollama.url), MODEL, concurrency=1)
    assert (summary.judged, summary.failures) == (2, [])
    first, reask, _ = fake_ollama.chat_requests()
    assert first["messages"][0]["content"].startswith(ZH_SYSTEM_START)
    assert "用繁體中文寫一句理由。只回覆 JSON" in first["messages"][0]["content"]
    assert first["messages"][1]["content"].splitlines()[-3:-1] == ["問題：Q1?", "答案：11434"]
    assert reask["messages"][:2] == first["messages"]
    assert reask["messages"][2:] == [{"role": "assistant", "content": "不是 JSON"},
                                     {"role": "user", "content": ZH_REASK}]
    assert store.get_pair(ids[0]).judge_reason == "來源有寫"


def test_a_german_pair_is_asked_again_in_the_generic_template_naming_german(store, fake_ollama):
    text = ("# Köln\n\nDie Stadt liegt am Rhein und ist für ihren Dom bekannt, der zu den größten Kirchen der Welt "
            "gehört. Der Bau begann im Jahr 1248 und wurde erst 1880 vollendet.\n")
    project_id, _, _ = seed(store, text)
    fake_ollama.push(Reply("{}"), verdict(4), verdict(4))
    judge_pairs(store, project_id, OllamaBackend(fake_ollama.url), MODEL, concurrency=1)
    reask = fake_ollama.chat_requests()[1]["messages"][-1]["content"]
    assert reask == (
        "Your reply could not be used: the verdict is not valid: 3 validation errors for Verdict\n"
        "Reply again with JSON only: one object with the keys \"faithfulness\", \"relevance\" and \"clarity\" "
        "(each a whole number from 1 to 5) and \"reason\" (one line in German).")


def test_a_cancelled_judge_run_ends_cancelled_with_what_it_saved(store, fake_ollama):
    project_id, _, ids = seed(store, EN)
    cancel = threading.Event()
    summary = judge_pairs(store, project_id, OllamaBackend(fake_ollama.url), MODEL, concurrency=1,
                          cancel=cancel, on_progress=lambda done, total: cancel.set())
    assert (summary.judged, summary.cancelled, summary.status) == (1, True, "cancelled")
    run = store.get_run(summary.run_id)
    assert (run.status, run.pairs_total, run.pairs_judged, run.pairs_failed) == ("cancelled", 2, 1, 0)
    assert store.judge_runs_of(ids) == {ids[0]: run.id, ids[1]: None}


def test_a_judge_model_not_pulled_fails_the_run(store, fake_ollama):
    project_id, _, _ = seed(store, EN)
    fake_ollama.push(not_found("judge:7b"))
    summary = judge_pairs(store, project_id, OllamaBackend(fake_ollama.url), "judge:7b", concurrency=1)
    run = store.get_run(summary.run_id)
    assert (summary.status, run.status, run.pairs_judged, run.pairs_failed) == ("failed", "failed", 0, 1)
    assert "judge_model" not in store.get_settings(project_id)  # a judge that judged nothing is not recorded


def test_judging_holds_the_project_lock(store, fake_ollama):
    project_id, _, _ = seed(store, EN)
    with lock_project(store, project_id), pytest.raises(ProjectBusyError, match="The project is busy"):
        judge_pairs(store, project_id, OllamaBackend(fake_ollama.url), MODEL)
    assert store.list_runs(project_id, kind="judge") == [] and fake_ollama.chat_requests() == []
    with lock_project(store, project_id) as held:  # a caller holding the lock passes it down
        assert judge_pairs(store, project_id, OllamaBackend(fake_ollama.url), MODEL, lock=held).judged == 2


def test_a_killed_judge_run_is_recorded_interrupted(tmp_path, fake_ollama):
    with Store.open(tmp_path) as store:
        project_id, _, _ = seed(store, EN)
    fake_ollama.push(verdict(5, prompt_eval_count=10, eval_count=3, total_duration=1_000_000_000), Slow(60))
    judge = subprocess.Popen(
        [sys.executable, "-c", "import sys; from dataset_gen.backends import OllamaBackend; "
         "from dataset_gen.judge import judge_pairs; from dataset_gen.store import Store; "
         "judge_pairs(Store.open(sys.argv[1]), int(sys.argv[2]), OllamaBackend(sys.argv[3]), 'qwen2.5:7b', "
         "concurrency=1)", str(tmp_path), str(project_id), fake_ollama.url], cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        while len(fake_ollama.chat_requests()) < 2 and time.monotonic() < deadline and judge.poll() is None:
            time.sleep(0.05)
        assert len(fake_ollama.chat_requests()) == 2  # the first verdict is saved, the second is in flight
        with Store.open(tmp_path) as store:
            assert close_dead_runs(store, project_id) is False  # the judge is live: its run stays running
            assert [r.status for r in store.list_runs(project_id, kind="judge")] == ["running"]
    finally:
        judge.kill()
        judge.wait()
    with Store.open(tmp_path) as store:
        assert close_dead_runs(store, project_id) is True
        [run] = store.list_runs(project_id, kind="judge")
        assert (run.status, run.pairs_judged, run.prompt_tokens, run.completion_tokens, run.duration_s) == (
            "interrupted", 1, 10, 3, 1.0)
        assert run.finished_at is not None
        assert [r.status for r in store.list_runs(project_id)] == ["finished"]  # the generation run is untouched


def test_an_old_database_migrates_and_its_runs_are_generation_runs(tmp_path):
    path = tmp_path / DB_FILENAME
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, MIGRATIONS[:6])
    conn.executescript("""
        INSERT INTO projects (id, name, created_at) VALUES (1, 'old', '2025-01-01T00:00:00+00:00');
        INSERT INTO documents (id, project_id, name, kind, sha256, text, created_at)
            VALUES (1, 1, 'a.md', 'markdown', 'x', 'Port 11434.', '2025-01-01T00:00:00+00:00');
        INSERT INTO runs (id, project_id, model, options, prompt_name, prompt_version, started_at, status,
            chunks_total, prompt_tokens) VALUES (1, 1, 'gen:7b', '{}', 'qa_generate', '4', '2025-01-01T00:00:00+00:00',
            'finished', 1, 42);
        INSERT INTO chunks (id, document_id, ordinal, start, "end", text, gen_status, run_id, updated_at)
            VALUES (1, 1, 0, 0, 11, 'Port 11434.', 'done', 1, '2025-01-01T00:00:00+00:00');
        INSERT INTO qa_pairs (id, chunk_id, run_id, question, answer, faithfulness, relevance, clarity,
            created_at, updated_at) VALUES (1, 1, 1, 'Port?', '11434', 5, 4, 4, '2025-01-01', '2025-01-01');
    """)
    conn.close()
    with Store.open(tmp_path) as store:
        [run] = store.list_runs(1, kind=None)
        assert (run.kind, run.model, run.prompt_tokens, run.pairs_total, run.pairs_judged, run.pairs_failed) == (
            "generate", "gen:7b", 42, 0, 0, 0)
        assert store.judge_runs_of([1, 2]) == {1: None}  # judged before judge runs were kept; 2 is no pair
        assert store.get_pair(1).faithfulness == 5
    conn = sqlite3.connect(path)
    assert [v for (v,) in conn.execute("SELECT version FROM schema_migrations ORDER BY version")] == list(range(1, len(MIGRATIONS) + 1))
    with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint failed"):
        conn.execute("UPDATE runs SET kind = 'embed'")


def test_report_names_the_newest_judge_run(tmp_path, fake_ollama, capsys):
    from dataset_gen.cli import main

    with Store.open(tmp_path) as store:
        project_id, _, _ = seed(store, EN, name="default")
        fake_ollama.push(verdict(5), Reply("no"), Reply("still no"))
        summary = judge_pairs(store, project_id, OllamaBackend(fake_ollama.url), MODEL, concurrency=1)
        started = store.get_run(summary.run_id).started_at
    assert main(["--data-dir", str(tmp_path), "report"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line for line in out if line.startswith("judge")] == [
        "judge: qwen2.5:7b, threshold 3: 1 of 2 pairs judged, 0 below the threshold",
        f"judge run {summary.run_id}: finished, qwen2.5:7b, qa_judge 3, started {started}, 1/2 pairs judged, 1 failed"]


@pytest.mark.parametrize("language", ["en", "zh-TW", "zh-CN", "ja", "ko", "any"])
def test_every_language_has_a_judge_re_ask_taking_the_problem(language):
    from dataset_gen.prompts import load_prompt

    template = load_prompt("qa_judge_repair", language)
    assert (template.meta.name, template.meta.language, template.meta.version) == ("qa_judge_repair", language, "1")
    assert list(template.sections) == ["user"]
    assert template.variables == ({"problem", "language_name"} if language == "any" else {"problem"})
    assert '"..."' not in template.sections["user"]  # no copyable example
