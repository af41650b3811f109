"""Multi-turn conversations from the user's zh-TW note: one model call per conversation, real HTTP
to the fake Ollama, real SQLite; every assistant turn's evidence checked by code, the script
checked as for pairs, a turn edited with its original kept."""

import json
from pathlib import Path

import pytest

from dataset_gen.backends import OllamaBackend
from dataset_gen.cli import main
from dataset_gen.config import ChunkSettings, ProjectConfig, Settings
from dataset_gen.conversation import Conversation, check_turns, parse_roles
from dataset_gen.generation import run_generation
from dataset_gen.ingest import ingest_bytes
from dataset_gen.models import Turn
from dataset_gen.store import Store

NOTES = Path(__file__).resolve().parent / "data" / "corpus" / "ollama-notes-zh-TW.md"

LIST_OUTPUT = "ollama list\n# NAME              ID            SIZE      MODIFIED\n# my-assistant      a]b2c3d4e5    4.7 GB    just now"
EXCHANGES = [
    ("怎麼用 Modelfile 建立自訂的 Ollama 模型？", "執行 ollama create my-assistant -f ./Modelfile，就會從 Modelfile 建立模型。",
     "ollama create my-assistant -f ./Modelfile"),
    ("建立之後要怎麼確認它存在？", "執行 ollama list 驗證，清單中會出現 my-assistant。", LIST_OUTPUT),
    ("那要怎麼開始跟它對話？", "執行 ollama run my-assistant，然後輸入訊息開始對話。",
     "ollama run my-assistant\n# >>> 輸入訊息開始對話..."),
]


def reply(exchanges) -> str:
    return json.dumps({"turns": [{"user": u, "assistant": a, "evidence": e} for u, a, e in exchanges]},
                      ensure_ascii=False)


@pytest.fixture
def notes(tmp_path):
    """The note ingested into a new project; yields (store, project id, the chunk "建立自訂模型")."""
    store = Store.open(tmp_path)
    project_id = store.create_project("notes")
    ingest_bytes(store, project_id, NOTES.read_bytes(), NOTES.name, ChunkSettings(), max_bytes=1 << 30)
    chunk = next(c for c in store.list_chunks(project_id) if c.heading_path[-1:] == ("建立自訂模型",))
    yield store, project_id, chunk
    store.close()


def run(store, project_id, chunk, fake, **kw):
    settings = Settings(**{"kind": "conversation", "turns": 3, "concurrency": 1, **kw})
    return run_generation(store, project_id, OllamaBackend(fake.url, backoff_s=0.01, max_retries=1), "qwen2.5:7b",
                          settings, chunk_ids=[chunk.id])


def test_one_call_makes_the_whole_conversation_and_its_turns_are_stored_exactly(notes, fake_ollama):
    store, project_id, chunk = notes
    fake_ollama.push(reply(EXCHANGES))
    summary = run(store, project_id, chunk, fake_ollama, scenario="新同事第一次建立自訂模型", roles=("新同事", "IT 助理"))
    assert (summary.pairs, summary.done, summary.failures) == (1, 1, [])
    requests = fake_ollama.chat_requests()
    assert len(requests) == 1  # three exchanges, one call
    system = requests[0]["messages"][0]["content"]
    assert "剛好寫出 3 輪對話" in system and "- 對話發生的情境：新同事第一次建立自訂模型" in system
    assert "- 使用者是新同事；助理是IT 助理。" in system
    assert requests[0]["format"]["properties"]["turns"]["minItems"] == 3
    [item] = store.list_pairs(project_id, kind="conversation")
    assert (item.question, item.answer, item.evidence) == EXCHANGES[0]
    assert (item.grounded, item.flags, item.language_ok, item.chunk_id, item.context_chunk_ids) == (
        True, (), True, chunk.id, ())
    expected = []
    for i, (user, assistant, evidence) in enumerate(EXCHANGES):
        expected += [Turn(2 * i, "user", user), Turn(2 * i + 1, "assistant", assistant, evidence, True)]
    assert store.list_turns(item.id) == expected
    assert item.turns == tuple(expected)
    assert store.conversation_settings(item.id) == ("zh-TW", "新同事第一次建立自訂模型", ("新同事", "IT 助理"))
    assert store.count_pairs(project_id, kind="qa") == 0


def test_a_turn_whose_evidence_is_not_in_the_chunk_is_ungrounded(notes, fake_ollama):
    store, project_id, chunk = notes
    made_up = "ollama list 會顯示每個模型的建立者與授權條款"
    fake_ollama.push(reply([EXCHANGES[0], (EXCHANGES[1][0], EXCHANGES[1][1], made_up), EXCHANGES[2]]))
    run(store, project_id, chunk, fake_ollama)
    [item] = store.list_pairs(project_id)
    assert item.grounded is False
    assert [(t.position, t.grounded) for t in item.turns if t.role == "assistant"] == [(1, True), (3, False), (5, True)]
    assert store.list_pairs(project_id, grounded=False) == [item]


def test_simplified_text_in_a_zh_tw_conversation_is_flagged(notes, fake_ollama):
    store, project_id, chunk = notes
    simplified = ("那要怎么开始跟它对话？", "执行 ollama run my-assistant，然后输入消息就能开始对话。",
                  EXCHANGES[2][2])
    fake_ollama.push(reply([*EXCHANGES[:2], simplified]))
    run(store, project_id, chunk, fake_ollama, max_reasks=0)
    [item] = store.list_pairs(project_id)
    assert item.flags == ("wrong_language",) and item.language_ok is False
    assert [t.flags for t in item.turns if t.role == "assistant"] == [(), (), ("wrong_language",)]


