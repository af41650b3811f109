"""Runs over a project: every chunk done once, failures stored and retried, cancel and resume,
fatal backend errors, against a real SQLite file and the fake Ollama server over HTTP."""

import re
import socket
import threading
from hashlib import sha256

import pytest

from dataset_gen.backends import OllamaBackend
from dataset_gen.config import Settings
from dataset_gen.errors import BackendUnreachableError, ModelNotFoundError
from dataset_gen.generation import run_generation, trial_chunk
from dataset_gen.models import Chunk, Document
from dataset_gen.store import Store
from tests.fake_ollama import HTTPError, Reply, not_found

SECTIONS = [
    "## 安裝\n\nOllama 可以在 macOS、Linux 與 Windows 上執行。安裝完成後，執行 ollama serve 啟動服務。預設埠號是 11434。",
    "## 模型\n\n使用 ollama pull 下載模型。模型檔案存放在使用者目錄下。可以用 ollama list 查看已下載的模型。",
    "## 參數\n\nnum_ctx 決定上下文視窗的大小。溫度越低，輸出越穩定。seed 固定時，結果可以重現。",
    "## API\n\n/api/chat 接受 messages 陣列。format 可以是 JSON Schema。stream 預設為 true。",
    "## 疑難排解\n\n連不上時先確認服務是否啟動。模型不存在時會回傳 404。伺服器忙碌時會回傳 503。",
    "## 效能\n\nOLLAMA_NUM_PARALLEL 控制同時處理的請求數。記憶體不足時會改用較小的視窗。GPU 可以加速推論。",
]


@pytest.fixture
def project(tmp_path):
    """A store with one zh-TW document of six chunks; yields (store, project_id)."""
    store = Store.open(tmp_path)
    project_id = store.create_project("notes")
    text, chunks, offset = "", [], 0
    for i, body in enumerate(SECTIONS):
        chunks.append(Chunk("notes.md", i, offset, offset + len(body), body, (body.split("\n")[0][3:],)))
        text += body + "\n\n"
        offset = len(text)
    document = Document("notes.md", text, "markdown", sha256(text.encode()).hexdigest())
    store.replace_chunks(store.add_document(project_id, document), chunks)
    yield store, project_id
    store.close()


def settings(**kw):
    return Settings(**{"concurrency": 2, "pairs_per_chunk": 2, **kw})


def backend(fake):
    return OllamaBackend(fake.url, backoff_s=0.01, max_retries=1)


def test_full_run_saves_every_pair_with_its_run_and_reports_progress(project, fake_ollama):
    store, project_id = project
    seen = []
    summary = run_generation(store, project_id, backend(fake_ollama), "qwen2.5:7b", settings(), on_progress=seen.append)
    assert (summary.status, summary.total, summary.done, summary.pairs, summary.failures) == ("finished", 6, 6, 12, [])
    assert [p.done for p in seen] == [0, 1, 2, 3, 4, 5, 6]
    assert seen[-1].eta_s == 0.0 and seen[0].eta_s is None
    pairs = store.list_pairs(project_id)
    assert len(pairs) == 12 and all(p.grounded and p.status == "generated" for p in pairs)
    assert {p.run_id for p in pairs} == {summary.run_id}
    assert all("關於" in p.question for p in pairs)
    run = store.get_run(summary.run_id)
    assert run.status == "finished" and run.prompt_tokens == summary.prompt_tokens > 0
    assert run.options["num_ctx"] == 2048 and run.prompt_name == "qa_generate"
    assert {r["options"]["num_ctx"] for r in fake_ollama.requests} == {2048}
    # A second run finds nothing to do and sends nothing.
    again = run_generation(store, project_id, backend(fake_ollama), "qwen2.5:7b", settings())
    assert (again.total, len(fake_ollama.requests)) == (0, 6)


def test_failed_chunk_is_stored_with_its_error_and_retried_next_run(project, fake_ollama):
    store, project_id = project
    fake_ollama.push(*[HTTPError(500, "CUDA out of memory")] * 2)  # first chunk: both attempts fail
    summary = run_generation(store, project_id, backend(fake_ollama), "qwen2.5:7b", settings(concurrency=1))
    assert summary.status == "finished" and len(summary.failures) == 1
    failed = store.list_chunks(project_id, statuses=("failed",))
    assert [c.ordinal for c in failed] == [0]
    assert "CUDA out of memory" in failed[0].gen_error and "500" in failed[0].gen_error
    assert store.count_pairs(project_id) == 10
    retry = run_generation(store, project_id, backend(fake_ollama), "qwen2.5:7b", settings())
    assert (retry.total, retry.pairs, retry.failures) == (1, 2, [])
    assert store.count_pairs(project_id) == 12
    assert store.list_chunks(project_id, statuses=("failed", "pending")) == []


