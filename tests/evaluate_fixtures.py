"""A reviewed project and a fake server with two candidate models and a judge, for evaluation tests.

``good:1b`` answers every question with its reference answer; ``bad:1b`` knows only the port
question; ``judge:7b`` gives 5 when the candidate's answer equals the reference answer, else 1.
Choice items: ``good:1b`` replies with the correct option's letter, ``bad:1b`` with the first option.
"""

from __future__ import annotations

import json
import re

from dataset_gen.models import Chunk, Document, QAPair
from tests.fake_ollama import Reply

GOOD, BAD, JUDGE = "good:1b", "bad:1b", "judge:7b"
MODELS = (GOOD, BAD, JUDGE)
A_TEXT = "## Port\n\nOllama serves on port 11434 by default. The server keeps a model loaded for five minutes."
B_TEXT = "## Storage\n\nModels are stored in the .ollama folder of the home directory."
QA = {  # question → (document, reference answer)
    "Which port does Ollama serve on?": ("a.md", "11434"),
    "How long does the server keep a model loaded?": ("a.md", "Five minutes."),
    "Where are models stored?": ("b.md", "In the .ollama folder of the home directory."),
    "Is there a web interface?": ("b.md", "The document does not say."),  # left in the train split
}
TEST_QUESTIONS = list(QA)[:3]


def responder(request: dict) -> Reply:
    """The scripted models (see the module)."""
    model = request.get("model")
    text = str(request["messages"][-1]["content"])
    if model == JUDGE:
        reference = re.search(r"^Reference answer: (.*)$", text, re.MULTILINE)
        candidate = re.search(r"^Candidate answer: (.*)$", text, re.MULTILINE)
        same = bool(reference and candidate and reference.group(1).strip() == candidate.group(1).strip())
        return Reply(json.dumps({"score": 5 if same else 1, "reason": "matches" if same else "differs"}))
    if "Options (reply with the correct option):" in text:
        options = re.findall(r"^([A-Z])\. (.*)$", text, re.MULTILINE)
        if model == GOOD:
            return Reply(next(letter for letter, option in options if option == "11434"))
        return Reply(f"{options[0][0]}. {options[0][1]}")
    for question, (_doc, answer) in QA.items():
        if question in text and (model == GOOD or question == TEST_QUESTIONS[0]):
            return Reply(answer)
    return Reply("I do not know.")


def seed(store, name: str = "p", *, choice: bool = False, qa: bool = True) -> tuple[int, dict[str, int]]:
    """A project with documents a.md and b.md, the :data:`QA` items accepted (the first three in
    the test split, the last in train) and, with ``choice``, one accepted choice item in the test
    split. Returns ``(project id, question → item id)``."""
    project_id = store.create_project(name)
    run_id = store.start_run(project_id, "gen:7b", {}, "qa_generate", "5", 2)
    ids: dict[str, int] = {}
    for doc_name, text in (("a.md", A_TEXT), ("b.md", B_TEXT)):
        document_id = store.add_document(project_id, Document(doc_name, text, "markdown", doc_name[0] * 64))
        [chunk_id] = store.replace_chunks(document_id, [Chunk(doc_name, 0, 0, len(text), text, ())])
        pairs = [QAPair(q, a, a, True) for q, (d, a) in QA.items() if d == doc_name] if qa else []
        if choice and doc_name == "a.md":
            pairs.append(QAPair("Which port is Ollama's default?", "11434", "11434", True, kind="choice",
                                choices=("8080", "11434", "443")))
        made = store.save_chunk_pairs(chunk_id, run_id, pairs)
        ids.update({p.question: i for p, i in zip(pairs, made, strict=True)})
        store.finish_chunk(chunk_id, run_id, None)
    store.finish_run(run_id, "finished")
    store.set_status(list(ids.values()), "accepted")
    with store._write() as conn:  # the split command is not part of this test: set the column itself
        conn.execute("UPDATE qa_pairs SET split = 'test' WHERE project_id = ?", (project_id,))
        if "Is there a web interface?" in ids:
            conn.execute("UPDATE qa_pairs SET split = 'train' WHERE id = ?", (ids["Is there a web interface?"],))
    return project_id, ids
