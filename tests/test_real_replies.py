"""Real replies of a real small model, replayed: what the quality gate does with them.

``tests/data/real_model/replies.json`` holds the replies SmolLM2-135M-Instruct (Q4_1, through
llama.cpp's llama-server) gave to the project's own prompts for nine real chunks of the corpus
(see ``tests/data/real_model/README.md`` for how they were recorded). Here the fake Ollama server
answers each request with the recorded reply for that chunk and attempt, over real HTTP, into a
real generation run on a real SQLite store; then the command-line export applies the gate. The
assertions are exact: which pairs are stored, which check flags each one gets, and how many an
export holds back.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import urllib.request
from functools import cache
from pathlib import Path

import pytest

from dataset_gen.backends import OllamaBackend
from dataset_gen.cli import main
from dataset_gen.config import Settings
from dataset_gen.generation import run_generation
from dataset_gen.ingest import ingest_bytes
from dataset_gen.models import SamplingOptions
from dataset_gen.store import Store
from tests.fake_ollama import FakeOllama, Reply

CORPUS = Path(__file__).resolve().parent / "data" / "corpus"
REPLIES = Path(__file__).resolve().parent / "data" / "real_model" / "replies.json"
MODEL_NAME = "smollm2-135m-instruct"
SELECTION = {
    # document → chunk ordinals sent to the model: prose, tables and code, in zh-TW and English.
    "ollama-notes-zh-TW.md": (0, 1, 3, 4, 5, 7),
    "md_frontmatter_mkdocs_admonitions.md": (2, 3),
    "md_codeblocks_sniffed_as_html.md": (0,),
}
SETTINGS = Settings(concurrency=1, pairs_per_chunk=2)
OPTIONS = SamplingOptions(temperature=0.7, seed=42)


def build_project(store) -> tuple[int, list[int]]:
    """Project ``real`` with the three documents of :data:`SELECTION` ingested as the app and CLI
    do; returns ``(project id, ids of the selected chunks)``."""
    project_id = store.create_project("real")
    for name in SELECTION:
        ingest_bytes(store, project_id, (CORPUS / name).read_bytes(), name, SETTINGS.chunking,
                     max_bytes=SETTINGS.max_file_bytes)
    chunks = store.list_chunks(project_id)
    return project_id, [c.id for c in chunks if c.ordinal in SELECTION[c.document]]


@cache
def _chunks() -> tuple:
    """The selected chunks as the store keeps them (document, ordinal, text)."""
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp))
        try:
            project_id, ids = build_project(store)
            return tuple(c for c in store.list_chunks(project_id) if c.id in set(ids))
        finally:
            store.close()


def chunk_of(messages: list[dict]):
    """The selected chunk whose text is in the first user message of a chat request (the longest
    such text), or ``None``."""
    first = next((str(m.get("content") or "") for m in messages if m.get("role") == "user"), "")
    found = [c for c in _chunks() if c.text in first]
    return max(found, key=lambda c: len(c.text)) if found else None


class ForwardToOpenAI:
    """A fake Ollama responder that forwards each ``/api/chat`` request to an OpenAI-compatible
    server at ``base_url`` (``http://HOST:PORT/v1``, e.g. llama-server) and keeps every exchange in
    ``exchanges``. Ollama's ``format`` schema becomes ``response_format`` ``json_schema`` (``"json"``:
    ``json_object``); ``options`` temperature, top_p, top_k, seed and repeat_penalty go as they
    are, ``num_predict`` > 0 becomes ``max_tokens``, llama-server's prompt cache is off; ``finish_reason`` ``length`` becomes
    ``done_reason`` ``length``. Durations are wall time."""

    def __init__(self, base_url: str, timeout_s: float = 900.0):
        self.base_url, self.timeout_s = base_url.rstrip("/"), timeout_s
        self.exchanges: list[dict] = []

    @staticmethod
    def openai_body(request: dict) -> dict:
        """The Ollama ``/api/chat`` body as an OpenAI chat completion body."""
        options = request.get("options") or {}
        # cache_prompt false (a llama-server field): a prompt prefix reused from the previous
        # request changes the numbers slightly, so the same request would not give the same reply.
        body: dict = {"model": MODEL_NAME, "messages": request["messages"], "stream": False, "cache_prompt": False}
        for key in ("temperature", "top_p", "top_k", "seed", "repeat_penalty"):
            if key in options:
                body[key] = options[key]
        if options.get("num_predict", -1) > 0:
            body["max_tokens"] = options["num_predict"]
        fmt = request.get("format")
        if isinstance(fmt, dict):
            body["response_format"] = {"type": "json_schema", "json_schema": {"name": "reply", "schema": fmt}}
        elif fmt == "json":
            body["response_format"] = {"type": "json_object"}
        return body

    def __call__(self, request: dict) -> Reply:
        body = self.openai_body(request)
        started = time.monotonic()
        sent = urllib.request.Request(self.base_url + "/chat/completions", json.dumps(body).encode(),
                                      {"Content-Type": "application/json"})
        with urllib.request.urlopen(sent, timeout=self.timeout_s) as response:
            answer = json.loads(response.read())
        wall_s = time.monotonic() - started
        choice = answer["choices"][0]
        usage, timings = answer.get("usage") or {}, answer.get("timings") or {}
        chunk = chunk_of(request["messages"])
        self.exchanges.append({
            "document": chunk.document if chunk else None, "ordinal": chunk.ordinal if chunk else None,
            "attempt": sum(m.get("role") == "assistant" for m in request["messages"]),
            "content": choice["message"]["content"], "finish_reason": choice.get("finish_reason"),
            "prompt_tokens": usage.get("prompt_tokens"), "completion_tokens": usage.get("completion_tokens"),
            "predicted_per_second": timings.get("predicted_per_second"), "wall_s": round(wall_s, 2),
            "request": {k: v for k, v in body.items() if k != "messages"}, "messages": request["messages"],
        })
        return Reply(choice["message"]["content"],
                     done_reason="length" if choice.get("finish_reason") == "length" else "stop",
                     prompt_eval_count=usage.get("prompt_tokens"), eval_count=usage.get("completion_tokens"),
                     total_duration=int(wall_s * 1e9))


def _recorded() -> dict:
    return json.loads(REPLIES.read_text(encoding="utf-8"))


class Replay:
    """A fake Ollama responder that answers each chat request with the recorded reply for its
    chunk and attempt (attempt = assistant messages already in the conversation); a request with
    no recorded reply is listed in ``missing`` and answered ``""``."""

    def __init__(self, exchanges: list[dict]):
        self.replies = {(e["document"], e["ordinal"], e["attempt"]): e for e in exchanges}
        self.missing: list[tuple] = []
        self.served: list[tuple] = []

    def __call__(self, request: dict) -> Reply:
        chunk = chunk_of(request.get("messages") or [])
        attempt = sum(m.get("role") == "assistant" for m in request.get("messages") or [])
        key = (chunk.document if chunk else None, chunk.ordinal if chunk else None, attempt)
        found = self.replies.get(key)
        if found is None:
            self.missing.append(key)
            return Reply("")
        self.served.append(key)
        return Reply(found["content"], done_reason="length" if found["finish_reason"] == "length" else "stop",
                     prompt_eval_count=found["prompt_tokens"], eval_count=found["completion_tokens"])


def _replayed_run(tmp_path):
    """Run generation over the selected chunks with the recorded replies; returns
    ``(summary, stored pairs, replay)``."""
    replay = Replay(_recorded()["exchanges"])
    with FakeOllama(models=(MODEL_NAME,), responder=replay) as fake, Store.open(tmp_path) as store:
        project_id, chunk_ids = build_project(store)
        summary = run_generation(store, project_id, OllamaBackend(fake.url, max_retries=0), MODEL_NAME,
                                 SETTINGS, options=OPTIONS, chunk_ids=chunk_ids)
        pairs = store.list_pairs(project_id)
    return summary, pairs, replay


NO_ROOM = ("The model's reply was not usable after 2 tries: a re-ask of about {} tokens leaves no room for the "
           "reply in the window of 3072 tokens")
# The recording was made before re-asks were held to the context window: the third try of the two
# chunks whose replies ran to the budget is recorded but no longer asked.
NOT_ASKED = [("md_frontmatter_mkdocs_admonitions.md", 3, 2), ("ollama-notes-zh-TW.md", 1, 2)]


def test_the_recording_names_model_server_prompt_and_is_replayed_whole(tmp_path):
    recorded = _recorded()
    assert recorded["model_file"] == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert recorded["model_sha256"] == "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    assert recorded["server"] == "llama.cpp llama-server b11434-unknown"
    assert recorded["prompt_names"] == ["qa_generate 5"]
    assert recorded["sampling"] == {"temperature": 0.7, "seed": 42}
    assert len(recorded["exchanges"]) == 19
    _, _, replay = _replayed_run(tmp_path)
    # Every request of the run found its recorded reply, in the order it was recorded.
    assert replay.missing == []
    assert replay.served == [(e["document"], e["ordinal"], e["attempt"]) for e in recorded["exchanges"]
                             if (e["document"], e["ordinal"], e["attempt"]) not in NOT_ASKED]


def test_two_chunks_fail_because_every_reply_runs_to_the_token_budget(tmp_path):
    summary, _, _ = _replayed_run(tmp_path)
    assert (summary.status, summary.total, summary.done, summary.pairs) == ("finished", 9, 9, 14)
    # after two replies cut off, the re-ask (which quotes the cut reply) leaves no room in the window
    assert [(f.document, f.ordinal, f.error) for f in summary.failures] == [
        ("md_frontmatter_mkdocs_admonitions.md", 3, NO_ROOM.format(3340)),
        ("ollama-notes-zh-TW.md", 1, NO_ROOM.format(4049)),
    ]
    # The budget doubles after a cut-off reply: 2 pairs x 300 + 256 = 856, then 1712, then 3424
    # tokens; zh-TW chunk 5 was cut once, then its re-asks ended in time.
    cut = [e["request"]["max_tokens"] for e in _recorded()["exchanges"] if e["finish_reason"] == "length"]
    assert cut == [856, 1712, 3424, 856, 1712, 3424, 856]


def test_what_the_checks_flag_on_the_stored_pairs(tmp_path):
    _, pairs, _ = _replayed_run(tmp_path)
    notes, html, mkdocs = "ollama-notes-zh-TW.md", "md_codeblocks_sniffed_as_html.md", "md_frontmatter_mkdocs_admonitions.md"
    assert [(p.document, p.chunk_ordinal, p.question, p.answer, p.grounded, p.flags, p.language_ok) for p in pairs] == [
        (html, 0, "How do I write a summary?", "1. Use a title tag to wrap up the text.", False, (), True),
        (html, 0, "What is a summary?", "2. Use a title tag to wrap up the text.", False, (), True),
        (mkdocs, 2, "Lara Croft: Abridgment", pairs[2].answer, False, (), True),
        (mkdocs, 2, "The 2019 film Croft: Abridgment is a retelling of a classic film in the direction of the new "
                    "film Croft: Abridgment.", "The 2019 film Croft: Abridgment has just been released.", False, (), True),
        (notes, 0, "234567890123456", "1234567890123456", False, ("empty", "trivial_evidence"), True),
        (notes, 0, "1234567890123456", "1234567890123456", False, ("empty", "trivial_evidence", "repeated"), True),
        (notes, 3, "2.23.4.17", "1.23.4.17", False, ("empty",), True),
        (notes, 3, "3.33.3.33", "1.3.3.33", False, ("empty",), True),
        (notes, 4, "2022-03-22T12:37:59.38.76.31", "156559213", False, ("empty", "wrong_language", "trivial_evidence"),
         False),
        (notes, 4, "2022-03-22T12:37:59.39.64.62.62", "156559213", False,
         ("empty", "wrong_language", "trivial_evidence"), False),
        (notes, 5, "What is the answer to this question?", "the answer to this question is", False,
         ("not_self_contained", "wrong_language"), False),
        (notes, 5, "This is a question that has been asked before, and the answer to that question will be in the "
                   "JSON.", "this is the answer to this question.", False, ("wrong_language",), False),
        (notes, 7, "1000.1", "100.1", False, ("empty", "trivial_evidence"), True),
        (notes, 7, "100.2", "10.2.2", False, ("empty",), True),
    ]
    assert pairs[2].answer.startswith("The 2020 film Lara Croft: Abridgment features")
    # Not one evidence quote is in its chunk: the gate's groundedness rule holds every pair back.
    assert not any(p.grounded for p in pairs)


def test_the_export_holds_every_pair_back_and_ungrounded_is_the_only_reason_for_four(tmp_path, capsys):
    _replayed_run(tmp_path)
    out = tmp_path / "real.json"
    args = ["--data-dir", str(tmp_path), "export", "--project", "real", "--format", "alpaca", "--output", str(out),
            "--include-unreviewed"]
    assert main(args) == 2
    assert capsys.readouterr().err.splitlines() == [
        "held back 14 items: empty 8, ungrounded 4, not self contained 1, wrong language 1",
        "error: No pairs left to export in project 'real': all 14 were held back (empty 8, ungrounded 4, "
        "not self contained 1, 1 more reason); review them (review --project real lists why each is held back), "
        "or pass --include-flagged ungrounded,empty,trivial_evidence,wrong_language,repeated,not_self_contained "
        "to take them anyway",
    ]
    assert not out.exists()
    # Letting ungrounded pairs through shows what the other checks alone would keep: four junk pairs.
    assert main([*args, "--include-flagged", "ungrounded"]) == 0
    assert "held back 10 items: empty 8, not self contained 1, wrong language 1\n" in capsys.readouterr().err
    records = json.loads(out.read_text(encoding="utf-8"))
    assert [r["instruction"] for r in records] == [
        "How do I write a summary?",
        "What is a summary?",
        "Lara Croft: Abridgment",
        "The 2019 film Croft: Abridgment is a retelling of a classic film in the direction of the new film Croft: "
        "Abridgment.",
    ]


LIVE_URL = os.environ.get("DATASET_GEN_REAL_MODEL_URL", "")


@pytest.mark.skipif(not LIVE_URL, reason="no real model: set DATASET_GEN_REAL_MODEL_URL to the URL that "
                                          "`bash scripts/real_model.sh start` prints")
def test_live_model_gives_the_recorded_reply_for_the_html_chunk(tmp_path):
    """Against the real llama-server: the English HTML chunk (one call, 115 tokens) through a real
    run. Same build, model, prompt and seed as the recording: the reply is the recorded one."""
    forward = ForwardToOpenAI(LIVE_URL, timeout_s=120)
    with FakeOllama(models=(MODEL_NAME,), responder=forward) as fake, Store.open(tmp_path) as store:
        project_id, chunk_ids = build_project(store)
        chosen = [c.id for c in store.list_chunks(project_id)
                  if (c.document, c.ordinal) == ("md_codeblocks_sniffed_as_html.md", 0)]
        assert len(chosen) == 1 and chosen[0] in chunk_ids
        summary = run_generation(store, project_id, OllamaBackend(fake.url, max_retries=0), MODEL_NAME,
                                 SETTINGS, options=OPTIONS, chunk_ids=chosen)
        questions = [p.question for p in store.list_pairs(project_id)]
    assert (summary.status, summary.done, summary.pairs, summary.failures) == ("finished", 1, 2, [])
    recorded = next(e for e in _recorded()["exchanges"]
                    if (e["document"], e["ordinal"]) == ("md_codeblocks_sniffed_as_html.md", 0))
    assert [e["content"] for e in forward.exchanges] == [recorded["content"]]
    assert questions == ["How do I write a summary?", "What is a summary?"]


def test_report_counts_the_ungrounded_pairs_with_the_flags(tmp_path, capsys):
    _replayed_run(tmp_path)
    assert main(["--data-dir", str(tmp_path), "report", "--project", "real"]) == 0
    [flags] = [line for line in capsys.readouterr().out.splitlines() if line.startswith("flags: ")]
    assert flags == ("flags: empty 8, not self contained 1, wrong language 4, trivial evidence 5, repeated 1, "
                     "ungrounded 14 (exports hold flagged pairs back unless --include-flagged names the reason)")