def test_a_short_or_broken_reply_is_repaired_in_one_more_call(notes, fake_ollama):
    store, project_id, chunk = notes
    fake_ollama.push("這不是 JSON", reply(EXCHANGES))
    run(store, project_id, chunk, fake_ollama)
    requests = fake_ollama.chat_requests()
    assert len(requests) == 2
    assert requests[1]["messages"][-1]["content"].startswith("你的回覆無法使用：the reply held no JSON")
    assert len(store.list_pairs(project_id)[0].turns) == 6


def test_editing_a_turn_keeps_the_original_and_checks_it_again(notes, fake_ollama):
    store, project_id, chunk = notes
    fake_ollama.push(reply(EXCHANGES))
    run(store, project_id, chunk, fake_ollama)
    [item] = store.list_pairs(project_id)
    edited = store.edit_turn(item.id, 5, "执行 ollama run my-assistant，然后输入消息就能开始对话。",
                             expected_revision=item.revision)
    assert (edited.revision, edited.edited, edited.flags, edited.language_ok) == (
        item.revision + 1, True, ("wrong_language",), False)
    turn = store.list_turns(item.id)[5]
    assert (turn.content, turn.edited, turn.original_content, turn.flags) == (
        "执行 ollama run my-assistant，然后输入消息就能开始对话。", True, EXCHANGES[2][1], ("wrong_language",))
    again = store.edit_turn(item.id, 5, "執行 ollama run my-assistant，然後輸入訊息開始對話。")
    assert (again.flags, again.language_ok, store.list_turns(item.id)[5].original_content) == (
        (), True, EXCHANGES[2][1])
    first = store.edit_turn(item.id, 0, "要怎麼用 Modelfile 建立自訂模型？")
    assert (first.question, first.original_question) == ("要怎麼用 Modelfile 建立自訂模型？", EXCHANGES[0][0])
    store.update_pair(item.id, answer="用 ollama create my-assistant -f ./Modelfile 建立。")  # the grid's cell
    assert store.list_turns(item.id)[1].content == "用 ollama create my-assistant -f ./Modelfile 建立。"


def test_a_resumed_run_does_not_ask_again_for_a_chunk_that_has_its_conversation(notes, fake_ollama):
    store, project_id, chunk = notes
    contents = [text for user, assistant, _ in EXCHANGES for text in (user, assistant)]
    turns, grounded, flags, language_ok = check_turns(contents, [e for *_, e in EXCHANGES], [chunk.text], "zh-TW")
    run_id = store.start_run(project_id, "qwen2.5:7b", {}, "conversation_generate", "1", 1)
    store.add_conversation(chunk.id, run_id, Conversation(tuple(turns), grounded, flags, language_ok, "zh-TW"))
    assert store.fresh_conversation_chunks([chunk.id]) == {chunk.id}  # saved, the chunk still pending
    summary = run(store, project_id, chunk, fake_ollama)
    assert (summary.done, summary.pairs, len(fake_ollama.chat_requests())) == (1, 0, 0)
    assert store.count_pairs(project_id) == 1 and store.get_chunk(chunk.id).gen_status == "done"


def test_a_short_chunk_is_joined_by_its_neighbour_and_records_it(notes, fake_ollama):
    store, project_id, _ = notes
    first = store.list_chunks(project_id)[0]  # 551 characters: short for 3 exchanges
    run(store, project_id, first, fake_ollama)  # the fake's own conversation
    [item] = store.list_pairs(project_id)
    second = store.list_chunks(project_id)[1]
    assert item.context_chunk_ids == (second.id,)
    assert item.reference_contexts == (first.text, second.text)
    assert "相鄰的文字：" in fake_ollama.chat_requests()[0]["messages"][1]["content"]


def test_cli_generate_kind_conversation_and_its_settings(tmp_path, fake_ollama, capsys):
    code = main(["--data-dir", str(tmp_path), "generate", str(NOTES), "--model", "qwen2.5:7b", "--host", fake_ollama.url,
                 "--project", "notes", "--kind", "conversation", "--turns", "2", "--roles", "新同事,IT 助理"])
    err = capsys.readouterr().err
    assert code in (0, 1), err
    with Store.open(tmp_path) as store:
        project_id = store.list_projects()[0].id
        config = ProjectConfig.load(store.get_settings(project_id))
        assert (config.kind, config.turns, config.roles) == ("conversation", 2, "新同事,IT 助理")
        items = store.list_pairs(project_id)
        assert len(items) == len(fake_ollama.chat_requests()) == len(store.list_chunks(project_id))
        assert {p.kind for p in items} == {"conversation"} and {len(p.turns) for p in items} == {4}
    with pytest.raises(SystemExit):
        main(["generate", str(NOTES), "--kind", "essay"])
    assert "invalid choice: 'essay' (choose from 'qa', 'conversation', 'choice')" in capsys.readouterr().err


def test_roles_are_two_names():
    assert parse_roles("新同事, IT 助理") == ("新同事", "IT 助理")
    assert parse_roles("") == ()
    with pytest.raises(ValueError, match="Roles must be two names separated by a comma"):
        parse_roles("only one")
    assert ProjectConfig.load({"kind": "essay", "turns": 99}).model_dump()["kind"] == "qa"