def test_cancel_mid_run_then_resume_loses_and_duplicates_nothing(project, fake_ollama):
    store, project_id = project
    cancel = threading.Event()

    def stop_after_two(progress):
        if progress.done >= 2:
            cancel.set()

    first = run_generation(store, project_id, backend(fake_ollama), "qwen2.5:7b", settings(concurrency=1),
                           on_progress=stop_after_two, cancel=cancel)
    assert (first.status, first.done) == ("cancelled", 2)
    assert store.count_pairs(project_id) == 4
    assert store.get_run(first.run_id).status == "cancelled"
    second = run_generation(store, project_id, backend(fake_ollama), "qwen2.5:7b", settings())
    assert (second.status, second.total, second.done) == ("finished", 4, 4)
    pairs = store.list_pairs(project_id)
    assert len(pairs) == 12
    assert len({(p.chunk_id, p.question) for p in pairs}) == 12
    assert len(fake_ollama.requests) == 6


def test_model_not_pulled_is_found_before_the_run_starts(project, fake_ollama):
    store, project_id = project
    with pytest.raises(ModelNotFoundError, match="ollama pull llama3:70b"):
        run_generation(store, project_id, backend(fake_ollama), "llama3:70b", settings())
    assert store.list_runs(project_id) == []
    assert len(store.list_chunks(project_id, statuses=("pending",))) == 6
    assert fake_ollama.requests == []


def test_model_removed_mid_run_stops_it_and_leaves_chunks_pending(project, fake_ollama):
    store, project_id = project
    fake_ollama.push(not_found("qwen2.5:7b"))
    summary = run_generation(store, project_id, backend(fake_ollama), "qwen2.5:7b", settings(concurrency=1))
    assert summary.status == "failed"
    assert "ollama pull qwen2.5:7b" in summary.error
    assert len(store.list_chunks(project_id, statuses=("pending",))) == 5
    assert store.get_run(summary.run_id).status == "failed"


def test_ollama_not_running_names_the_host(project):
    store, project_id = project
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dead = OllamaBackend(f"http://127.0.0.1:{port}", backoff_s=0.01, max_retries=0)
    with pytest.raises(BackendUnreachableError, match=f"127.0.0.1:{port}.*ollama serve"):
        run_generation(store, project_id, dead, "qwen2.5:7b", settings(concurrency=1))
    assert store.list_runs(project_id) == []


def test_language_setting_overrides_detection(project, fake_ollama):
    store, project_id = project
    run_generation(store, project_id, backend(fake_ollama), "qwen2.5:7b", settings(language="en"))
    assert "Write the questions and answers in English." in fake_ollama.requests[0]["messages"][0]["content"]


def test_trial_returns_prompt_and_raw_reply_without_saving(project, fake_ollama):
    store, project_id = project
    chunk = store.list_chunks(project_id)[0]
    fake_ollama.push(Reply('{"pairs": [{"question": "Ollama 的預設埠號是多少？", "answer": "11434。", "evidence": "預設埠號是 11434"}]}', thinking="想一下"))
    result = trial_chunk(store, project_id, chunk.id, backend(fake_ollama), "qwen2.5:7b", settings(pairs_per_chunk=1))
    assert result.raw.startswith('{"pairs"') and result.thinking == "想一下"
    assert re.search("<(chunk-[0-9a-f]{12})>\n文件：notes.md\n章節：安裝\n\n" + re.escape(SECTIONS[0]) + "\n</\\1>",
                     result.prompt.messages[1]["content"])
    assert [(p.answer, p.grounded) for p in result.pairs] == [("11434。", True)]
    assert store.count_pairs(project_id) == 0


