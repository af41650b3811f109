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
import tempfile
from functools import cache
from pathlib import Path

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


CUT_OFF = "The model's reply was not usable after 3 tries: the reply was cut off before the JSON ended; write shorter answers"


def test_the_recording_names_model_server_prompt_and_is_replayed_whole(tmp_path):
    recorded = _recorded()
    assert recorded["model_file"] == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert recorded["model_sha256"] == "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    assert recorded["server"] == "llama.cpp llama-server b11434-unknown"
    assert recorded["prompt_names"] == ["qa_generate 5"]
    assert recorded["sampling"] == {"temperature": 0.7, "seed": 42}
    assert len(recorded["exchanges"]) == 18
    _, _, replay = _replayed_run(tmp_path)
    # Every request of the run found its recorded reply, in the order it was recorded.
    assert replay.missing == []
    assert replay.served == [(e["document"], e["ordinal"], e["attempt"]) for e in recorded["exchanges"]]


def test_four_zh_tw_chunks_fail_because_every_reply_runs_to_the_token_budget(tmp_path):
    summary, _, _ = _replayed_run(tmp_path)
    assert (summary.status, summary.total, summary.done, summary.pairs) == ("finished", 9, 9, 10)
    assert [(f.document, f.ordinal, f.error) for f in summary.failures] == [
        ("ollama-notes-zh-TW.md", ordinal, CUT_OFF) for ordinal in (1, 3, 4, 5)
    ]
    # The budget doubles after a cut-off reply: 2 pairs x 300 + 256, then 1712, then 3424 tokens.
    cut = [e for e in _recorded()["exchanges"] if e["finish_reason"] == "length"]
    assert [e["request"]["max_tokens"] for e in cut] == [856, 1712, 3424] * 4


def test_what_the_checks_flag_on_the_stored_pairs(tmp_path):
    _, pairs, _ = _replayed_run(tmp_path)
    url = "https://github.com/dmitry-kapetz/lamp-scales-and-damp-to-sink-the-world-100-times-right-every-day-2018-2023"
    assert [(p.document, p.chunk_ordinal, p.question, p.grounded, p.flags) for p in pairs] == [
        ("md_codeblocks_sniffed_as_html.md", 0,
         "The document explains that the author of this example has never used HTML to create a webpage.", False, ()),
        ("md_codeblocks_sniffed_as_html.md", 0,
         "The document does not contain any HTML example, and it does not contain any HTML example.", False, ()),
        ("md_frontmatter_mkdocs_admonitions.md", 2, url + "_5822_321_8442_8441_30_11_21.json", False, ()),
        ("md_frontmatter_mkdocs_admonitions.md", 2, url + "_5822_321_8441_30_11_21", False, ("repeated",)),
        ("md_frontmatter_mkdocs_admonitions.md", 3, "How do I use retriever?", False, ()),
        ("md_frontmatter_mkdocs_admonitions.md", 3, "How to use retriever to analyze the data?", False, ()),
        ("ollama-notes-zh-TW.md", 0, "發計方式", False, ()),
        ("ollama-notes-zh-TW.md", 0, "擴密發計方式", False, ()),
        ("ollama-notes-zh-TW.md", 7, "2.25000001", False, ("trivial_evidence",)),
        ("ollama-notes-zh-TW.md", 7, "1.25000001", False, ("trivial_evidence",)),
    ]
    # Not one evidence quote is in its chunk; the language check passes all ten.
    assert all(p.language_ok for p in pairs)


def test_the_export_holds_every_pair_back_and_ungrounded_is_the_only_reason_for_seven(tmp_path, capsys):
    _replayed_run(tmp_path)
    out = tmp_path / "real.json"
    args = ["--data-dir", str(tmp_path), "export", "--project", "real", "--format", "alpaca", "--output", str(out),
            "--include-unreviewed"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "held back 10 items: ungrounded 7, trivial evidence 2, repeated 1",
        "error: No pairs left to export in project 'real': all 10 were held back; review them, or pass "
        "--include-flagged REASON,... to take them anyway",
    ]
    assert not out.exists()
    # Letting ungrounded pairs through shows what the other checks alone would keep.
    assert main([*args, "--include-flagged", "ungrounded"]) == 0
    assert "held back 3 items: trivial evidence 2, repeated 1\n" in capsys.readouterr().err
    records = json.loads(out.read_text(encoding="utf-8"))
    assert [r["instruction"][:40] for r in records] == [
        "The document explains that the author of",
        "The document does not contain any HTML e",
        "https://github.com/dmitry-kapetz/lamp-sc",
        "How do I use retriever?",
        "How to use retriever to analyze the data",
        "發計方式",
        "擴密發計方式",
    ]
