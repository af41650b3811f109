"""One chunk → N checked pairs, through the real Ollama client and HTTP to the fake server."""

import json
import re

import pytest

from dataset_gen.backends import OllamaBackend
from dataset_gen.errors import InvalidModelOutputError, ModelNotFoundError
from dataset_gen.models import SamplingOptions
from dataset_gen.prompts import load_prompt
from dataset_gen.qa import estimate_tokens, generate_pairs, pairs_wanted, plan_num_ctx, reply_schema
from tests.fake_ollama import HTTPError, Reply, not_found

ZH_CHUNK = "## 安裝\n\nOllama 可以在 macOS、Linux 與 Windows 上執行。安裝完成後，執行 ollama serve 啟動服務。"
EN_CHUNK = "## Install\n\nOllama runs on macOS, Linux and Windows. After installing, run ollama serve to start it."


def pairs_json(*pairs):
    return json.dumps({"pairs": [dict(zip(("question", "answer", "evidence"), p)) for p in pairs]}, ensure_ascii=False)


ZERO_TEMPERATURE = SamplingOptions(temperature=0.0)


def run(fake, chunk=EN_CHUNK, n=2, language="en", options=ZERO_TEMPERATURE, max_reasks=2):
    backend = OllamaBackend(fake.url, backoff_s=0.01)
    return generate_pairs(
        lambda **kw: backend.chat("qwen2.5:7b", **kw),
        load_prompt("qa_generate", language), load_prompt("qa_repair", language),
        chunk_text=chunk, document="notes.md", heading_path=("Install",), n=n, language=language,
        options=options, context_tokens=4096, max_reasks=max_reasks,
    )


def test_default_model_gives_n_grounded_pairs_and_the_request_carries_schema_and_options(fake_ollama):
    result = run(fake_ollama, n=2)
    assert len(result.pairs) == 2 and all(p.grounded for p in result.pairs)
    assert result.attempts == 1
    request = fake_ollama.requests[0]
    assert request["format"] == reply_schema(2)
    assert request["options"]["temperature"] == 0.0
    assert request["options"]["num_ctx"] == 4096
    assert request["options"]["num_predict"] == 2 * 300 + 256
    fence = re.search(r"Text between a <(chunk-[0-9a-f]{12})> line", request["messages"][0]["content"]).group(1)
    assert request["messages"][1]["content"].count(
        f"<{fence}>\nDocument: notes.md\nSection: Install\n\n" + EN_CHUNK + f"\n</{fence}>") == 1


def test_zh_tw_chunk_gives_traditional_pairs(fake_ollama):
    result = run(fake_ollama, chunk=ZH_CHUNK, n=2, language="zh-TW")
    assert [p.grounded for p in result.pairs] == [True, True]
    assert all("關於" in p.question for p in result.pairs)


def test_think_block_before_json_is_ignored(fake_ollama):
    fake_ollama.push(Reply("<think>Let me look.</think>" + pairs_json(
        ("Which systems does Ollama run on?", "macOS, Linux and Windows.", "Ollama runs on macOS, Linux and Windows."))))
    result = run(fake_ollama, n=1)
    assert result.thinking == "Let me look."
    assert result.pairs[0].answer == "macOS, Linux and Windows." and result.pairs[0].grounded


def test_malformed_then_valid_json_is_asked_again_with_the_problem(fake_ollama):
    fake_ollama.push(Reply('{"pairs": [{"question": "Q"'), Reply(pairs_json(
        ("How is the Ollama service started?", "Run ollama serve.", "run ollama serve to start it"))))
    result = run(fake_ollama, n=1)
    assert result.attempts == 2 and len(result.pairs) == 1
    repair = fake_ollama.requests[1]["messages"]
    assert repair[-2] == {"role": "assistant", "content": '{"pairs": [{"question": "Q"'}
    assert repair[-1]["content"].startswith("Your reply could not be used: the JSON is invalid")


def test_truncated_reply_raises_num_predict_and_keeps_raw_text_when_it_never_parses(fake_ollama):
    cut = '{"pairs": [{"question": "How'
    fake_ollama.push(*[Reply(cut, done_reason="length")] * 3)
    with pytest.raises(InvalidModelOutputError) as caught:
        run(fake_ollama, n=1)
    assert str(caught.value) == (
        "The model's reply was not usable after 3 tries: the reply was cut off at its limit of 2224 tokens "
        "before the JSON ended; raise --num-predict (the reply's token limit) or ask for fewer pairs per chunk")
    assert caught.value.raw == cut
    assert [r["options"]["num_predict"] for r in fake_ollama.requests] == [556, 1112, 2224]


def test_empty_content_is_an_error_after_reasks(fake_ollama):
    fake_ollama.push(*[Reply("")] * 2)
    with pytest.raises(InvalidModelOutputError, match="after 2 tries: the reply was empty"):
        run(fake_ollama, n=1, max_reasks=1)


def test_too_few_pairs_are_asked_again_and_the_best_reply_is_kept(fake_ollama):
    one = pairs_json(("Which systems does Ollama run on?", "macOS, Linux and Windows.", "Ollama runs on macOS"))
    fake_ollama.push(Reply(one), Reply("not json"), Reply("still not json"))
    result = run(fake_ollama, n=2)
    assert result.attempts == 3 and len(result.pairs) == 1
    assert result.problems[0] == "it has 1 pairs, not 2"


PORTS = ("Which systems does Ollama run on?", "macOS, Linux and Windows.", "Ollama runs on macOS, Linux and Windows.")
START = ("How is the Ollama service started?", "Run ollama serve.", "run ollama serve to start it")


