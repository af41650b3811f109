"""OllamaBackend over real HTTP, through the official client, against the fake server."""

from __future__ import annotations

import json
import socket
import time

import pytest

from dataset_gen.backends import Backend, OllamaBackend, strip_think
from dataset_gen.errors import BackendError, BackendUnreachableError, ModelNotFoundError
from dataset_gen.models import ChatReply, ModelInfo, SamplingOptions
from tests.fake_ollama import (
    BUSY_MESSAGE,
    Drop,
    FakeOllama,
    HTTPError,
    MidStreamError,
    Reply,
    Slow,
    busy,
    qa_responder,
)

MODEL = "qwen2.5:7b"
HELLO = [{"role": "user", "content": "Say hello."}]


def pairs_schema(n: int) -> dict:
    item = {
        "type": "object",
        "properties": {
            "question": {"type": "string"},
            "answer": {"type": "string"},
            "evidence": {"type": "string"},
        },
        "required": ["question", "answer", "evidence"],
    }
    return {
        "type": "object",
        "properties": {"pairs": {"type": "array", "minItems": n, "maxItems": n, "items": item}},
        "required": ["pairs"],
    }


def chunk_messages(chunk: str) -> list[dict]:
    return [
        {"role": "system", "content": "You write question-answer pairs."},
        {"role": "user", "content": f"Document: notes.md\n\n<chunk>\n{chunk}\n</chunk>\n\nWrite the pairs."},
    ]


@pytest.fixture
def backend(fake_ollama):
    with OllamaBackend(fake_ollama.url, max_retries=3, backoff_s=0.01) as b:
        yield b


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- metadata ---------------------------------------------------------------------------------


def test_backend_satisfies_protocol_and_normalises_host(fake_ollama):
    port = fake_ollama.url.rsplit(":", 1)[1]
    b = OllamaBackend(f"127.0.0.1:{port}/")
    assert isinstance(b, Backend)
    assert b.host == fake_ollama.url
    assert OllamaBackend("localhost").host == "http://localhost:11434"


def test_version(backend):
    assert backend.version() == "0.12.6"


def test_list_models_names_and_sizes():
    with FakeOllama(models=("qwen3:8b", "qwen2.5:7b")) as fake:
        models = OllamaBackend(fake.url).list_models()
    assert models == [
        ModelInfo("qwen2.5:7b", 4683087332, "7.6B", "Q4_K_M", "qwen2"),
        ModelInfo("qwen3:8b", 5225388164, "8.2B", "Q4_K_M", "qwen3"),
    ]


def test_context_length_from_model_info():
    with FakeOllama(models=("qwen2.5:7b", "qwen3:8b")) as fake:
        b = OllamaBackend(fake.url)
        assert b.context_length("qwen2.5:7b") == 32768
        assert b.context_length("qwen3:8b") == 40960


def test_context_length_of_missing_model_says_pull(backend):
    with pytest.raises(ModelNotFoundError, match=r"ollama pull llama3\.2:3b"):
        backend.context_length("llama3.2:3b")


# --- chat ---------------------------------------------------------------------------------------


def test_chat_happy_path(backend, fake_ollama):
    fake_ollama.push(Reply("Hello there.", prompt_eval_count=26, eval_count=298, total_duration=5_191_566_416))
    reply = backend.chat(MODEL, HELLO)
    assert reply == ChatReply(
        content="Hello there.",
        thinking="",
        done_reason="stop",
        prompt_tokens=26,
        completion_tokens=298,
        duration_s=5.191566416,
    )
    assert fake_ollama.requests[0]["stream"] is False
    assert fake_ollama.requests[0]["messages"] == HELLO


def test_chat_without_metrics_falls_back_to_wall_time(backend, fake_ollama):
    fake_ollama.push(Slow(0.2, then=Reply("late", metrics=False)))
    reply = backend.chat(MODEL, HELLO)
    assert reply.content == "late"
    assert reply.prompt_tokens == 0 and reply.completion_tokens == 0
    assert 0.2 <= reply.duration_s < 5


def test_chat_sends_options_on_the_wire(backend, fake_ollama):
    schema = pairs_schema(2)
    options = SamplingOptions(temperature=0, top_k=20, seed=42, num_predict=512)
    backend.chat(MODEL, HELLO, format=schema, options=options, num_ctx=8192, think=False, keep_alive="10m")
    sent = fake_ollama.requests[0]
    assert sent["path"] == "/api/chat"
    assert sent["options"] == {"temperature": 0, "top_k": 20, "seed": 42, "num_predict": 512, "num_ctx": 8192}
    assert sent["format"] == schema
    assert sent["think"] is False
    assert sent["keep_alive"] == "10m"
    assert sent["model"] == MODEL


