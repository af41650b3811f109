"""Few-shot expansion through the real CLI, the fake Ollama over HTTP and a real SQLite store: five
examples (zh-TW Alpaca, English ShareGPT) make N records of origin examples; a near-copy of an
example is held back; a malformed examples file is refused in one line naming the file and line."""

from __future__ import annotations

import json

import pytest

from dataset_gen.cli import main
from dataset_gen.expand import Example, parse_examples
from dataset_gen.store import Store
from tests.fake_distill import DistillResponder
from tests.fake_ollama import FakeOllama, Reply

ZH_EXAMPLES = [
    {"instruction": "請說明如何在 Ollama 下載模型。", "input": "", "output": "使用 ollama pull 加上模型名稱即可下載。"},
    {"instruction": "如何查看目前執行中的模型？", "input": "", "output": "執行 ollama ps 可以看到執行中的模型與記憶體用量。"},
    {"instruction": "什麼是 Modelfile？", "input": "", "output": "Modelfile 是定義基底模型、系統提示與參數的設定檔。"},
    {"instruction": "如何刪除本機的模型？", "input": "", "output": "使用 ollama rm 加上模型名稱即可刪除。"},
    {"instruction": "LoRA 微調的優點是什麼？", "input": "", "output": "LoRA 只訓練少量參數，所需記憶體與時間都比全量微調少。"},
]
EN_EXAMPLES = [
    {"conversations": [{"from": "human", "value": q}, {"from": "gpt", "value": a}]} for q, a in (
        ("How do I list the models Ollama has?", "Run ollama list to see every local model."),
        ("What does ollama ps show?", "It shows the running models and their memory use."),
        ("How do I remove a model?", "Run ollama rm followed by the model name."),
        ("What is a Modelfile for?", "It sets a base model, a system prompt and parameters."),
        ("How do I start a chat with a model?", "Run ollama run followed by the model name."),
    )]


def run(capsys, *args) -> tuple[int, list[str]]:
    code = main([str(a) for a in args])
    _, err = capsys.readouterr()
    return code, [line for line in err.splitlines() if line and not line.startswith("[")]


def test_five_zh_tw_examples_make_n_records_and_a_near_copy_of_an_example_is_held_back(tmp_path, capsys):
    examples = tmp_path / "mine.jsonl"
    examples.write_text("\n".join(json.dumps(e, ensure_ascii=False) for e in ZH_EXAMPLES) + "\n", encoding="utf-8")
    first = {"records": [{"question": "如何查看目前執行中的模型?", "answer": "執行 ollama ps。"},  # example 2, another "?"
                         {"question": "如何更新已下載的模型？", "answer": "再執行一次 ollama pull 即可更新。"}]}
    with FakeOllama(responder=DistillResponder()) as fake:
        fake.push(Reply(json.dumps(first, ensure_ascii=False)))
        code, err = run(capsys, "--data-dir", tmp_path, "expand", "--examples", examples, "--instruction",
                        "寫出關於 Ollama 使用的問答", "--count", "6", "--project", "mine", "--model", "qwen2.5:7b",
                        "--host", fake.url)
        calls = fake.chat_requests()
    assert code == 0, err
    assert err[0] == "held back a near-copy of example 2: 如何查看目前執行中的模型?"
    assert err[-1].startswith("wrote 6 of 6 alpaca records from 5 examples with 2 calls (")
    assert len(calls) == 2  # 5 asked: 1 kept of the reply's 2; then the 5 left
    prompt = calls[0]["messages"][-1]["content"]
    assert prompt.count('{"question": ') == 5 and "剛好寫出 5 筆" in calls[0]["messages"][0]["content"]
    with Store.open(tmp_path) as store:
        pairs = store.list_pairs(store.project_id("mine"))
        run_row = store.list_runs(store.project_id("mine"), kind="expand")[0]
    assert [p.question for p in pairs] == ["如何更新已下載的模型？", "如何在終端機列出目前的資料夾？", "台灣最高的山是哪一座？",
                                           "光合作用需要哪些原料？", "為什麼海水是鹹的？", "一年有幾個節氣？"]
    assert {(p.origin, p.chunk_id, p.grounded, p.flags) for p in pairs} == {("examples", None, False, ())}
    assert (run_row.kind, run_row.status, run_row.pairs_total) == ("expand", "finished", 6)


def test_english_sharegpt_examples_as_a_json_array_and_records_near_each_other_are_held_back(tmp_path, capsys):
    examples = tmp_path / "mine.json"
    examples.write_text(json.dumps(EN_EXAMPLES), encoding="utf-8")
    reply = {"records": [{"question": "How do I copy a model to a new name?", "answer": "Run ollama cp SRC DST."},
                         {"question": "How do I copy a model to a new name ?", "answer": "Use ollama cp."},
                         {"question": "How can I see a model's Modelfile?", "answer": "Run ollama show --modelfile."}]}
    with FakeOllama(responder=DistillResponder()) as fake:
        fake.push(Reply(json.dumps(reply)))
        code, err = run(capsys, "--data-dir", tmp_path, "expand", "--examples", examples, "--instruction",
                        "Questions about the Ollama command line", "--count", "2", "--project", "en",
                        "--model", "qwen2.5:7b", "--host", fake.url)
    assert code == 0, err
    assert err == ["held back a near-copy of a record of the same reply: How do I copy a model to a new name ?",
                   err[1]]
    assert err[1].startswith("wrote 2 of 2 sharegpt records from 5 examples with 1 call (")
    with Store.open(tmp_path) as store:
        assert [p.question for p in store.list_pairs(store.project_id("en"))] == [
            "How do I copy a model to a new name?", "How can I see a model's Modelfile?"]


def test_openai_messages_examples_as_the_openai_export_writes_them_are_read():
    text = ('{"messages": [{"role": "system", "content": "你是助理。"}, {"role": "user", "content": "如何列出模型？"},'
            ' {"role": "assistant", "content": "執行 ollama list。"}]}\n')
    assert parse_examples(text, "mine.jsonl") == [Example("如何列出模型？", "執行 ollama list。", "openai")]


@pytest.mark.parametrize(("text", "where"), [
    ('{"instruction": "a", "output": "b"}\n{"instruction": "c", "output": \n', "line 2: not JSON (Expecting value at column 32)"),
    ('{"instruction": "a", "output": "b"}\n\n{"question": "c"}\n',
     "line 3: neither an Alpaca record (instruction, output), a ShareGPT one (conversations) nor OpenAI messages "
     "(messages)"),
    ('{"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}]}\n',
     'line 1: "messages" has no user message followed by an assistant reply'),
    ('[{"instruction": "a", "output": "b"}, {"conversations": [{"from": "human", "value": "q"}]}]',
     'record 2: "conversations" has no human turn followed by a gpt reply'),
    ('[{"instruction": "a", "output": "b"}, {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "r"}]}]',
     "record 2 is a sharegpt record but record 1 is alpaca: use one format in a file"),
])
def test_a_malformed_examples_file_is_refused_in_one_line_naming_the_file_and_the_line(tmp_path, capsys, text, where):
    examples = tmp_path / "bad.jsonl"
    examples.write_text(text, encoding="utf-8")
    code, err = run(capsys, "--data-dir", tmp_path, "expand", "--examples", examples, "--instruction", "x",
                    "--count", "1", "--model", "qwen2.5:7b", "--host", "http://127.0.0.1:9")
    assert (code, err) == (2, [f"error: {examples}: {where}"])
