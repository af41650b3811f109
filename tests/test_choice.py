"""Objective questions: the option checks, reading a model's reply (:func:`score_choice`), and
generation of single-choice and true/false items over real HTTP to the fake Ollama, stored in a
real store and exported with their options."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dataset_gen.backends.ollama import OllamaBackend
from dataset_gen.choice import choice_prompt, choice_response, option_problem, score_choice
from dataset_gen.choice_generation import generate_choices
from dataset_gen.cli import main
from dataset_gen.models import SamplingOptions
from dataset_gen.prompts import load_prompt
from dataset_gen.qa import Task
from dataset_gen.store import Store
from tests.fake_ollama import Reply

CITIES = ["Paris", "Berlin", "Rome", "Madrid"]
TF = ["正確", "錯誤"]
TEXT = ("# Ollama 筆記\n\nOllama 是在本機執行大型語言模型的工具。安裝後執行 ollama serve 啟動服務，"
        "預設埠號是 11434。模型檔存放在 ~/.ollama/models 資料夾，可以用 OLLAMA_MODELS 環境變數變更位置。\n")


@pytest.mark.parametrize("reply, expected", [
    ("B", True), ("b", True), ("(B)", True), ("B. Berlin", True), ("Answer: B", True), ("The answer is B.", True),
    ("答案：B", True), ("**B**", True), ("Berlin", True), ("berlin.", True), ("It is Berlin", True),
    ("A", False), ("D) Madrid", False), ("Paris", False),
    ("", None), ("I am not sure", None), ("E", None), ("A or B", None), ("Paris or Berlin", None),
    ("B. Paris", None),
])
def test_score_choice_letters_and_texts(reply: str, expected: bool | None):
    assert score_choice(reply, CITIES, "Berlin") is expected


@pytest.mark.parametrize("reply, expected", [
    ("錯誤", True), ("錯誤，原因是埠號是 11434", True), ("B", True), ("否", True), ("False", True),
    ("正確", False), ("A", False), ("正確。", False), ("是", False),
    ("不正確", None), ("不知道", None), ("C", None),
])
def test_score_choice_true_false_in_zh_tw(reply: str, expected: bool | None):
    assert score_choice(reply, TF, "錯誤") is expected


def test_score_choice_answer_not_an_option():
    assert score_choice("B", CITIES, "London") is None


@pytest.mark.parametrize("choices, answer, problem", [
    (CITIES, "Berlin", None),
    (["Paris", "Berlin", "Rome"], "Berlin", "it has 3 options, not 4"),
    (["Paris", "Berlin", " ", "Rome"], "Berlin", "an option is empty"),
    (["Paris", "Berlin", "berlin", "Rome"], "Berlin", "two options are the same"),
    (CITIES, "London", "the answer is not one of the options"),
])
def test_option_problem_single_choice(choices, answer, problem):
    assert option_problem("single_choice", choices, answer, "en") == problem


def test_option_problem_true_false():
    assert option_problem("true_false", TF, "錯誤", "zh-TW") is None
    assert option_problem("true_false", ["True", "False"], "True", "zh-TW") == "the options must be exactly ['正確', '錯誤']"
    assert option_problem("true_false", ["True", "False"], "Yes", "en") == "the answer must be 'True' or 'False'"


def test_export_text():
    assert choice_prompt("Which city is the capital of Germany?", CITIES) == (
        "Which city is the capital of Germany?\n\nA. Paris\nB. Berlin\nC. Rome\nD. Madrid")
    assert choice_response(CITIES, "Berlin") == "B. Berlin"


def _generate(fake, kind: str, n: int, max_reasks: int = 0):
    backend = OllamaBackend(fake.url, backoff_s=0.01, max_retries=1)
    return generate_choices(
        lambda **kw: backend.chat("qwen2.5:7b", **kw), load_prompt("choice_generate", "zh-TW"),
        load_prompt("choice_repair", "zh-TW"), chunk_text=TEXT, document="notes.md", heading_path=("Ollama 筆記",),
        n=n, language="zh-TW", options=SamplingOptions(), context_tokens=4096, max_reasks=max_reasks,
        task=Task(kind))


def test_a_bad_option_set_is_rejected_with_its_reason(fake_ollama):
    good = {"question": "Ollama 服務的預設埠號是多少？", "options": ["8080", "11434", "443", "3000"], "answer": "B",
            "evidence": "預設埠號是 11434"}
    bad = {"question": "Ollama 的模型檔存放在哪裡？", "options": ["~/.ollama/models", "/tmp", "/usr"],
           "answer": "~/.ollama/models", "evidence": "模型檔存放在 ~/.ollama/models 資料夾"}
    fake_ollama.push(Reply(json.dumps({"items": [good, bad]}, ensure_ascii=False)))
    result = _generate(fake_ollama, "single_choice", 2)
    assert result.problems == ["question 2: it has 3 options, not 4", "1 of the 2 questions asked for are usable"]
    [pair] = result.pairs
    assert (pair.kind, pair.question_type, pair.choices, pair.answer, pair.grounded) == (
        "choice", "single_choice", ("8080", "11434", "443", "3000"), "11434", True)
    [request] = fake_ollama.chat_requests()
    items = request["format"]["properties"]["items"]
    assert (items["minItems"], items["items"]["properties"]["options"]["minItems"]) == (2, 4)


def test_a_re_ask_fixes_the_options(fake_ollama):
    bad = {"question": "Ollama 服務的預設埠號是多少？", "options": ["11434", "11434", "443", "3000"],
           "answer": "11434", "evidence": "預設埠號是 11434"}
    good = {**bad, "options": ["8080", "11434", "443", "3000"]}
    fake_ollama.push(Reply(json.dumps({"items": [bad]})), Reply(json.dumps({"items": [good]})))
    result = _generate(fake_ollama, "single_choice", 1, max_reasks=1)
    assert result.problems == ["question 1: two options are the same", "0 of the 1 questions asked for are usable"]
    assert [p.choices for p in result.pairs] == [("8080", "11434", "443", "3000")]
    repair = fake_ollama.chat_requests()[1]["messages"][-1]["content"]
    assert repair.startswith("你的回覆無法使用：question 1: two options are the same; 0 of the 1 questions")


def test_true_false_items_get_the_languages_options(fake_ollama):
    items = [{"question": "Ollama 服務的預設埠號是 8080。", "answer": "錯誤", "evidence": "預設埠號是 11434"},
             {"question": "OLLAMA_MODELS 環境變數可以變更模型檔的位置。", "answer": "True",
              "evidence": "可以用 OLLAMA_MODELS 環境變數變更位置"}]
    fake_ollama.push(Reply(json.dumps({"items": items}, ensure_ascii=False)))
    result = _generate(fake_ollama, "true_false", 2)
    assert [(p.choices, p.answer, p.grounded) for p in result.pairs] == [
        (("正確", "錯誤"), "錯誤", True), (("正確", "錯誤"), "正確", True)]
    assert fake_ollama.chat_requests()[0]["format"]["properties"]["items"]["items"]["properties"]["answer"] == {
        "type": "string", "enum": ["正確", "錯誤"]}


def test_generate_kind_choice_then_export(tmp_path: Path, fake_ollama, capsys):
    notes = tmp_path / "notes.md"
    notes.write_text(TEXT, encoding="utf-8")
    single = {"items": [{"question": "Ollama 服務的預設埠號是多少？", "options": ["8080", "11434", "443", "3000"],
                         "answer": "11434", "evidence": "安裝後執行 ollama serve 啟動服務，預設埠號是 11434"}]}
    truth = {"items": [{"question": "Ollama 的模型檔存放在 ~/.ollama/models 資料夾。", "answer": "正確",
                        "evidence": "模型檔存放在 ~/.ollama/models 資料夾"}]}
    fake_ollama.push(Reply(json.dumps(single, ensure_ascii=False)), Reply(json.dumps(truth, ensure_ascii=False)))
    code = main(["--data-dir", str(tmp_path), "generate", str(notes), "--model", "qwen2.5:7b", "--host", fake_ollama.url,
                 "--kind", "choice", "--pairs-per-chunk", "1", "--concurrency", "1"])
    err = capsys.readouterr().err
    assert code == 0, err
    with Store.open(tmp_path) as store:
        pairs = store.list_pairs(store.project_id("default"))
    assert [(p.kind, p.question_type, p.choices, p.answer, p.grounded, p.flags) for p in pairs] == [
        ("choice", "single_choice", ("8080", "11434", "443", "3000"), "11434", True, ()),
        ("choice", "true_false", ("正確", "錯誤"), "正確", True, ())]
    assert main(["--data-dir", str(tmp_path), "review", "--accept", f"{pairs[0].id},{pairs[1].id}"]) == 0
    out = tmp_path / "out" / "choice.json"
    assert main(["--data-dir", str(tmp_path), "export", "--format", "alpaca", "--output", str(out)]) == 0
    records = json.loads(out.read_text(encoding="utf-8"))
    assert [(r["instruction"], r["output"]) for r in records] == [
        ("Ollama 服務的預設埠號是多少？\n\nA. 8080\nB. 11434\nC. 443\nD. 3000", "B. 11434"),
        ("Ollama 的模型檔存放在 ~/.ollama/models 資料夾。\n\nA. 正確\nB. 錯誤", "A. 正確")]
    # a second choice run finds nothing left to ask: both types are there
    before = len(fake_ollama.chat_requests())
    assert main(["--data-dir", str(tmp_path), "generate", str(notes), "--model", "qwen2.5:7b", "--host",
                 fake_ollama.url, "--kind", "choice", "--pairs-per-chunk", "1"]) == 0
    assert len(fake_ollama.chat_requests()) == before


def test_choice_after_qa_keeps_the_qa_pairs(tmp_path: Path, fake_ollama, capsys):
    notes = tmp_path / "notes.md"
    notes.write_text(TEXT, encoding="utf-8")
    common = ["--data-dir", str(tmp_path), "generate", str(notes), "--model", "qwen2.5:7b", "--host", fake_ollama.url,
              "--pairs-per-chunk", "1", "--concurrency", "1"]
    assert main(common) == 0  # qa pairs from the fake's own well-behaved replies
    with Store.open(tmp_path) as store:
        project = store.project_id("default")
        qa = [(p.id, p.kind) for p in store.list_pairs(project)]
    assert [kind for _, kind in qa] == ["qa"]
    single = {"items": [{"question": "Ollama 服務的預設埠號是多少？", "options": ["8080", "11434", "443", "3000"],
                         "answer": "11434", "evidence": "安裝後執行 ollama serve 啟動服務，預設埠號是 11434"}]}
    truth = {"items": [{"question": "Ollama 的模型檔存放在 /tmp 資料夾。", "answer": "錯誤",
                        "evidence": "模型檔存放在 ~/.ollama/models 資料夾"}]}
    fake_ollama.push(Reply(json.dumps(single, ensure_ascii=False)), Reply(json.dumps(truth, ensure_ascii=False)))
    assert main([*common, "--kind", "choice"]) == 0, capsys.readouterr().err
    with Store.open(tmp_path) as store:
        after = [(p.id, p.kind, p.question_type) for p in store.list_pairs(project)]
        [chunk] = store.list_chunks(project)
    assert after == [(qa[0][0], "qa", "factual"), (qa[0][0] + 1, "choice", "single_choice"),
                     (qa[0][0] + 2, "choice", "true_false")]
    assert chunk.gen_status == "done"