def test_chat_leaves_out_what_was_not_given(backend, fake_ollama):
    backend.chat(MODEL, HELLO)
    sent = fake_ollama.requests[0]
    assert "options" not in sent and "format" not in sent
    assert "think" not in sent and "keep_alive" not in sent


def test_thinking_field_is_read(backend, fake_ollama):
    fake_ollama.push(Reply('{"pairs": []}', thinking="First I read the text."))
    reply = backend.chat(MODEL, HELLO)
    assert reply.content == '{"pairs": []}'
    assert reply.thinking == "First I read the text."


def test_inline_think_block_is_stripped(backend, fake_ollama):
    fake_ollama.push(Reply('<think>\nThe text is about Ollama.\n</think>\n\n{"pairs": []}'))
    reply = backend.chat(MODEL, HELLO)
    assert reply.content == '{"pairs": []}'
    assert reply.thinking == "The text is about Ollama."


def test_thinking_model_thinks_by_default():
    with FakeOllama(models=("qwen3:8b",)) as fake:
        b = OllamaBackend(fake.url)
        assert b.chat("qwen3:8b", HELLO).thinking != ""
        assert b.chat("qwen3:8b", HELLO, think=False).thinking == ""


def test_cut_reply_keeps_done_reason_length(backend, fake_ollama):
    fake_ollama.push(Reply('{"pairs": [{"question": "What is Oll', done_reason="length"))
    reply = backend.chat(MODEL, HELLO)
    assert reply.done_reason == "length"
    assert reply.content == '{"pairs": [{"question": "What is Oll'


def test_strip_think_cases():
    assert strip_think("plain") == ("plain", "")
    assert strip_think("<think>a</think>B<think>c</think>") == ("B", "a\n\nc")
    assert strip_think("<think>still thinking when cut") == ("", "still thinking when cut")
    assert strip_think("reasoning only\n</think>\n{}") == ("{}", "reasoning only")
    assert strip_think("<THINK>x</THINK> y") == ("y", "x")


# --- retries ------------------------------------------------------------------------------------


def test_500_then_success_is_retried(backend, fake_ollama):
    fake_ollama.push(HTTPError(500, "llama runner process has terminated"), Reply("ok"))
    assert backend.chat(MODEL, HELLO).content == "ok"
    assert len(fake_ollama.requests) == 2


def test_503_busy_then_success_is_retried(backend, fake_ollama):
    fake_ollama.push(busy(), Reply("ok"))
    assert backend.chat(MODEL, HELLO).content == "ok"
    assert len(fake_ollama.requests) == 2


def test_dropped_connection_then_success_is_retried(backend, fake_ollama):
    fake_ollama.push(Drop(), Reply("ok"))
    assert backend.chat(MODEL, HELLO).content == "ok"
    assert len(fake_ollama.requests) == 2


def test_404_is_model_not_found_without_retry(backend, fake_ollama):
    fake_ollama.push(HTTPError(404, f"model '{MODEL}' not found"))
    with pytest.raises(ModelNotFoundError) as info:
        backend.chat(MODEL, HELLO)
    assert "ollama pull qwen2.5:7b" in str(info.value)
    assert fake_ollama.url in str(info.value)
    assert len(fake_ollama.requests) == 1


def test_unknown_model_from_the_server_is_model_not_found(backend, fake_ollama):
    with pytest.raises(ModelNotFoundError, match=r"Model 'llama3\.2:3b' is not pulled on .*ollama pull llama3\.2:3b"):
        backend.chat("llama3.2:3b", HELLO)
    assert len(fake_ollama.requests) == 1


def test_400_is_not_retried(backend, fake_ollama):
    fake_ollama.push(HTTPError(400, '"qwen2.5:7b" does not support thinking'))
    with pytest.raises(BackendError, match=r"HTTP 400.*does not support thinking") as info:
        backend.chat(MODEL, HELLO, think=True)
    assert not isinstance(info.value, ModelNotFoundError)
    assert len(fake_ollama.requests) == 1


def test_nothing_listening_is_unreachable():
    host = f"http://127.0.0.1:{closed_port()}"
    b = OllamaBackend(host, max_retries=1, backoff_s=0.01, connect_timeout_s=1)
    for call in (b.version, b.list_models, lambda: b.chat(MODEL, HELLO)):
        with pytest.raises(BackendUnreachableError) as info:
            call()
        message = str(info.value)
        assert host in message and "ollama serve" in message
        assert "\n" not in message


def test_persistent_500_gives_backend_error_after_all_attempts(backend, fake_ollama):
    fake_ollama.push(*[HTTPError(500, "boom: out of memory")] * 10)
    with pytest.raises(BackendError) as info:
        backend.chat(MODEL, HELLO)
    message = str(info.value)
    assert type(info.value) is BackendError
    assert "HTTP 500" in message and "boom: out of memory" in message and fake_ollama.url in message
    assert len(fake_ollama.requests) == 4  # max_retries + 1
    assert fake_ollama.pending() == 6


