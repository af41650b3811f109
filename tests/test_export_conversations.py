"""Conversations exported for LLaMA-Factory: ShareGPT with 2N alternating turns, Alpaca with
``history`` (and its ``dataset_info.json`` column), OpenAI messages; mixed with single pairs in one
file; a broken multi-turn record refused in one line. Real store, real files."""

import json

import pytest

from dataset_gen.cli import main
from dataset_gen.config import ChunkSettings
from dataset_gen.conversation import Conversation, check_turns
from dataset_gen.export import export_pairs, metadata, to_records, validate
from dataset_gen.ingest import ingest_bytes
from dataset_gen.models import QAPair
from dataset_gen.store import Store
from tests.test_conversations import EXCHANGES, NOTES

SYSTEM = "你是 Ollama 專家。"


@pytest.fixture
def items(tmp_path):
    """One accepted conversation of three exchanges and one accepted single pair, from the note."""
    store = Store.open(tmp_path / "data")
    project_id = store.create_project("notes")
    ingest_bytes(store, project_id, NOTES.read_bytes(), NOTES.name, ChunkSettings(), max_bytes=1 << 30)
    chunk = next(c for c in store.list_chunks(project_id) if c.heading_path[-1:] == ("建立自訂模型",))
    run_id = store.start_run(project_id, "qwen2.5:7b", {}, "conversation_generate", "1", 1)
    contents = [text for user, assistant, _ in EXCHANGES for text in (user, assistant)]
    turns, grounded, flags, ok = check_turns(contents, [e for *_, e in EXCHANGES], [chunk.text], "zh-TW")
    conversation_id = store.add_conversation(chunk.id, run_id, Conversation(tuple(turns), grounded, flags, ok, "zh-TW"))
    [pair_id] = store.add_pairs(chunk.id, run_id, [QAPair("Ollama 要用哪個指令建立自訂模型？", "ollama create。",
                                                          "ollama create my-assistant -f ./Modelfile", True)])
    store.set_status([conversation_id, pair_id], "accepted")
    pairs = store.list_pairs(project_id, statuses=("accepted",))
    assert [p.kind for p in pairs] == ["conversation", "qa"]
    yield pairs
    store.close()


def test_sharegpt_has_every_turn_alternating_human_and_gpt(items):
    conversation, pair = items
    records = to_records("sharegpt", items, system=SYSTEM)
    turns = [{"from": side, "value": text} for u, a, _ in EXCHANGES for side, text in (("human", u), ("gpt", a))]
    assert records[0] == {"conversations": turns, "system": SYSTEM, "metadata": metadata(conversation)}
    assert records[1]["conversations"] == [{"from": "human", "value": pair.question}, {"from": "gpt", "value": pair.answer}]
    assert validate("sharegpt", records) == []


def test_alpaca_puts_earlier_exchanges_in_history(items):
    conversation, pair = items
    records = to_records("alpaca", items)
    assert records[0] == {"instruction": EXCHANGES[2][0], "input": "", "output": EXCHANGES[2][1],
                          "history": [[EXCHANGES[0][0], EXCHANGES[0][1]], [EXCHANGES[1][0], EXCHANGES[1][1]]],
                          "metadata": metadata(conversation)}
    assert records[1] == {"instruction": pair.question, "input": "", "output": pair.answer, "history": [],
                          "metadata": metadata(pair)}
    assert "history" not in to_records("alpaca", [pair])[0]  # a file of single pairs keeps its old shape
    assert validate("alpaca", records) == []


def test_openai_messages_hold_every_turn(items):
    records = to_records("openai", items, system=SYSTEM)
    assert records[0]["messages"] == [{"role": "system", "content": SYSTEM}] + [
        {"role": role, "content": text} for u, a, _ in EXCHANGES for role, text in (("user", u), ("assistant", a))]
    assert validate("openai", records) == []


