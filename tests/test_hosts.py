"""Runs over several model servers: every slot of every server used, a server that dies mid-run
taken out with no chunk lost, servers down at the start left out, per-server counts shown; all
against real fake Ollama servers over HTTP and a real SQLite store."""

from hashlib import sha256

import pytest

from dataset_gen.backends import OllamaBackend, make_backends
from dataset_gen.cli import main
from dataset_gen.config import ProjectConfig, Settings
from dataset_gen.errors import BackendUnreachableError
from dataset_gen.generation import HostProgress, run_generation
from dataset_gen.models import Chunk, Document
from dataset_gen.store import Store
from tests.fake_ollama import FakeOllama, qa_responder

MODEL = "qwen2.5:7b"


def make_project(tmp_path, n_chunks):
    """A store with one English document of ``n_chunks`` chunks; returns (store, project_id)."""
    store = Store.open(tmp_path)
    project_id = store.create_project("hosts")
    text, chunks = "", []
    for i in range(n_chunks):
        body = f"## Part {i}\n\nPart {i} of the guide says the server listens on port {11000 + i}. It keeps logs for {i + 2} days."
        chunks.append(Chunk("guide.md", i, len(text), len(text) + len(body), body, (f"Part {i}",)))
        text += body + "\n\n"
    document = Document("guide.md", text, "markdown", sha256(text.encode()).hexdigest())
    store.replace_chunks(store.add_document(project_id, document), chunks)
    return store, project_id


def backends(*fakes):
    return [OllamaBackend(f.url, backoff_s=0.01, max_retries=1) for f in fakes]


@pytest.fixture
def two_fakes():
    with FakeOllama(latency_s=0.1) as a, FakeOllama(latency_s=0.1) as b:
        yield a, b


def test_two_hosts_keep_every_slot_busy_and_count_chunks_per_host(tmp_path, two_fakes):
    a, b = two_fakes
    store, project_id = make_project(tmp_path, 8)
    seen = []
    summary = run_generation(store, project_id, backends(a, b), MODEL,
                             Settings(concurrency=2, pairs_per_chunk=1, language="en"), on_progress=seen.append)
    assert (summary.status, summary.done, summary.pairs, summary.failures, summary.warnings) == ("finished", 8, 8, [], [])
    assert (a.max_in_flight, b.max_in_flight) == (2, 2)
    assert len(a.chat_requests()) + len(b.chat_requests()) == 8
    assert summary.hosts == [HostProgress(a.url, len(a.chat_requests()), True),
                             HostProgress(b.url, len(b.chat_requests()), True)]
    assert seen[0].hosts == (HostProgress(a.url, 0), HostProgress(b.url, 0))
    assert sum(h.chunks for h in seen[-1].hosts) == 8
    assert [c.gen_status for c in store.list_chunks(project_id)] == ["done"] * 8
    store.close()


def test_a_host_that_dies_mid_run_is_taken_out_and_its_chunks_go_to_the_other(tmp_path):
    store, project_id = make_project(tmp_path, 10)
    with FakeOllama(latency_s=0.2) as slow, FakeOllama() as dying:
        answered = []

        def answer_twice_then_die(request):
            answered.append(1)
            if len(answered) == 3:  # the third request: the server goes away while answering it
                dying.stop()
            return qa_responder(request)

        dying.responder = answer_twice_then_die
        summary = run_generation(store, project_id, backends(slow, dying), MODEL,
                                 Settings(concurrency=1, pairs_per_chunk=1, language="en"))
        slow_calls = len(slow.chat_requests())
    assert (summary.status, summary.done, summary.pairs, summary.failures) == ("finished", 10, 10, [])
    assert summary.hosts == [HostProgress(slow.url, 8, True), HostProgress(dying.url, 2, False)]
    assert slow_calls == 8
    assert summary.warnings == [
        f"{dying.url} was taken out of the run: Ollama is not running at {dying.url} (no answer after 2 attempts): "
        "start it with `ollama serve` (or the Ollama app), or point OLLAMA_HOST, --host or the project's host "
        "setting at where it runs; "
        f"its chunks go to {slow.url}"]
    chunks = store.list_chunks(project_id)
    assert [c.gen_status for c in chunks] == ["done"] * 10
    assert [c.pairs for c in chunks] == [1] * 10  # no chunk lost, none done twice
    store.close()