def test_question_types_reasoning_and_audiences(project, fake_ollama):
    store, project_id = project
    options = settings(pairs_per_chunk=1, concurrency=1, question_types=("factual", "comparison", "unanswerable"),
                       reasoning=True, audiences=("新進員工", "資深工程師"))
    summary = run_generation(store, project_id, backend(fake_ollama), "qwen2.5:7b", options)
    assert (summary.status, summary.pairs) == ("finished", 18)
    pairs = store.list_pairs(project_id)
    chunks = store.list_chunks(project_id)
    kinds = {}
    for p in pairs:
        kinds.setdefault(p.question_type, []).append(p)
    assert {k: len(v) for k, v in kinds.items()} == {"factual": 6, "comparison": 6, "unanswerable": 6}
    # A comparison pairs each chunk with the next of its document (the last with the one before).
    partner_of = {p.chunk_id: p.context_chunk_ids for p in kinds["comparison"]}
    ids = [c.id for c in chunks]
    assert partner_of == {**{a: (b,) for a, b in zip(ids, ids[1:])}, ids[-1]: (ids[-2],)}
    first = next(p for p in kinds["comparison"] if p.chunk_id == ids[0])
    assert first.reference_contexts == (chunks[0].text, chunks[1].text)
    assert all(p.reasoning for p in pairs)
    assert [p.audience for p in kinds["factual"]] == ["新進員工", "資深工程師"] * 3
    requests = [r for r in fake_ollama.requests if r["path"] == "/api/chat"]
    compare = next(r for r in requests if "第二段" in r["messages"][-1]["content"])
    assert compare["messages"][-1]["content"].count("<chunk-") == 2
    assert compare["format"]["properties"]["pairs"]["items"]["required"] == ["question", "reasoning", "answer", "evidence"]
    assert "- 問題與答案的措辭要適合新進員工。" in requests[0]["messages"][0]["content"]
    assert "文字中沒有回答的問題" in requests[2]["messages"][0]["content"]


def test_failed_task_keeps_the_other_tasks_pairs_and_marks_the_chunk_failed(project, fake_ollama):
    store, project_id = project
    fake_ollama.push(Reply("not json"), Reply("still not json"), Reply("never json"))  # chunk 0, explanation
    options = settings(pairs_per_chunk=1, concurrency=1, question_types=("explanation", "factual"))
    summary = run_generation(store, project_id, backend(fake_ollama), "qwen2.5:7b", options)
    assert len(summary.failures) == 1 and summary.pairs == 11
    first = store.list_chunks(project_id)[0]
    assert first.gen_status == "failed" and "not usable after 3 tries" in first.gen_error
    assert [p.question_type for p in store.list_pairs(project_id) if p.chunk_id == first.id] == ["factual"]
    assert len(fake_ollama.chat_requests()) == 14
    retry = run_generation(store, project_id, backend(fake_ollama), "qwen2.5:7b", options)
    # Only the question type that failed is asked again; the factual pair stays as it was.
    assert (retry.total, retry.pairs, retry.failures) == (1, 1, [])
    assert len(fake_ollama.chat_requests()) == 15
    assert sorted(p.question_type for p in store.list_pairs(project_id) if p.chunk_id == first.id) == [
        "explanation", "factual"]
    assert store.count_pairs(project_id) == 12
    assert store.get_chunk(first.id).gen_status == "done"


def test_a_second_run_on_a_busy_project_is_refused(project, fake_ollama):
    from dataset_gen.locks import ProjectBusyError, lock_project

    store, project_id = project
    held = lock_project(store, project_id)
    try:
        with pytest.raises(ProjectBusyError, match="The project is busy: another generate run, judge run or upload"):
            run_generation(store, project_id, backend(fake_ollama), "qwen2.5:7b", settings())
        assert store.list_runs(project_id) == []
        # The holder passes its lock down and runs.
        assert run_generation(store, project_id, backend(fake_ollama), "qwen2.5:7b", settings(),
                              chunk_ids=[store.list_chunks(project_id)[0].id], lock=held).done == 1
    finally:
        held.release()
    assert run_generation(store, project_id, backend(fake_ollama), "qwen2.5:7b", settings()).done == 5


def test_a_host_that_is_not_ollama_is_named_before_any_work(project):
    import http.server

    from dataset_gen.errors import BackendError

    store, project_id = project
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        with pytest.raises(BackendError, match=f"{url} does not answer like an Ollama server"):
            run_generation(store, project_id, OllamaBackend(url, max_retries=0), "qwen2.5:7b", settings())
    finally:
        server.shutdown()
    assert store.list_runs(project_id) == []


