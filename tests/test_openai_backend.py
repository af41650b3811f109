"""The OpenAI-compatible backend through the real ``openai`` client against tests/fake_openai.py
(real HTTP): structured output and its fallbacks, reasoning, errors, and the command line end to
end, whose exports must match what the same documents give through Ollama."""

import json
import socket

import pytest

from dataset_gen.backends import Backend, OllamaBackend, OpenAIBackend, make_backend
from dataset_gen.cli import main
from dataset_gen.config import ProjectConfig, Settings, normalise_base_url
from dataset_gen.errors import BackendError, BackendUnreachableError, ModelNotFoundError
from dataset_gen.export import validate
from dataset_gen.models import SamplingOptions
from dataset_gen.qa import reply_schema
from dataset_gen.store import Store
from tests.fake_ollama import FakeOllama, qa_pairs_for
from tests.fake_openai import THINKING, APIError, Drop, FakeOpenAI, Reply, rate_limited
from tests.test_cli import NOTES_MD

MODEL = "qwen2.5-7b-instruct"
CHUNK = "Ollama listens on port 11434 by default. The num_ctx option sets the context window. A low temperature gives stable output."
MESSAGES = [{"role": "system", "content": "You write QA pairs."},
            {"role": "user", "content": f"Write exactly 2 pairs.\n<chunk>\nDocument: a.md\nSection: -\n\n{CHUNK}\n</chunk>"}]
EXPECTED = {"pairs": qa_pairs_for(CHUNK, 2, ["question", "answer", "evidence"])}


def backend_for(fake, **kwargs) -> OpenAIBackend:
    return OpenAIBackend(fake.url, backoff_s=0, **kwargs)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_json_schema_is_sent_as_response_format_and_the_reply_read():
    with FakeOpenAI() as fake:
        backend = backend_for(fake)
        assert isinstance(backend, Backend)
        reply = backend.chat(MODEL, MESSAGES, schema=reply_schema(2, False),
                             options=SamplingOptions(temperature=0.0, top_k=20, seed=7, num_predict=900,
                                                     repeat_penalty=1.1), context_tokens=8192)
        assert json.loads(reply.content) == EXPECTED
        assert (reply.thinking, reply.done_reason) == ("", "stop")
        sent = fake.chat_requests()[0]
        assert sent["response_format"] == {"type": "json_schema",
                                           "json_schema": {"name": "reply", "schema": reply_schema(2, False)}}
        assert (sent["temperature"], sent["seed"], sent["max_tokens"], sent["top_k"], sent["repetition_penalty"]) == (
            0.0, 7, 900, 20, 1.1)
        assert "num_ctx" not in sent and sent["messages"] == MESSAGES
        assert backend.modes == {}


def test_json_schema_rejected_falls_back_to_json_object_once():
    with FakeOpenAI(formats=("json_object",)) as fake:
        backend = backend_for(fake)
        reply = backend.chat(MODEL, MESSAGES, schema=reply_schema(2, False))
        assert json.loads(reply.content) == EXPECTED
        first, second = fake.chat_requests()
        assert first["response_format"]["type"] == "json_schema"
        assert second["response_format"] == {"type": "json_object"}
        assert "It must follow this JSON Schema: " in second["messages"][-1]["content"]
        assert backend.modes == {MODEL: "json_object"}
        backend.chat(MODEL, MESSAGES, schema=reply_schema(2, False))  # remembered: no second refusal
        assert [r["response_format"]["type"] for r in fake.chat_requests()] == ["json_schema", "json_object", "json_object"]


def test_no_response_format_at_all_falls_back_to_the_prompt_and_repairs_the_reply():
    with FakeOpenAI(formats=()) as fake:
        backend = backend_for(fake)
        reply = backend.chat(MODEL, MESSAGES, schema=reply_schema(2, False))
        assert json.loads(reply.content) == EXPECTED  # the fake wrote a sentence, a fence and a trailing comma
        kinds = [r.get("response_format", {}).get("type") for r in fake.chat_requests()]
        assert kinds == ["json_schema", "json_object", None]
        assert backend.modes == {MODEL: "prompt"}


@pytest.mark.parametrize("reasoning", ["reasoning_content", "think"])
def test_reasoning_is_read_from_reasoning_content_or_think_tags(reasoning):
    with FakeOpenAI(reasoning=reasoning) as fake:
        reply = backend_for(fake).chat(MODEL, MESSAGES, schema=reply_schema(2, False))
        assert reply.thinking == THINKING
        assert json.loads(reply.content) == EXPECTED


