"""Distillation from a topic with no document: through the real CLI ``main([...])``, the fake
Ollama server over HTTP (answering with :class:`tests.fake_distill.DistillResponder`) and a real
SQLite store. A tree is made and stored, edited as JSON and loaded back; items are origin model,
have no chunk, are never grounded and never held back as ungrounded, and they export."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dataset_gen.cli import main
from dataset_gen.gate import hold_back, hold_reasons
from dataset_gen.store import Store
from dataset_gen.tags import parse_tree
from tests.fake_distill import DistillResponder
from tests.fake_ollama import FakeOllama, Reply

TOPIC = "台灣的夜市小吃與飲食文化"


def run(capsys, *args) -> tuple[int, list[str], list[str]]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out.splitlines(), [line for line in err.splitlines() if line and not line.startswith("[")]


def test_distil_a_topic_with_no_document_makes_a_tree_and_items_of_origin_model_that_export(tmp_path, capsys):
    with FakeOllama(responder=DistillResponder(top=2, children=2)) as fake:
        base = ("--data-dir", tmp_path)
        code, _, err = run(capsys, *base, "distill", "--topic", TOPIC, "--project", "night", "--model", "qwen2.5:7b",
                           "--host", fake.url, "--tags", "2", "--questions-per-tag", "2")
        assert code == 0, err
        calls = fake.chat_requests()
    # one tree call, one questions call per leaf (4), one answer per question (8)
    assert len(calls) == 1 + 4 + 8
    assert "剛好 2 個彼此不重疊的上層主題標籤，每個上層標籤底下剛好 2 個不同的子標籤" in calls[0]["messages"][0]["content"]
    assert err[0].startswith("tag tree (made by the model;")
    assert err[1:7] == ["台灣的夜市小吃與飲食文化：第1類", "  - 第1類之1", "  - 第1類之2",
                        "台灣的夜市小吃與飲食文化：第2類", "  - 第2類之1", "  - 第2類之2"]
    assert err[-1].startswith("distilled 8 items in zh-TW with 13 calls (")
    with Store.open(tmp_path) as store:
        project_id = store.project_id("night")
        pairs = store.list_pairs(project_id)
        assert len(pairs) == 8
        assert {(p.origin, p.chunk_id, p.grounded, p.document, p.evidence) for p in pairs} == {("model", None, False, "", "")}
        assert pairs[0].question == "「台灣的夜市小吃與飲食文化：第1類 > 第1類之1」的第 1 個重點是什麼？"
        assert pairs[0].flags == ()
        assert all(hold_reasons(p) == [] for p in pairs)  # never held back as ungrounded
        assert hold_back(pairs)[1] == {}
        assert store.count_pairs(project_id, origin="model") == 8
        assert store.count_pairs(project_id, origin="document") == 0
        tags = {t.path: t.id for t in store.list_tags(project_id)}
        assert store.count_pairs(project_id, tag_id=tags["台灣的夜市小吃與飲食文化：第1類"]) == 4
        assert store.count_pairs(project_id, tag_id=tags["台灣的夜市小吃與飲食文化：第2類 > 第2類之2"]) == 2
        run_row = store.list_runs(project_id, kind="distill")[0]
        assert (run_row.kind, run_row.status, run_row.prompt_name) == ("distill", "finished", "distill_answer")
        assert run_row.prompt_tokens > 0 and run_row.completion_tokens > 0
    out = tmp_path / "night.json"
    code, _, err = run(capsys, *base, "export", "--project", "night", "--format", "alpaca", "--output", out,
                       "--include-unreviewed")
    assert code == 0, err
    records = json.loads(out.read_text(encoding="utf-8"))
    assert len(records) == 8
    assert records[0]["instruction"] == "「台灣的夜市小吃與飲食文化：第1類 > 第1類之1」的第 1 個重點是什麼？"
    assert records[0]["output"].startswith("這是關於「台灣的夜市小吃與飲食文化：第1類 > 第1類之1」的第 1 個重點是什麼？的說明")


def test_the_tree_is_shown_edited_as_json_and_loaded_back_then_distilled_from(tmp_path, capsys):
    base = ("--data-dir", tmp_path)
    with FakeOllama(responder=DistillResponder(top=1, children=3)) as fake:
        code, _, err = run(capsys, *base, "distill", "--topic", "Home espresso brewing", "--project", "coffee",
                           "--model", "qwen2.5:7b", "--host", fake.url, "--tags", "3", "--tree-only")
        assert code == 0, err
        assert len(fake.chat_requests()) == 1
        code, out, err = run(capsys, *base, "tags", "--project", "coffee", "--show")
        assert code == 0
        tree = json.loads("\n".join(out))
        assert tree == [{"name": "Home espresso brewing: area 1",
                         "children": ["area 1 part 1", "area 1 part 2", "area 1 part 3"]}]
        tree[0]["children"] = ["Grinding", "Tamping"]  # the person edits the file
        edited = tmp_path / "tree.json"
        edited.write_text(json.dumps(tree), encoding="utf-8")
        code, _, err = run(capsys, *base, "tags", "--project", "coffee", "--load", edited)
        assert (code, err) == (0, ["loaded 3 tags into project 'coffee'"])
        fake.push(Reply('{"questions": "not a list"}'))  # a broken reply: one re-ask, then it is used
        code, _, err = run(capsys, *base, "distill", "--topic", "Home espresso brewing", "--project", "coffee",
                           "--model", "qwen2.5:7b", "--host", fake.url, "--questions-per-tag", "1")
        assert code == 0, err
        calls = fake.chat_requests()[1:]
    assert err[0].startswith("tag tree (the project's;")
    assert err[1:4] == ["Home espresso brewing: area 1", "  - Grinding", "  - Tamping"]
    assert len(calls) == 2 + 1 + 2  # no tree call; questions (re-asked once) per leaf; an answer each
    assert calls[1]["messages"][-1]["content"].startswith('Your reply could not be used: the reply has no "questions" list')
    with Store.open(tmp_path) as store:
        pairs = store.list_pairs(store.project_id("coffee"))
    assert [p.question for p in pairs] == ["What is key point 1 of Home espresso brewing: area 1 > Grinding?",
                                          "What is key point 1 of Home espresso brewing: area 1 > Tamping?"]


@pytest.mark.parametrize(("text", "reason"), [
    ('[{"name": "A", "children": "B"}]', 'tag 1 ("A"): "children" is not a list of strings'),
    ('[{"name": " ", "children": ["b"]}, {"name": "\\u0000", "children": []}]',
     "the tag tree holds no tag (tag 1, tag 2: an empty name)"),
    ('[{"name": "' + "x" * 81 + '", "children": []}]', "tag 1: a name of 81 characters; keep tag names to 80"),
    ('[{"name": "A", "children": ["' + "y" * 90 + '"]}]',
     'tag 1 ("A"), child 1: a name of 90 characters; keep tag names to 80'),
])
def test_a_malformed_tree_file_is_refused_in_one_line_naming_the_file(tmp_path, capsys, text, reason):
    bad = tmp_path / "tree.json"
    bad.write_text(text, encoding="utf-8")
    with Store.open(tmp_path) as store:
        store.create_project("p")
    code, _, err = run(capsys, "--data-dir", tmp_path, "tags", "--project", "p", "--load", bad)
    assert (code, err) == (2, [f"error: {bad}: {reason}"])


def test_control_characters_are_taken_out_of_tag_names():
    assert parse_tree([{"name": "a\x00b\u200b c", "children": ["d\te"]}]) == [("ab c", ["d e"])]


def test_the_distill_page_makes_a_tree_shows_it_and_distils_from_it(app_data_dir, fake_ollama):
    fake_ollama.responder = DistillResponder(top=1, children=2)
    with Store.open(app_data_dir) as store:
        project_id = store.create_project("page", {"model": "qwen2.5:7b"})
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=60)
    at.session_state["project_id"] = project_id
    at.run()
    at.switch_page("ui/pages/distill.py")
    at.run()
    assert not at.exception, at.exception
    at.text_area(key="ds_topic").input("Home espresso brewing")
    at.number_input(key="ds_per_tag").set_value(1).run()
    at.button(key="ds_start").click().run()
    with Store.open(app_data_dir) as store:
        for _ in range(100):  # the job runs in a thread of the app's process
            if store.list_runs(project_id, kind="distill") and store.list_runs(project_id, kind="distill")[0].status != "running":
                break
            time.sleep(0.1)
        pairs = store.list_pairs(project_id)
        assert [p.question for p in pairs] == ["What is key point 1 of Home espresso brewing: area 1 > area 1 part 1?",
                                              "What is key point 1 of Home espresso brewing: area 1 > area 1 part 2?"]
        assert {p.origin for p in pairs} == {"model"}
    at.run()
    assert not at.exception, at.exception
    tree = [a for a in at.text_area if a.label == "Tag tree (JSON)"][0]
    assert json.loads(tree.value) == [{"name": "Home espresso brewing: area 1", "children": ["area 1 part 1", "area 1 part 2"]}]
    at.switch_page("ui/pages/review.py")
    at.run()
    assert not at.exception, at.exception
    at.selectbox(key="rv_origin").set_value("model").run()
    assert len(at.data_editor[0].value) == 2