def test_each_reply_is_saved_as_it_arrives_and_a_resume_asks_only_for_what_is_missing(project, fake_ollama):
    from tests.fake_ollama import qa_responder

    store, project_id = project
    calls = []

    def model_removed_at_the_fourth_call(request):
        calls.append(request)
        return not_found("qwen2.5:7b") if len(calls) == 4 else qa_responder(request)

    fake_ollama.responder = model_removed_at_the_fourth_call
    options = settings(pairs_per_chunk=1, concurrency=1, question_types=("factual", "explanation"))
    first = run_generation(store, project_id, backend(fake_ollama), "qwen2.5:7b", options)
    assert (first.status, first.pairs, first.pair_chunks, first.done) == ("failed", 3, 2, 2)
    assert "ollama pull qwen2.5:7b" in first.error
    chunks = store.list_chunks(project_id)
    # Chunk 1's factual reply came before the model went away: it is kept.
    assert [p.question_type for p in store.list_pairs(project_id) if p.chunk_id == chunks[1].id] == ["factual"]
    assert [c.gen_status for c in chunks] == ["done", "failed", "pending", "pending", "pending", "pending"]
    assert store.count_pairs(project_id) == first.pairs == 3

    fake_ollama.responder = qa_responder
    second = run_generation(store, project_id, backend(fake_ollama), "qwen2.5:7b", options)
    assert (second.status, second.total, second.pairs) == ("finished", 5, 9)
    assert len(fake_ollama.chat_requests()) == 4 + 9
    pairs = store.list_pairs(project_id)
    assert len(pairs) == 12 and len({(p.chunk_id, p.question_type) for p in pairs}) == 12


def test_an_edited_chunk_is_asked_again_for_every_type_and_keeps_its_reviewed_pairs(project, fake_ollama):
    store, project_id = project
    options = settings(question_types=("factual", "explanation"))
    assert run_generation(store, project_id, backend(fake_ollama), "qwen2.5:7b", options).pairs == 24
    chunk = store.list_chunks(project_id)[0]
    old = [p for p in store.list_pairs(project_id) if p.chunk_id == chunk.id]
    store.set_status([old[0].id], "accepted")
    new_text = "## 安裝\n\nOllama 支援 Docker 映像檔。映像檔名稱是 ollama/ollama。"
    store.edit_chunk(chunk.id, new_text)
    again = run_generation(store, project_id, backend(fake_ollama), "qwen2.5:7b", options)
    assert (again.total, again.pairs) == (1, 4)
    assert len(fake_ollama.chat_requests()) == 12 + 2
    now = [p for p in store.list_pairs(project_id) if p.chunk_id == chunk.id]
    assert [p.id for p in now if p.run_id != again.run_id] == [old[0].id]  # the reviewed pair stays
    fresh = [p for p in now if p.run_id == again.run_id]
    assert sorted(p.question_type for p in fresh) == ["explanation", "explanation", "factual", "factual"]
    assert all(p.grounded and p.evidence in new_text for p in fresh)
    assert store.count_pairs(project_id) == 24 - 3 + 4


def test_a_chunk_that_continues_a_table_is_shown_after_the_tables_header(tmp_path, fake_ollama):
    from dataset_gen.config import ChunkSettings
    from dataset_gen.ingest import ingest_bytes

    rows = "".join(f"| State {i:02d} | {1000 + i} | {2000 + i} |\n" for i in range(60))
    text = "# Checks\n\nPermits and handguns by state.\n\n| State | Permit | Handgun |\n| --- | --- | --- |\n" + rows
    store = Store.open(tmp_path)
    project_id = store.create_project("t")
    ingest_bytes(store, project_id, text.encode(), "checks.md", ChunkSettings(max_chars=800, min_chars=200),
                 max_bytes=10**6)
    chunks = store.list_chunks(project_id)
    assert len(chunks) == 3 and chunks[1].text.startswith("| State ") and "| State | Permit |" not in chunks[1].text
    run_generation(store, project_id, backend(fake_ollama), "qwen2.5:7b", settings(pairs_per_chunk=1, concurrency=1))
    prompts = [r["messages"][1]["content"] for r in fake_ollama.chat_requests()]
    header = "| State | Permit | Handgun |\n| --- | --- | --- |\n"
    for chunk, prompt in zip(chunks, prompts):
        assert (header + chunk.text if chunk.ordinal else chunk.text) in prompt
        assert prompt.count("| State | Permit | Handgun |") == 1
    # The spans still name only each chunk's own text: nothing lost, nothing doubled.
    assert [text[c.start:c.end] for c in chunks] == [c.text for c in chunks]
    # The judge sees each source as generation showed it: after the table's header.
    from dataset_gen.judge import judge_pairs

    fake_ollama.requests.clear()
    summary = judge_pairs(store, project_id, backend(fake_ollama), "qwen2.5:7b", concurrency=1)
    assert (summary.judged, summary.failures) == (3, [])
    judged = [r["messages"][-1]["content"] for r in fake_ollama.chat_requests()]
    for chunk in chunks:
        source = next(body for body in judged if chunk.text in body)
        assert (header + chunk.text if chunk.ordinal else chunk.text) in source
        assert source.count("| State | Permit | Handgun |") == 1
    store.close()


