"""The judge sees the source: scores stored per pair, re-runs skip judged pairs, bad verdicts."""

import re

import pytest

from dataset_gen.backends import OllamaBackend
from dataset_gen.judge import JUDGE_SCHEMA, judge_pairs, parse_verdict
from dataset_gen.models import Chunk, Document, QAPair
from dataset_gen.store import Store
from tests.fake_ollama import Reply, not_found

TEXT = "## 埠號\n\nOllama 預設在 11434 埠提供服務。"


@pytest.fixture
def pairs(tmp_path):
    store = Store.open(tmp_path)
    project_id = store.create_project("p")
    [chunk_id] = store.replace_chunks(store.add_document(project_id, Document("a.md", TEXT, "markdown", "0" * 64)),
                                      [Chunk("a.md", 0, 0, len(TEXT), TEXT, ("埠號",))])
    run_id = store.start_run(project_id, "m", {}, "qa_generate", "2", 1)
    ids = store.save_chunk_pairs(chunk_id, run_id, [
        QAPair("Ollama 預設使用哪個埠？", "Ollama 預設在 11434 埠提供服務。", "11434", True),
        QAPair("Ollama 支援 GPU 嗎？", "支援所有 GPU。", "", False),
    ])
    yield store, project_id, ids
    store.close()


def test_scores_are_stored_and_the_prompt_holds_the_source(pairs, fake_ollama):
    store, project_id, ids = pairs
    done = []
    summary = judge_pairs(store, project_id, OllamaBackend(fake_ollama.url), "qwen2.5:7b", concurrency=2,
                          on_progress=lambda d, t: done.append((d, t)))
    assert (summary.total, summary.judged, summary.failures) == (2, 2, [])
    assert sorted(done) == [(1, 2), (2, 2)]
    faithful, invented = (store.get_pair(i) for i in ids)
    assert (faithful.faithfulness, faithful.relevance, faithful.clarity) == (5, 4, 4)
    assert (invented.faithfulness, invented.judge_reason) == (2, "The source does not say this.")
    request = fake_ollama.requests[0]
    assert request["format"] == JUDGE_SCHEMA and request["options"]["temperature"] == 0.0
    assert re.search("<(source-[0-9a-f]{12})>\n" + re.escape(TEXT) + "\n</\\1>", request["messages"][-1]["content"])
    assert "用繁體中文寫一句理由" in request["messages"][0]["content"]
    assert store.count_pairs(project_id, score_below=3) == 1
    again = judge_pairs(store, project_id, OllamaBackend(fake_ollama.url), "qwen2.5:7b")
    assert again.total == 0 and len(fake_ollama.requests) == 2


def test_invalid_verdict_is_asked_again_then_listed(pairs, fake_ollama):
    store, project_id, ids = pairs
    fake_ollama.push(Reply('{"faithfulness": 9}'), Reply('{"faithfulness": 4, "relevance": 3, "clarity": 5, "reason": "ok"}'),
                     Reply("no"), Reply("still no"))
    summary = judge_pairs(store, project_id, OllamaBackend(fake_ollama.url), "qwen2.5:7b", concurrency=1)
    assert summary.judged == 1
    assert summary.failures == [(ids[1], "The judge's reply was not usable: the reply held no JSON")]
    assert store.get_pair(ids[0]).relevance == 3 and store.get_pair(ids[1]).faithfulness is None


def test_model_not_pulled_stops_judging(pairs, fake_ollama):
    store, project_id, _ = pairs
    fake_ollama.push(not_found("judge:7b"))
    summary = judge_pairs(store, project_id, OllamaBackend(fake_ollama.url), "judge:7b", concurrency=1)
    assert "ollama pull judge:7b" in summary.error and summary.judged == 0


def test_parse_verdict_rejects_out_of_range_scores():
    assert parse_verdict('Sure: {"faithfulness": 5, "relevance": 1, "clarity": 3, "reason": "x"}').relevance == 1
    with pytest.raises(ValueError, match="the verdict is not valid"):
        parse_verdict('{"faithfulness": 0, "relevance": 1, "clarity": 3}')
