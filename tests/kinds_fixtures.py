"""A small project holding every kind of item, for the judge's and the report's tests: a real
SQLite store, one Markdown chunk, a conversation and a choice question on it, and two items with no
source chunk (``origin`` ``model`` and ``examples``)."""

from __future__ import annotations

from dataset_gen.conversation import Conversation
from dataset_gen.models import Chunk, Document, QAPair, Turn
from dataset_gen.store import Store

TEXT = "## Ports\n\nOllama serves on port 11434 by default. Set OLLAMA_HOST to listen on another address."
TURNS = (Turn(0, "user", "Which port does Ollama use?"),
         Turn(1, "assistant", "It serves on port 11434 by default.", "Ollama serves on port 11434 by default.", True),
         Turn(2, "user", "And how do I change it?"),
         Turn(3, "assistant", "Set OLLAMA_HOST to another address.", "Set OLLAMA_HOST to listen on another address.",
              True))
OPTIONS = ("8080", "11434", "5000", "443")


def kinds_project(tmp_path) -> tuple[Store, int, dict[str, int]]:
    """``(store, project id, item ids by "conversation"/"choice"/"model"/"examples")`` of a project
    ``default`` (language ``en``) in ``tmp_path``: a conversation of two exchanges and a choice
    question on one chunk, one item distilled from the model's knowledge and one written from a
    person's examples (no chunk). The caller closes the store."""
    store = Store.open(tmp_path)
    project_id = store.create_project("default", {"language": "en"})
    [chunk_id] = store.replace_chunks(store.add_document(project_id, Document("ports.md", TEXT, "markdown", "0" * 64)),
                                      [Chunk("ports.md", 0, 0, len(TEXT), TEXT, ("Ports",))])
    run_id = store.start_run(project_id, "m", {}, "conversation_generate", "1", 1)
    conversation = store.add_conversation(chunk_id, run_id, Conversation(TURNS, True, (), True, "en"))
    [choice] = store.add_pairs(chunk_id, run_id, [QAPair(
        "Which port does Ollama serve on by default?", "11434", "Ollama serves on port 11434 by default.", True,
        question_type="single_choice", kind="choice", choices=OPTIONS)])
    distill_run = store.start_item_run(project_id, "distill", "m", {}, "distill_answer", "1", 2)
    [model_item] = store.add_sourceless_pairs(project_id, distill_run, [QAPair(
        "What is the capital of France?", "Paris is the capital of France.", "", False)], "model")
    [example_item] = store.add_sourceless_pairs(project_id, distill_run, [QAPair(
        "Write a haiku about rain.", "Rain falls on the roof.", "", False)], "examples")
    ids = {"conversation": conversation, "choice": choice, "model": model_item, "examples": example_item}
    return store, project_id, ids