ZH = ("## 說明\n\n這份手冊說明如何在本機安裝與設定服務。安裝完成後，請先確認服務已經啟動，再下載需要的模型。"
      "模型檔案會存放在使用者目錄下，可以隨時刪除。設定檔中的每一個參數都有預設值，修改之前請先備份。"
      "如果服務無法啟動，請檢查連接埠是否被其他程式占用，並查看日誌檔中的錯誤訊息。")
EN = ("## Appendix A\n\nThe service listens on port 11434 by default. To change it, set the environment "
      "variable before you start the server, and restart it after every change. The models are kept in "
      "the home folder of the user who runs the service, and they can be removed at any time with the "
      "command line. When the server does not start, check that no other program uses the port, and read "
      "the log file for the error it reports.")
JA = ("## 引用\n\n東京の研究所では、このサービスを毎日使っている。モデルは研究者のパソコンに保存され、"
      "必要なときにだけ読み込まれる。設定を変えたときは、必ずサーバーを再起動すること。"
      "ポートが使われている場合は、ログファイルを確認してから、別のポートを選んでください。")
SHORT_EN = "## Appendix B\n\nSee RFC 8259 for the JSON format."
MIXED = ("## 混合\n\n在 Linux 上 run the server with ollama serve，然後 open the browser at the default port，"
         "如果 the port is busy 就換一個 port and restart the service again。")


def _project_of(tmp_path, name, sections):
    store = Store.open(tmp_path)
    project_id = store.create_project(name)
    text, chunks, offset = "", [], 0
    for i, body in enumerate(sections):
        chunks.append(Chunk(f"{name}.md", i, offset, offset + len(body), body, (body.split("\n")[0][3:],)))
        text += body + "\n\n"
        offset = len(text)
    document = Document(f"{name}.md", text, "markdown", sha256(text.encode()).hexdigest())
    store.replace_chunks(store.add_document(project_id, document), chunks)
    return store, project_id


SYSTEM_STARTS = {"你負責為訓練與評估語言模型撰寫問答對": "zh-TW", "You write question-answer pairs": "en",
                 "あなたは言語モデルの学習と評価に使う": "ja"}


def _template_of(request) -> str:
    system = request["messages"][0]["content"]
    return next(lang for start, lang in SYSTEM_STARTS.items() if system.startswith(start))


def test_a_chunk_clearly_in_another_language_gets_that_languages_template_and_check(tmp_path, fake_ollama):
    words = ("說明", "設定", "安裝", "備份", "更新", "刪除", "檢查", "啟動")  # Chinese enough that the whole is zh-TW
    sections = [ZH.replace("說明", word) for word in words] + [EN, JA, SHORT_EN, MIXED]
    store, project_id = _project_of(tmp_path, "manual", sections)
    run_generation(store, project_id, backend(fake_ollama), "qwen2.5:7b", settings(pairs_per_chunk=1, concurrency=1))
    chunk_of = {c.text: c.ordinal for c in store.list_chunks(project_id)}
    first_asks = [r for r in fake_ollama.chat_requests() if len(r["messages"]) == 2]  # re-asks left out
    used = sorted((chunk_of[next(t for t in chunk_of if t in r["messages"][1]["content"])], _template_of(r))
                  for r in first_asks)
    assert used == [(i, "zh-TW") for i in range(8)] + [(8, "en"), (9, "ja"), (10, "zh-TW"), (11, "zh-TW")]
    # The English appendix's English pair and the quotation's pair pass their own chunk's language
    # check; the short English chunk keeps the document's language, so its English pair fails it.
    ok = {p.chunk_id: p.language_ok for p in store.list_pairs(project_id)}
    ids = {c.ordinal: c.id for c in store.list_chunks(project_id)}
    assert [ok.get(ids[i]) for i in (8, 9, 10)] == [True, True, False]
    run = store.list_runs(project_id)[0]
    assert (run.prompt_name, run.prompt_version) == ("qa_generate", "5")
    store.close()


def test_an_explicit_language_setting_is_used_for_every_chunk(tmp_path, fake_ollama):
    store, project_id = _project_of(tmp_path, "manual", [ZH, EN, JA])
    run_generation(store, project_id, backend(fake_ollama), "qwen2.5:7b",
                   settings(pairs_per_chunk=1, concurrency=1, language="zh-TW"))
    assert {_template_of(r) for r in fake_ollama.chat_requests()} == {"zh-TW"}  # re-asks too
    store.close()