def test_a_pair_repeated_in_one_reply_is_kept_once_and_the_short_reply_is_asked_again(fake_ollama):
    # The same pair three times (spacing and case differ), then a reply with three different pairs.
    same = [PORTS, ("which systems does  Ollama run on?", "macOS, linux and\nWindows.", "Ollama runs on macOS"),
            (" WHICH SYSTEMS DOES OLLAMA RUN ON? ", "MACOS, LINUX AND WINDOWS.", "Ollama runs on macOS, Linux")]
    third = ("What does ollama serve do?", "It starts the service.", "run ollama serve to start it")
    fake_ollama.push(Reply(pairs_json(*same)), Reply(pairs_json(PORTS, START, third)))
    result = run(fake_ollama, n=3)
    assert result.problems == ["it has 1 different pairs, not 3 (2 repeated pairs were dropped)"]
    assert result.attempts == 2 and len(fake_ollama.requests) == 2
    assert fake_ollama.requests[1]["messages"][-1]["content"].startswith(
        "Your reply could not be used: it has 1 different pairs, not 3 (2 repeated pairs were dropped)\n"
        "Reply again with JSON only, exactly 3 different pairs (never the same pair twice)")
    assert [p.question for p in result.pairs] == [PORTS[0], START[0], third[0]]


def test_repeats_are_dropped_before_extra_pairs_so_a_full_reply_needs_no_reask(fake_ollama):
    fake_ollama.push(Reply(pairs_json(PORTS, PORTS, START)))
    result = run(fake_ollama, n=2)
    assert (result.attempts, result.problems) == (1, [])
    assert [(p.question, p.grounded) for p in result.pairs] == [(PORTS[0], True), (START[0], True)]


def test_a_model_that_keeps_repeating_itself_leaves_the_distinct_pairs_it_gave(fake_ollama):
    fake_ollama.push(*[Reply(pairs_json(PORTS, PORTS))] * 3)
    result = run(fake_ollama, n=2)
    assert result.attempts == 3
    assert result.problems == ["it has 1 different pairs, not 2 (1 repeated pair was dropped)"] * 3
    assert [p.question for p in result.pairs] == [PORTS[0]]


def test_same_question_with_a_different_answer_is_not_a_repeat(fake_ollama):
    other = (PORTS[0], "Windows, macOS and Linux.", "Ollama runs on macOS, Linux and Windows.")
    fake_ollama.push(Reply(pairs_json(PORTS, other)))
    result = run(fake_ollama, n=2)
    assert (result.attempts, [p.answer for p in result.pairs]) == (1, [PORTS[1], other[1]])


def test_extra_pairs_are_dropped_and_unfound_evidence_is_flagged(fake_ollama):
    fake_ollama.push(Reply(pairs_json(
        ("Which systems does Ollama run on?", "macOS, Linux and Windows.", "Ollama runs on macOS, Linux and Windows."),
        ("What port does Ollama use?", "11434.", "Ollama listens on port 11434 by default."),
        ("Extra?", "Extra.", "extra"))))
    result = run(fake_ollama, n=2)
    assert [(p.question, p.grounded) for p in result.pairs] == [
        ("Which systems does Ollama run on?", True), ("What port does Ollama use?", False)]


def test_simplified_reply_to_a_traditional_document_is_asked_again(fake_ollama):
    fake_ollama.push(Reply(pairs_json(("这个服务怎么启动？", "执行 ollama serve 启动服务。", "執行 ollama serve 啟動服務"))))
    result = run(fake_ollama, chunk=ZH_CHUNK, n=1, language="zh-TW")
    assert result.attempts == 2
    assert "Simplified Chinese" in result.problems[0]
    assert "關於" in result.pairs[0].question


def test_question_that_is_not_self_contained_is_asked_again(fake_ollama):
    fake_ollama.push(Reply(pairs_json(("According to the text, what starts it?", "ollama serve", "run ollama serve"))))
    result = run(fake_ollama, n=1)
    assert result.problems == ["question 1 says 'according to the text'; questions must stand on their own"]
    assert result.attempts == 2


def test_model_not_pulled_is_not_retried(fake_ollama):
    fake_ollama.push(not_found("qwen2.5:7b"))
    with pytest.raises(ModelNotFoundError, match="ollama pull qwen2.5:7b"):
        run(fake_ollama)
    assert len(fake_ollama.requests) == 1


def test_server_error_then_success_is_retried_by_the_backend(fake_ollama):
    fake_ollama.push(HTTPError(500, "boom"))
    assert len(run(fake_ollama, n=1).pairs) == 1
    assert len(fake_ollama.requests) == 2


def test_sizes():
    assert pairs_wanted(1000, 3, 0) == 3
    assert pairs_wanted(1000, 0, 240) == 5
    assert pairs_wanted(10, 0, 240) == 1
    with pytest.raises(ValueError):
        pairs_wanted(10, 0, 0)
    assert estimate_tokens("安裝 Ollama") == 2 + 3
    assert plan_num_ctx(1000, 1000) == 3072
    assert plan_num_ctx(100, 100) == 2048
    assert plan_num_ctx(30000, 2000, model_limit=32768) == 32768


def test_reply_in_a_code_fence_and_backticks_inside_answers(fake_ollama):
    body = pairs_json(("How is a mermaid block opened?", "With ```mermaid on its own line.", "Ollama runs on macOS"))
    fake_ollama.push(Reply("```json\n" + body + "\n```"), Reply("Sure! Here it is: " + body))
    assert run(fake_ollama, n=1).pairs[0].answer == "With ```mermaid on its own line."
    assert run(fake_ollama, n=1).pairs[0].answer == "With ```mermaid on its own line."
    assert len(fake_ollama.requests) == 2