def test_models_context_length_and_embeddings():
    with FakeOpenAI(models=("b-model", "a-model"), max_model_len=4096) as fake:
        backend = backend_for(fake)
        assert backend.health() == "An OpenAI-compatible server with 2 models"
        assert [m.name for m in backend.list_models()] == ["a-model", "b-model"]
        assert backend.model_info("a-model").context_length == 4096
        with pytest.raises(ModelNotFoundError) as missing:
            backend.model_info("c-model")
        assert str(missing.value) == f"Model 'c-model' is not served at {fake.url}: pick one it lists (a-model, b-model)"
        vectors = backend.embed("a-model", ["one", "two", "three"], batch=2)
        assert len(vectors) == 3 and len(vectors[0]) == 8 and vectors[0] != vectors[1]
        assert [r["input"] for r in fake.requests if r["path"] == "/v1/embeddings"] == [["one", "two"], ["three"]]


def test_a_refused_key_names_the_variable():
    with FakeOpenAI(api_key="sk-right") as fake:
        with pytest.raises(BackendError) as wrong:
            backend_for(fake, api_key="sk-wrong", api_key_env="MY_KEY").health()
        assert str(wrong.value) == (
            f"{fake.url} refused the request (HTTP 401): Incorrect API key provided: sk-***. You can find your API "
            "key at https://platform.openai.com/account/api-keys.; the key in $MY_KEY was refused (the project "
            "names which variable holds the key; keys are never stored)")
        with pytest.raises(BackendError, match=r"no key was sent: set \$OPENAI_API_KEY"):
            backend_for(fake).health()
        assert backend_for(fake, api_key="sk-right").health() == "An OpenAI-compatible server with 1 model"


def test_missing_model_wrong_path_and_nothing_listening():
    with FakeOpenAI() as fake:
        with pytest.raises(ModelNotFoundError) as missing:
            backend_for(fake).chat("nope", MESSAGES)
        assert str(missing.value) == (
            f"Model 'nope' is not served at {fake.url}: pick one that GET /v1/models lists (server said: The model "
            "`nope` does not exist or you do not have access to it.)")
        wrong = fake.url.removesuffix("/v1") + "/api"
        with pytest.raises(BackendError) as not_api:
            OpenAIBackend(wrong, max_retries=0).health()
        assert str(not_api.value) == (f'{wrong} answered HTTP 404 to GET /models: {{"detail": "Not Found"}}; '
                                      "is the base URL right? It usually ends in /v1")
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(BackendUnreachableError) as down:
        OpenAIBackend(url, max_retries=1, backoff_s=0).health()
    assert str(down.value) == (f"Nothing answers at {url} (no answer after 2 attempts): start the server (`vllm serve`, "
                               "`llama-server`, LM Studio's local server), or point OPENAI_BASE_URL, --host or the "
                               "project's base URL setting at its URL ending in /v1")


def test_429_and_5xx_are_retried_then_reported_in_one_line():
    with FakeOpenAI() as fake:
        backend = backend_for(fake, max_retries=2)
        fake.push(rate_limited(), APIError(502, "Bad gateway", type="server_error"), Reply("ok"))
        assert backend.chat(MODEL, MESSAGES).content == "ok"
        assert len(fake.chat_requests()) == 3

        fake.push(rate_limited(), rate_limited(), rate_limited())
        with pytest.raises(BackendError) as limited:
            backend.chat(MODEL, MESSAGES)
        assert str(limited.value) == (
            f"{fake.url} kept refusing the chat request for model '{MODEL}' as too many requests (HTTP 429, 3 "
            "attempts): Rate limit reached for requests. Please try again in 1s.; lower the concurrency or wait")

        fake.push(*[APIError(503, "engine is sleeping", type="ServiceUnavailableError", vllm_body=True)] * 3)
        with pytest.raises(BackendError) as failed:
            backend.chat(MODEL, MESSAGES)
        assert str(failed.value) == (f"{fake.url} failed the chat request for model '{MODEL}' (HTTP 503, 3 attempts): "
                                     "engine is sleeping; see the server's log")

        fake.push(Drop(), Drop(), Drop())
        with pytest.raises(BackendError) as dropped:
            backend.chat(MODEL, MESSAGES)
        assert str(dropped.value) == (f"{fake.url} closed the connection without answering the chat request "
                                      "(3 attempts): check the server's log")

        fake.push(APIError(400, "max_tokens must be at least 1", param="max_tokens"))
        with pytest.raises(BackendError) as bad:
            backend.chat(MODEL, MESSAGES)  # a 400 not about the format is neither retried nor a fallback
        assert str(bad.value) == (f"{fake.url} failed the chat request for model '{MODEL}' (HTTP 400, 1 attempt): "
                                  "max_tokens must be at least 1")


def test_the_factory_builds_each_kind_from_settings():
    with FakeOpenAI(api_key="sk-from-env") as fake:
        settings = Settings(api="openai", openai_base_url=fake.url, api_key_env="MY_SERVER_KEY")
        backend = make_backend(settings, environ={"MY_SERVER_KEY": "sk-from-env"})
        assert isinstance(backend, OpenAIBackend) and backend.host == fake.url
        assert backend.health() == "An OpenAI-compatible server with 1 model"
    ollama = make_backend(Settings(ollama_host="localhost"))
    assert isinstance(ollama, OllamaBackend) and ollama.host == "http://localhost:11434"


