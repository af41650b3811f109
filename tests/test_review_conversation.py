"""The Review page shows a conversation turn by turn, each turn editable with its original kept,
accepted as a whole, and a kind filter picks conversations (AppTest, real store)."""

from __future__ import annotations

from dataset_gen.config import ChunkSettings
from dataset_gen.conversation import Conversation, check_turns
from dataset_gen.ingest import ingest_bytes
from dataset_gen.models import QAPair
from dataset_gen.store import Store
from tests.test_conversations import EXCHANGES, NOTES
from tests.test_focus_review import review


def test_a_conversation_is_reviewed_turn_by_turn(app_data_dir):
    with Store.open(app_data_dir) as store:
        project_id = store.create_project("notes")
        ingest_bytes(store, project_id, NOTES.read_bytes(), NOTES.name, ChunkSettings(), max_bytes=1 << 30)
        chunk = next(c for c in store.list_chunks(project_id) if c.heading_path[-1:] == ("建立自訂模型",))
        run_id = store.start_run(project_id, "qwen2.5:7b", {}, "conversation_generate", "1", 1)
        store.add_pairs(chunk.id, run_id, [QAPair("Ollama 要用哪個指令建立自訂模型？", "ollama create。",
                                                  "ollama create my-assistant -f ./Modelfile", True)])
        contents = [text for user, assistant, _ in EXCHANGES for text in (user, assistant)]
        turns, grounded, flags, ok = check_turns(contents, [e for *_, e in EXCHANGES], [chunk.text], "zh-TW")
        item = store.add_conversation(chunk.id, run_id, Conversation(tuple(turns), grounded, flags, ok, "zh-TW",
                                                                     scenario="新同事", roles=("新同事", "IT 助理")))
    at = review(project_id)
    at.selectbox(key="rv_kind").select("conversation").run()
    assert not at.exception, at.exception
    assert at.subheader[0].value == "Pair 1 of 1"
    captions = [c.value for c in at.caption]
    assert "Scenario: 新同事 · roles: 新同事 / IT 助理" in captions
    assert "3 exchanges · flags: none" in captions
    html = "".join(h.proto.body for h in at.get("html"))
    for user, assistant, _ in EXCHANGES:
        assert user in html and assistant in html
    assert "<mark>ollama run my-assistant\n# &gt;&gt;&gt; 輸入訊息開始對話</mark>" in html  # turn 6's evidence, as text
    at.button(key=f"rv_turn_edit_{item}_3").click().run()
    at.text_area(key=f"rv_turn_text_{item}_3_0").input("執行 ollama list，清單裡會有 my-assistant。")
    at.button(key=f"FormSubmitter:rv_turn_form_{item}_3_0-Save").click().run()
    assert not at.exception, at.exception
    at.button(key="rv_accept").click().run()
    with Store.open(app_data_dir) as store:
        turn = store.list_turns(item)[3]
        assert (turn.content, turn.edited, turn.original_content) == (
            "執行 ollama list，清單裡會有 my-assistant。", True, EXCHANGES[1][1])
        stored = store.get_pair(item)
        assert (stored.status, stored.revision, stored.edited) == ("accepted", 2, True)