def test_when_the_last_host_dies_the_run_fails_like_with_one_host(tmp_path):
    store, project_id = make_project(tmp_path, 4)
    with FakeOllama() as first, FakeOllama() as second:
        urls = first.url, second.url
    # Both servers are gone: nothing answers at the start.
    with pytest.raises(BackendUnreachableError, match=f"^Ollama is not running at {urls[0]} "):
        run_generation(store, project_id, [OllamaBackend(u, max_retries=0) for u in urls], MODEL,
                       Settings(concurrency=1, pairs_per_chunk=1, language="en"))
    assert store.list_runs(project_id) == []
    store.close()


def test_a_host_down_at_the_start_is_left_out_with_a_warning(tmp_path, fake_ollama):
    store, project_id = make_project(tmp_path, 3)
    with FakeOllama() as gone:
        gone_url = gone.url
    summary = run_generation(store, project_id, [OllamaBackend(gone_url, max_retries=0), *backends(fake_ollama)],
                             MODEL, Settings(concurrency=2, pairs_per_chunk=1, language="en"))
    assert (summary.status, summary.done, summary.pairs) == ("finished", 3, 3)
    assert summary.warnings == [
        f"{gone_url} was left out of the run: Ollama is not running at {gone_url} (no answer after 1 attempt): "
        "start it with `ollama serve` (or the Ollama app), or point OLLAMA_HOST, --host or the project's host "
        "setting at where it runs"]
    assert summary.hosts == [HostProgress(fake_ollama.url, 3, True)]
    store.close()


def test_hosts_in_settings_and_project_config():
    settings = Settings.from_env({}, ollama_host=["gpu1", "http://gpu2:11500", "gpu1"])
    assert settings.ollama_host == "http://gpu1:11434"
    assert settings.server_urls() == ("http://gpu1:11434", "http://gpu2:11500")
    assert [b.host for b in make_backends(settings)] == ["http://gpu1:11434", "http://gpu2:11500"]
    assert Settings.from_env({}, ollama_host=["gpu1"]).server_urls() == ("http://gpu1:11434",)
    # A project saved before the list keeps its single host; a list wins over it.
    assert ProjectConfig.load({"host": "old-box"}).apply(Settings()).server_urls() == ("http://old-box:11434",)
    config = ProjectConfig.load({"host": "old-box", "hosts": ["gpu1", "gpu2:11500"]})
    assert config.apply(Settings()).server_urls() == ("http://gpu1:11434", "http://gpu2:11500")
    openai = ProjectConfig.load({"api": "openai", "hosts": ["vllm1:8000", "vllm2:8000"]}).apply(Settings())
    assert openai.server_urls() == ("http://vllm1:8000/v1", "http://vllm2:8000/v1")


def test_generate_command_shows_per_host_counts(tmp_path, two_fakes, capsys):
    """Through the command line: --host given twice."""
    a, b = two_fakes
    doc = tmp_path / "guide.md"
    doc.write_text("\n\n".join(f"## Part {i}\n\nPart {i} of the guide says the port is {11000 + i}. " * 3
                               for i in range(6)), encoding="utf-8")
    code = main(["--data-dir", str(tmp_path / "data"), "generate", str(doc), "--model", MODEL, "--project", "p",
                 "--host", a.url, "--host", b.url, "--concurrency", "2", "--pairs-per-chunk", "1",
                 "--language", "en"])
    out = capsys.readouterr()
    assert code == 0
    done_a, done_b = len(a.chat_requests()), len(b.chat_requests())
    hosts = f" | {a.host} {done_a}, {b.host} {done_b}"
    summary = [ln for ln in (out.out + out.err).splitlines() if " from " in ln]
    assert summary and summary[0].endswith(hosts)
    assert f"ETA 0s{hosts}" in out.err


def test_the_only_server_dying_mid_run_says_what_was_saved_and_what_is_left(tmp_path, capsys):
    doc = tmp_path / "guide.md"
    doc.write_text("\n\n".join(f"## Part {i}\n\nPart {i} of the guide says the port is {11000 + i}. " * 3
                               for i in range(6)), encoding="utf-8")
    with FakeOllama() as dying:
        answered = []

        def answer_twice_then_die(request):
            answered.append(1)
            if len(answered) == 3:
                dying.stop()
            return qa_responder(request)

        dying.responder = answer_twice_then_die
        code = main(["--data-dir", str(tmp_path / "data"), "generate", str(doc), "--model", MODEL, "--host",
                     dying.url, "--concurrency", "1", "--pairs-per-chunk", "1", "--language", "en", "--chunk-size", "200"])
    err = capsys.readouterr().err.splitlines()
    assert code == 2, err
    assert err[-2].startswith(f"error: Ollama is not running at {dying.url} ")
    assert err[-1] == ("3 chunks not tried yet; run the same command again once the server answers "
                       "(what was saved is kept)")
