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


def _chained_project(store, n: int = 21) -> int:
    """A project of ``n`` accepted items on 4 chunks, chained by neighbour chunks into 2 groups (as
    conversations are): items 0-9 on chunks 0 and 1, items 10-20 on chunks 2 and 3."""
    from dataset_gen.models import Chunk, Document, QAPair

    project = store.create_project("talks")
    text = "".join(f"Part {i}: value {i}.\n" for i in range(4))
    lines = text.splitlines(keepends=True)
    starts = [sum(len(x) for x in lines[:i]) for i in range(4)]
    doc = store.add_document(project, Document("t.md", text, "markdown", "3" * 64))
    chunks = store.replace_chunks(doc, [Chunk("t.md", i, starts[i], starts[i] + len(lines[i]), lines[i])
                                        for i in range(4)])
    run = store.start_run(project, "m", {}, "qa_generate", "1", 4)
    for i in range(n):
        own, neighbour = (chunks[0], chunks[1]) if i < 10 else (chunks[2], chunks[3])
        store.add_pairs(own, run, [QAPair(f"Question {i}?", "Answer.", "value", True, question_type="comparison",
                                          context_chunk_ids=(neighbour,))])
    store.set_status(store.pair_ids(project), "accepted")
    return project


def run_main(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_split_says_why_a_split_got_nothing(tmp_path, capsys):
    from dataset_gen.store import Store

    with Store.open(tmp_path) as store:
        _chained_project(store)
    code, _, err = run_main(capsys, "--data-dir", tmp_path, "split", "--project", "talks", "--test", "0.2",
                            "--validation", "0.1")
    assert (code, err) == (0, "split: 21 items assigned (0 joined their chunk's split), 0 kept; train 11, "
                              "validation 0, test 10\n"
                              "only 2 independent groups (items that share a chunk stay together): validation "
                              "could not get 10 % and test could not get 20 %\n")


def test_split_and_export_with_no_accepted_item(tmp_path, capsys):
    from dataset_gen.store import Store

    with Store.open(tmp_path) as store:
        store.create_project("empty")
    code, _, err = run_main(capsys, "--data-dir", tmp_path, "split", "--project", "empty", "--test", "0.2")
    assert (code, err) == (1, "no accepted items to split: accept some first (review --project empty --accept IDS, "
                              "or review --project empty --accept-passing)\n")
    code, _, err = run_main(capsys, "--data-dir", tmp_path, "export", "--project", "empty", "--format", "alpaca",
                            "--output", tmp_path / "o.json", "--split", "test")
    assert (code, err) == (2, "error: No items in the test split of project 'empty': it has no accepted items; "
                              "accept some first (review --project empty --accept IDS, or review --project empty "
                              "--accept-passing)\n")


def test_export_of_a_split_names_items_accepted_after_it(tmp_path, capsys):
    from dataset_gen.models import QAPair
    from dataset_gen.store import Store

    with Store.open(tmp_path) as store:
        project = _chained_project(store, 12)
    assert run_main(capsys, "--data-dir", tmp_path, "split", "--project", "talks", "--test", "0.5")[0] == 0
    with Store.open(tmp_path) as store:
        chunk = store.list_chunks(project)[0].id
        run = store.start_run(project, "m", {}, "qa_generate", "1", 1)
        new = store.add_pairs(chunk, run, [QAPair(f"Late {i}?", "Answer.", "value", True) for i in range(3)])
        store.set_status(new, "accepted")
    code, _, err = run_main(capsys, "--data-dir", tmp_path, "export", "--project", "talks", "--format", "ragas",
                            "--output", tmp_path / "e.jsonl", "--split", "train")
    assert (code, err.splitlines()[0]) == (0, "3 accepted items have no split yet; run split again to place them")


def test_export_page_names_items_accepted_after_the_split(app_data_dir):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    from dataset_gen.models import QAPair
    from dataset_gen.splits import split_project
    from dataset_gen.store import Store

    with Store.open(app_data_dir) as store:
        project = _chained_project(store, 12)
        split_project(store, project, test=0.5)
        run = store.start_run(project, "m", {}, "qa_generate", "1", 1)
        store.set_status(store.add_pairs(store.list_chunks(project)[0].id, run, [QAPair("Late?", "A.", "v", True)]),
                         "accepted")
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"), default_timeout=60)
    at.session_state["project_id"] = project
    at.run()
    at.switch_page("ui/pages/export.py")
    at.run()
    assert [w.value for w in at.warning] == []
    at.selectbox(key="ex_split").set_value("train").run()
    assert not at.exception, at.exception
    assert [w.value for w in at.warning] == ["1 accepted item has no split yet; run Assign splits again to place it."]


def test_modelfile_wants_a_gguf_file_and_names_a_too_long_name(tmp_path, capsys):
    from dataset_gen.store import Store

    with Store.open(tmp_path) as store:
        store.create_project("notes")
    notes = tmp_path / "notes.md"
    notes.write_text("# not a model\n", encoding="utf-8")
    for path in (tmp_path, notes):
        code, _, err = run_main(capsys, "--data-dir", tmp_path, "modelfile", "--project", "notes", "--gguf", path,
                                "--name", "notes")
        assert (code, err) == (2, f"error: {path} is not a GGUF file (it does not start with GGUF)\n")
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF\x03\x00\x00\x00")
    code, _, err = run_main(capsys, "--data-dir", tmp_path, "modelfile", "--project", "notes", "--gguf", gguf,
                            "--name", "a" * 300)
    assert (code, err) == (2, f"error: '{'a' * 40}…' is too long for a model name: each part (namespace, name, tag) "
                              "is at most 80 characters, and this one has 300\n")
    assert run_main(capsys, "--data-dir", tmp_path, "modelfile", "--project", "notes", "--gguf", gguf,
                    "--name", "a" * 80)[0] == 0


def test_review_piped_to_head_ends_quietly(tmp_path):
    """``review | head -1``: the reader goes away after one line; the CLI ends with no error."""
    import subprocess
    import sys
    from pathlib import Path

    from dataset_gen.models import Chunk, Document, QAPair
    from dataset_gen.store import Store

    with Store.open(tmp_path) as store:
        project = store.create_project("many")
        text = "Ollama serves on port 11434 by default.\n"
        doc = store.add_document(project, Document("m.md", text, "markdown", "4" * 64))
        [chunk] = store.replace_chunks(doc, [Chunk("m.md", 0, 0, len(text), text)])
        run = store.start_run(project, "m", {}, "qa_generate", "1", 1)
        store.add_pairs(chunk, run, [QAPair(f"Question {i}: which port does Ollama serve on, and why? " * 4,
                                            "11434.", "port 11434", True) for i in range(3000)])
    root = Path(__file__).resolve().parents[1]
    script = (f"'{sys.executable}' -m dataset_gen --data-dir '{tmp_path}' review --project many 2>'{tmp_path}/err' "
              "| head -1 >/dev/null; echo ${PIPESTATUS[0]}")
    done = subprocess.run(["bash", "-c", script], cwd=root, capture_output=True, text=True, timeout=120)
    assert (done.stdout, (tmp_path / "err").read_text()) == ("141\n", "")
