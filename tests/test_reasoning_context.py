"""Reasoning models and context windows, through real HTTP to the fake Ollama and a real store:
``think`` sent by the model's capabilities, a server that rejects it asked again without it,
per-pair reasoning, replies that restart their JSON, prompts that do not fit the window (found
before sending, or from ``prompt_eval_count``), and re-asks that never ask past the window."""

import json
import re
from hashlib import sha256

import pytest

from dataset_gen.backends import OllamaBackend
from dataset_gen.config import Settings
from dataset_gen.context_window import messages_tokens
from dataset_gen.generation import run_generation
from dataset_gen.models import Chunk, Document
from dataset_gen.store import Store
from tests.fake_ollama import FakeOllama, HTTPError, Reply, qa_pairs_for

EN = "The server listens on port 11434 by default. Models are stored in the home folder. Logs are kept for seven days."


def make_project(tmp_path, bodies, name="doc.md"):
    store = Store.open(tmp_path)
    project_id = store.create_project("p")
    text, chunks = "", []
    for i, body in enumerate(bodies):
        chunks.append(Chunk(name, i, len(text), len(text) + len(body), body, (f"Part {i}",)))
        text += body + "\n\n"
    store.replace_chunks(store.add_document(project_id, Document(name, text, "markdown", sha256(text.encode()).hexdigest())),
                         chunks)
    return store, project_id


def backend(fake):
    return OllamaBackend(fake.url, backoff_s=0.01, max_retries=1)


@pytest.fixture
def thinker():
    with FakeOllama(models=("qwen3:8b", "qwen2.5:7b", "tinyllama:1.1b")) as fake:
        yield fake


def test_thinking_model_gets_think_off_for_json_and_pairs_have_no_thinking(tmp_path, thinker):
    store, project_id = make_project(tmp_path, [EN])
    summary = run_generation(store, project_id, backend(thinker), "qwen3:8b", Settings(pairs_per_chunk=2, language="en"))
    assert (summary.done, summary.pairs, summary.failures) == (1, 2, [])
    assert [r["think"] for r in thinker.chat_requests()] == [False]
    assert [p.reasoning for p in store.list_pairs(project_id)] == ["", ""]
    store.close()


def test_captured_reasoning_is_per_pair_and_think_is_on(tmp_path, thinker):
    store, project_id = make_project(tmp_path, [EN])
    summary = run_generation(store, project_id, backend(thinker), "qwen3:8b",
                             Settings(pairs_per_chunk=2, language="en", reasoning=True))
    assert (summary.done, summary.pairs) == (1, 2)
    request = thinker.chat_requests()[0]
    assert request["think"] is True
    assert request["format"]["properties"]["pairs"]["items"]["required"] == ["question", "reasoning", "answer", "evidence"]
    # Each pair keeps its own reasoning (the fake writes the quoted sentence), never the reply's thinking.
    assert sorted(p.reasoning for p in store.list_pairs(project_id)) == [
        "Models are stored in the home folder.", "The server listens on port 11434 by default."]
    store.close()


def test_a_pair_without_its_own_reasoning_is_asked_again(tmp_path, thinker):
    store, project_id = make_project(tmp_path, [EN])
    pairs = qa_pairs_for(EN, 1, ["question", "reasoning", "answer", "evidence"])
    pairs[0]["reasoning"] = ""
    thinker.push(Reply(json.dumps({"pairs": pairs}), thinking="I read the whole text first."))
    run_generation(store, project_id, backend(thinker), "qwen3:8b",
                   Settings(pairs_per_chunk=1, language="en", reasoning=True))
    requests = thinker.chat_requests()
    assert len(requests) == 2
    assert "pair 1 has no reasoning; each pair needs its own" in requests[1]["messages"][-1]["content"]
    assert [p.reasoning for p in store.list_pairs(project_id)] == ["The server listens on port 11434 by default."]
    store.close()


def test_server_that_rejects_think_is_asked_again_without_it(tmp_path, thinker):
    store, project_id = make_project(tmp_path, [EN, EN.replace("seven", "nine")])
    thinker.push(HTTPError(400, '"qwen3:8b" does not support thinking'))
    summary = run_generation(store, project_id, backend(thinker), "qwen3:8b",
                             Settings(concurrency=1, pairs_per_chunk=1, language="en", reasoning=True))
    assert (summary.done, summary.pairs, summary.failures) == (2, 2, [])
    assert [r.get("think") for r in thinker.chat_requests()] == [True, None, None]
    store.close()


