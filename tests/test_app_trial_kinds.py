"""The Generate page's "Try one chunk" tries the project's kind: a conversation shows every turn with
its evidence and grounded mark; choice questions show their options with the correct one marked.
The page's kind selector changes the project's one setting (``ProjectConfig.kind``). AppTest against
a real store and the fake Ollama over HTTP."""

from __future__ import annotations

import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

from dataset_gen.config import ProjectConfig
from dataset_gen.models import Chunk, Document
from dataset_gen.store import Store
from tests.fake_ollama import Reply

ROOT = Path(__file__).resolve().parents[1]
TEXT = "## Ports\n\nOllama serves on port 11434 by default. Set OLLAMA_HOST to listen on another address."


def _project(data_dir: Path, kind: str) -> int:
    with Store.open(data_dir) as store:
        project_id = store.create_project("ports", {"model": "qwen2.5:7b", "kind": kind, "turns": 2,
                                                    "pairs_per_chunk": 1, "language": "en"})
        document_id = store.add_document(project_id, Document("ports.md", TEXT, "markdown", "0" * 64))
        store.replace_chunks(document_id, [Chunk("ports.md", 0, 0, len(TEXT), TEXT, ("Ports",))])
    return project_id


def _open_generate(project_id: int) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["project_id"] = project_id
    at.run()
    at.switch_page("ui/pages/generate.py")
    at.run()
    assert not at.exception, at.exception
    return at


def _try(at: AppTest) -> list[dict]:
    next(b for b in at.button if b.label == "Try one chunk").click().run()
    assert not at.exception, at.exception
    [table] = [d for d in at.dataframe if "evidence" in d.value.columns]  # the server's model list is one too
    return table.value.to_dict("records")


def test_a_conversation_trial_shows_every_turn_with_its_evidence_and_grounded_mark(app_data_dir, fake_ollama):
    project_id = _project(app_data_dir, "conversation")
    fake_ollama.push(Reply(json.dumps({"turns": [
        {"user": "Which port does Ollama use?", "assistant": "Port 11434, by default.",
         "evidence": "Ollama serves on port 11434 by default."},
        {"user": "And how do I change it?", "assistant": "Restart it with a flag.",
         "evidence": "Pass --port to the server."}]})))
    at = _open_generate(project_id)
    assert _try(at) == [
        {"turn": "Turn 1 (User)", "text": "Which port does Ollama use?", "evidence": "", "grounded": True},
        {"turn": "Turn 2 (Assistant)", "text": "Port 11434, by default.",
         "evidence": "Ollama serves on port 11434 by default.", "grounded": True},
        {"turn": "Turn 3 (User)", "text": "And how do I change it?", "evidence": "", "grounded": True},
        {"turn": "Turn 4 (Assistant)", "text": "Restart it with a flag.", "evidence": "Pass --port to the server.",
         "grounded": False},
    ]
    [request] = fake_ollama.chat_requests()
    assert request["format"]["properties"]["turns"]["minItems"] == 2
    assert any(c.value.startswith('{"turns"') for c in at.code)  # the raw reply


def test_the_kind_selector_sets_the_project_kind_and_a_choice_trial_marks_the_correct_option(app_data_dir,
                                                                                               fake_ollama):
    project_id = _project(app_data_dir, "qa")
    at = _open_generate(project_id)
    kind = next(s for s in at.selectbox if s.label == "What to make from each chunk")
    assert kind.value == "qa"
    kind.select("choice").run()
    assert not at.exception, at.exception
    with Store.open(app_data_dir) as store:
        assert ProjectConfig.load(store.get_settings(project_id)).kind == "choice"
    fake_ollama.push(Reply(json.dumps({"items": [
        {"question": "Which port does Ollama serve on by default?", "options": ["8080", "11434", "5000", "443"],
         "answer": "B", "evidence": "Ollama serves on port 11434 by default."}]})))
    assert _try(at) == [{
        "question": "Which port does Ollama serve on by default?",
        "options (✓ the correct one)": "A. 443  B. 8080  ✓ C. 11434  D. 5000",  # in the question's own order
        "evidence": "Ollama serves on port 11434 by default.", "grounded": True}]
    [request] = fake_ollama.chat_requests()
    assert request["format"]["properties"]["items"]["minItems"] == 1