def test_settings_hold_the_api_kind_endpoints_and_the_key_variable_name_only():
    assert normalise_base_url("") == "http://127.0.0.1:8000/v1"
    assert normalise_base_url("localhost:1234") == "http://localhost:1234/v1"
    assert normalise_base_url("https://api.example.com/v1/") == "https://api.example.com/v1"
    env = {"OPENAI_BASE_URL": "127.0.0.1:8080", "OPENAI_API_KEY": "sk-secret"}
    settings = Settings.from_env(env, api="openai")
    assert (settings.api, settings.openai_base_url, settings.api_key(env)) == ("openai", "http://127.0.0.1:8080/v1",
                                                                               "sk-secret")
    assert "sk-secret" not in repr(settings)
    config = ProjectConfig.load({"api": "openai", "base_url": "localhost:1234", "api_key_env": "LMSTUDIO_KEY"})
    applied = config.apply(Settings())
    assert (applied.api, applied.openai_base_url, applied.api_key_env) == ("openai", "http://localhost:1234/v1",
                                                                           "LMSTUDIO_KEY")
    assert ProjectConfig.load({"api_key_env": "not a name"}).api_key_env == "OPENAI_API_KEY"
    assert ProjectConfig.load({"api": "bogus"}).api == "ollama"
    with pytest.raises(ValueError, match="Unknown API 'bogus'"):
        Settings.from_env({}, api="bogus")


def run_main(capsys, *args):
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


def alpaca_through(capsys, data_dir, *server_args):
    """Generate pairs for NOTES_MD through a server, judge them, export alpaca: (records, err)."""
    base = ("--data-dir", data_dir)
    code, err = run_main(capsys, *base, "generate", NOTES_MD, "--model", *server_args, "--project", "notes",
                         "--pairs-per-chunk", "2")
    assert code == 0, err
    code, err = run_main(capsys, *base, "judge", "--project", "notes", "--model", *server_args)
    assert code == 0, err
    out = data_dir / "out" / "notes.json"
    code, err = run_main(capsys, *base, "export", "--project", "notes", "--format", "alpaca", "--output", out,
                         "--include-unreviewed")
    assert code == 0, err
    return json.loads(out.read_text(encoding="utf-8")), err


@pytest.mark.parametrize(("formats", "reasoning", "kind"), [
    (("json_schema", "json_object"), "reasoning_content", "json_schema"),
    (("json_object",), "think", "json_object"),
    ((), "", None),
])
def test_the_same_documents_give_the_same_valid_exports_through_ollama_and_an_openai_server(
        tmp_path, capsys, monkeypatch, formats, reasoning, kind):
    with FakeOllama() as ollama:
        through_ollama, err_ollama = alpaca_through(capsys, tmp_path / "ollama", "qwen2.5:7b", "--host", ollama.url)
    with FakeOpenAI(formats=formats, reasoning=reasoning, api_key="sk-test") as fake:
        monkeypatch.setenv("OPENAI_BASE_URL", fake.url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        through_openai, err_openai = alpaca_through(capsys, tmp_path / "openai", MODEL, "--api", "openai")
        chats = fake.chat_requests()
        code, err = run_main(capsys, "models", "--api", "openai")
        assert (code, err) == (0, "")
    assert through_openai and validate("alpaca", through_openai) == []
    assert validate("alpaca", through_ollama) == []
    assert [(r["instruction"], r["output"]) for r in through_openai] == [
        (r["instruction"], r["output"]) for r in through_ollama]
    # the same pairs held back for the same reasons
    assert err_openai.splitlines()[0] == err_ollama.splitlines()[0] == "held back 9 items: trivial evidence 6, wrong language 3"
    # a refused kind is tried only until the first refusal reaches each worker; the run ends on the kind that works
    kinds = [r.get("response_format", {}).get("type") for r in chats]
    order = ["json_schema", "json_object", None]
    assert kinds[-1] == kind and set(kinds) <= set(order[: order.index(kind) + 1])
    with Store.open(tmp_path / "openai") as store:
        pairs = store.list_pairs(store.project_id("notes"))
        assert {p.model for p in pairs} == {MODEL} and all(p.faithfulness is not None for p in pairs)


def test_cli_errors_from_an_openai_server_are_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with FakeOpenAI(api_key="sk-test") as fake:
        code, err = run_main(capsys, "--data-dir", tmp_path, "generate", NOTES_MD, "--model", MODEL, "--api", "openai",
                             "--host", fake.url)
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"error: {fake.url} refused the request (HTTP 401)") and "set $OPENAI_API_KEY" in err