def test_no_think_is_sent_to_a_model_without_the_capability(tmp_path, thinker):
    store, project_id = make_project(tmp_path, [EN])
    run_generation(store, project_id, backend(thinker), "qwen2.5:7b",
                   Settings(pairs_per_chunk=1, language="en", reasoning=True))
    assert ["think" in r for r in thinker.chat_requests()] == [False]
    store.close()


def test_reply_that_restarts_its_json_is_read(tmp_path, thinker):
    store, project_id = make_project(tmp_path, [EN, EN.replace("seven", "nine")])
    good = json.dumps({"pairs": qa_pairs_for(EN, 1)})
    # The first reply opens an object and starts again; the second never closes its JSON at all.
    thinker.push(Reply("{\n\n" + good), Reply('{\n\n{"pairs": [{"question": "What'))
    summary = run_generation(store, project_id, backend(thinker), "qwen3:8b",
                             Settings(concurrency=1, pairs_per_chunk=1, language="en"))
    assert (summary.done, summary.pairs, summary.failures) == (2, 2, [])
    assert len(thinker.chat_requests()) == 3  # one re-ask, for the broken one only
    assert "the JSON is invalid" in thinker.chat_requests()[2]["messages"][-1]["content"]
    store.close()


def test_chunk_too_long_for_the_window_fails_before_sending(tmp_path, thinker):
    cjk = ("模型在本機執行，資料不會離開電腦。" * 250)[:4000]
    store, project_id = make_project(tmp_path, [cjk, "模型在本機執行。資料不會離開你的電腦。預設埠號是 11434。"])
    summary = run_generation(store, project_id, backend(thinker), "tinyllama:1.1b",
                             Settings(concurrency=1, pairs_per_chunk=3, language="zh-TW"))
    assert (summary.done, len(summary.failures)) == (2, 1)
    assert len(thinker.chat_requests()) == 1  # only the chunk that fits was sent
    assert thinker.chat_requests()[0]["options"]["num_ctx"] == 2048
    failed = [c for c in store.list_chunks(project_id) if c.gen_status == "failed"]
    assert [c.ordinal for c in failed] == [0]
    assert re.fullmatch(r"doc\.md \(Part 0\): the prompt is about \d+ tokens and the model's context window is "
                        r"2048 tokens, leaving no room for 3 pairs \(at least 300 tokens\); nothing was sent: "
                        r"use smaller chunks or a model with a longer context", failed[0].gen_error)
    store.close()


def test_prompt_cut_by_the_server_fails_the_chunk_with_the_reason(tmp_path, thinker):
    # Emoji cost the server ~3 tokens each, more than the estimate: the prompt is cut to the window.
    emoji = "Launch 🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀 now. " * 80
    store, project_id = make_project(tmp_path, [emoji])
    summary = run_generation(store, project_id, backend(thinker), "tinyllama:1.1b",
                             Settings(pairs_per_chunk=1, language="en"))
    assert len(summary.failures) == 1
    assert len(thinker.chat_requests()) == 1
    error = store.list_chunks(project_id)[0].gen_error
    assert error == ("doc.md (Part 0): the server evaluated 2048 tokens, its whole window of 2048, so it cut the "
                     "prompt and the reply is not about the whole chunk; use smaller chunks or a model with a "
                     "longer context")
    store.close()


def test_reasks_never_ask_for_more_than_the_window_leaves(tmp_path, thinker):
    text = ("Ollama keeps every model in the home folder and loads it on the first request. " * 14).strip()
    store, project_id = make_project(tmp_path, [text])
    cut = '{"pairs": [{"question": "Where are models kept?", "answer": "In the home'
    thinker.push(Reply(cut, done_reason="length"), Reply(cut, done_reason="length"), Reply(cut, done_reason="length"))
    run_generation(store, project_id, backend(thinker), "tinyllama:1.1b",
                   Settings(pairs_per_chunk=3, language="en", max_reasks=2))
    requests = thinker.chat_requests()
    window = requests[0]["options"]["num_ctx"]
    assert window == 2048
    budgets = [r["options"]["num_predict"] for r in requests]
    assert budgets[0] == min(3 * 300 + 256, window - messages_tokens(requests[0]["messages"]))
    for request, budget in zip(requests, budgets, strict=True):
        assert budget + messages_tokens(request["messages"]) <= window + 8 * len(request["messages"])
        assert budget <= window - sum(len(m["content"]) for m in request["messages"]) // 3
    assert budgets[1] < 2 * budgets[0]  # doubling stopped by the window
    store.close()