def test_persistent_busy_names_the_queue(backend, fake_ollama):
    fake_ollama.push(*[busy()] * 4)
    with pytest.raises(BackendError, match="HTTP 503") as info:
        backend.chat(MODEL, HELLO)
    assert BUSY_MESSAGE in str(info.value)
    assert len(fake_ollama.requests) == 4


def test_backoff_doubles(fake_ollama):
    fake_ollama.push(*[HTTPError(500, "x")] * 3)
    b = OllamaBackend(fake_ollama.url, max_retries=2, backoff_s=0.1)
    started = time.monotonic()
    with pytest.raises(BackendError):
        b.chat(MODEL, HELLO)
    assert 0.3 <= time.monotonic() - started < 2.0  # waits 0.1 + 0.2
    assert len(fake_ollama.requests) == 3


def test_slow_reply_times_out_with_advice(fake_ollama):
    fake_ollama.push(Slow(2.0), Slow(2.0))
    b = OllamaBackend(fake_ollama.url, read_timeout_s=0.3, max_retries=1, backoff_s=0.01)
    with pytest.raises(BackendError) as info:
        b.chat(MODEL, HELLO)
    message = str(info.value)
    assert "took longer than 0.3 s" in message and "read timeout" in message
    assert f"'{MODEL}'" in message
    assert len(fake_ollama.requests) == 2


def test_mid_stream_error_is_retried_then_reported(backend, fake_ollama):
    fake_ollama.push(MidStreamError("llama runner process has terminated"), Reply("ok"))
    assert backend.chat(MODEL, HELLO).content == "ok"
    fake_ollama.push(*[MidStreamError("llama runner process has terminated")] * 4)
    with pytest.raises(BackendError, match="llama runner process has terminated"):
        backend.chat(MODEL, HELLO)
    assert len(fake_ollama.requests) == 6


def test_not_json_from_server_is_backend_error(backend, fake_ollama):
    fake_ollama.push(HTTPError(200, "<html>not ollama</html>", json_body=False))
    with pytest.raises(BackendError, match="not valid Ollama JSON"):
        backend.chat(MODEL, HELLO)
    assert len(fake_ollama.requests) == 1


def test_empty_model_name_is_refused_before_sending(backend, fake_ollama):
    with pytest.raises(BackendError, match="No model chosen"):
        backend.chat("", HELLO)
    assert fake_ollama.requests == []


# --- the fake's default responder -----------------------------------------------------------------


def test_default_responder_returns_exactly_n_pairs(backend, fake_ollama):
    chunk = (
        "# Install\n\nOllama runs large language models on your own machine. "
        "Start it with ollama serve. The server listens on port 11434 by default.\n"
        "- Models are pulled with ollama pull."
    )
    for n in (1, 3, 6):
        reply = backend.chat(MODEL, chunk_messages(chunk), format=pairs_schema(n), options=SamplingOptions(temperature=0))
        pairs = json.loads(reply.content)["pairs"]
        assert len(pairs) == n
        for pair in pairs:
            assert set(pair) == {"question", "answer", "evidence"}
            assert pair["evidence"] in chunk and pair["answer"] == pair["evidence"]
        assert len({p["question"] for p in pairs}) == n
    first = json.loads(backend.chat(MODEL, chunk_messages(chunk), format=pairs_schema(2)).content)["pairs"]
    assert first[0] == {
        "question": 'What does the document say about "Ollama runs large language models"?',
        "answer": "Ollama runs large language models on your own machine.",
        "evidence": "Ollama runs large language models on your own machine.",
    }


def test_default_responder_writes_traditional_questions_for_chinese(backend):
    chunk = "Ollama 是一個在本機執行大型語言模型的工具。安裝後執行 ollama serve 啟動服務！預設埠號是 11434。"
    reply = backend.chat(MODEL, chunk_messages(chunk), format=pairs_schema(3))
    pairs = json.loads(reply.content)["pairs"]
    assert [p["answer"] for p in pairs] == [
        "Ollama 是一個在本機執行大型語言模型的工具。",
        "安裝後執行 ollama serve 啟動服務！",
        "預設埠號是 11434。",
    ]
    assert pairs[0]["question"] == "關於「Ollama 是一個在本」，文件說明了什麼？"
    assert all("說明" in p["question"] for p in pairs)


def test_default_responder_is_deterministic_and_plain_without_schema(backend, fake_ollama):
    request = {"messages": chunk_messages("Alpha beta gamma delta epsilon. Zeta eta theta iota kappa."), "format": pairs_schema(2)}
    assert qa_responder(request) == qa_responder(request)
    assert backend.chat(MODEL, HELLO).content.strip() != ""
    assert not backend.chat(MODEL, HELLO).content.startswith("{")