def test_mixed_files_load_and_alpaca_maps_history_only_when_multi_turn(items, tmp_path):
    pa_json = pytest.importorskip("pyarrow.json")
    out = tmp_path / "out"
    for format in ("alpaca", "sharegpt", "openai"):
        report = export_pairs(items, format, out / f"notes-{format}.jsonl")
        assert report.written == 2 and report.problems == []
        assert pa_json.read_json(out / f"notes-{format}.jsonl").num_rows == 2
    export_pairs(items[1:], "alpaca", out / "single.json")
    info = json.loads((out / "dataset_info.json").read_text(encoding="utf-8"))
    assert info["notes-alpaca"] == {"file_name": "notes-alpaca.jsonl", "columns": {
        "prompt": "instruction", "query": "input", "response": "output", "history": "history"}}
    assert info["single"]["columns"] == {"prompt": "instruction", "query": "input", "response": "output"}
    assert info["notes-sharegpt"] == {"file_name": "notes-sharegpt.jsonl", "formatting": "sharegpt",
                                      "columns": {"messages": "conversations"}}


def test_validate_refuses_a_broken_multi_turn_record_in_one_line(items):
    sharegpt = to_records("sharegpt", items)
    sharegpt[0]["conversations"][3]["from"] = "human"
    assert [(p.index, p.reason) for p in validate("sharegpt", sharegpt)] == [(0, "turn 4: expected 'gpt', got 'human'")]
    alpaca = to_records("alpaca", items)
    alpaca[0]["history"][1] = [EXCHANGES[1][0], ""]
    assert [(p.index, p.reason) for p in validate("alpaca", alpaca)] == [
        (0, "history entry 2 must be [user, assistant], two non-empty strings")]
    openai = to_records("openai", items)
    del openai[0]["messages"][-1]
    assert [p.reason for p in validate("openai", openai)] == ["odd number of turns (5): the last turn must be 'assistant'"]


def test_from_the_note_to_multi_turn_sharegpt_and_alpaca_with_history(tmp_path, fake_ollama, capsys):
    data = ["--data-dir", str(tmp_path)]
    assert main([*data, "generate", str(NOTES), "--model", "qwen2.5:7b", "--host", fake_ollama.url, "--project", "notes",
                 "--kind", "conversation", "--turns", "3"]) in (0, 1)
    with Store.open(tmp_path) as store:
        project_id = store.list_projects()[0].id
        store.set_status(store.pair_ids(project_id, grounded=True, flag=None), "accepted")
        accepted = store.count_pairs(project_id, statuses=("accepted",), kind="conversation")
    capsys.readouterr()
    out = tmp_path / "out"
    for format in ("sharegpt", "alpaca"):
        assert main([*data, "export", "--project", "notes", "--format", format, "--output",
                     str(out / f"{format}.json"), "--include-flagged", "trivial_evidence,wrong_language,repeated"]) == 0
        records = json.loads((out / f"{format}.json").read_text(encoding="utf-8"))
        assert len(records) == accepted > 0 and validate(format, records) == []
    sharegpt = json.loads((out / "sharegpt.json").read_text(encoding="utf-8"))
    assert {len(r["conversations"]) for r in sharegpt} == {6}
    alpaca = json.loads((out / "alpaca.json").read_text(encoding="utf-8"))
    assert {len(r["history"]) for r in alpaca} == {2}
    info = json.loads((out / "dataset_info.json").read_text(encoding="utf-8"))
    assert info["alpaca"]["columns"]["history"] == "history"


def test_llama_factory_alpaca_converter_rule_for_history(items):
    """LLaMA-Factory's Alpaca converter unpacks each history entry into a user and an assistant turn,
    then adds the instruction: the conversation is the stored turns in order."""
    record = to_records("alpaca", items[:1])[0]
    prompt = [text for old_prompt, old_response in record["history"] for text in (old_prompt, old_response)]
    prompt.append(record["instruction"])
    assert prompt + [record["output"]] == [text for u, a, _ in EXCHANGES for text in (u, a)]
