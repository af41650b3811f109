"""A new user's findings on exports of choice questions and held-out splits: real SQLite stores,
the real CLI."""

from __future__ import annotations

import io
import json
import zipfile

from kinds_fixtures import kinds_project

from dataset_gen.cli import main
from dataset_gen.rag_export import beir_zip_bytes, to_ragas

CHOICE_PROMPT = "Which port does Ollama serve on by default?\n\nA. 8080\nB. 11434\nC. 5000\nD. 443"


def test_ragas_and_beir_show_a_choice_items_options(tmp_path):
    store, project_id, ids = kinds_project(tmp_path)
    with store:
        [pair] = [p for p in store.list_pairs(project_id) if p.id == ids["choice"]]
        [record] = to_ragas([pair])
        archive = zipfile.ZipFile(io.BytesIO(beir_zip_bytes(store.list_chunks(project_id), [pair], name="b")))
        queries = [json.loads(line) for line in archive.read("b/queries.jsonl").decode().splitlines()]
    assert (record["user_input"], record["reference"]) == (CHOICE_PROMPT, "B. 11434")
    assert queries == [{"_id": f"q{ids['choice']}", "text": CHOICE_PROMPT,
                        "metadata": {"question_type": "single_choice", "document": "ports.md"}}]


def test_export_ragas_cli_writes_the_options(tmp_path):
    store, project_id, ids = kinds_project(tmp_path)
    with store:
        store.set_status([ids["choice"]], "accepted")
    out = tmp_path / "r.jsonl"
    assert main(["--data-dir", str(tmp_path), "export", "--format", "ragas", "--output", str(out)]) == 0
    [record] = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert (record["user_input"], record["reference"]) == (CHOICE_PROMPT, "B. 11434")
