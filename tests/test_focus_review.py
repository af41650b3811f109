"""Review in the core and on the page: every edit is re-checked by the store (flags, grounding,
language and script, near-duplicates, a possibly stale judge score), bulk status changes can be
undone without overwriting later changes, and the focus panel works one pair at a time (AppTest;
the keyboard itself is driven in a real browser in tests/test_e2e_review.py)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from dataset_gen.models import QAPair
from dataset_gen.quality import to_traditional
from dataset_gen.store import Store
from dataset_gen.store_pairs import StaleEditError
from dataset_gen.store_review import StatusChange, judge_may_be_stale
from tests.test_review_edits import ROOT, add_pairs

EVIDENCE = "`ollama list` | 列出本機所有模型"


def pair(question: str, answer: str, evidence: str = EVIDENCE) -> QAPair:
    return QAPair(question=question, answer=answer, evidence=evidence, grounded=True)


@pytest.fixture
def store(tmp_path):
    with Store.open(tmp_path) as opened:
        yield opened


@pytest.fixture
def seeded(store):
    """Project "notes": three Traditional Chinese pairs on the first chunk of the zh-TW notes."""
    project_id = store.create_project("notes")
    ids = add_pairs(store, project_id, "m-notes.md", [
        pair("哪個指令會列出本機所有的模型？", "執行 ollama list 會列出本機所有模型。"),
        pair("要怎麼下載一個新的模型到電腦上？", "使用 ollama pull 指令下載模型。"),
        pair("如何刪除不再需要的模型檔案？", "使用 ollama rm 指令刪除模型。"),
    ])
    return project_id, ids


def test_an_answer_edited_into_simplified_chinese_is_flagged_and_can_be_converted(store, seeded):
    _, (x, _, _) = seeded
    assert store.get_pair(x).language_ok and store.get_pair(x).flags == ()
    simplified = "执行 ollama list 会列出本机所有模型，并显示每个模型的大小与修改时间。"
    edited = store.update_pair(x, answer=simplified)
    assert (edited.language_ok, edited.flags, edited.grounded) == (False, ("wrong_language",), True)
    converted = to_traditional(simplified)
    assert converted == "執行 ollama list 會列出本機所有模型，並顯示每個模型的大小與修改時間。"
    again = store.update_pair(x, answer=converted)
    assert (again.language_ok, again.flags) == (True, ())


def test_an_edit_that_makes_a_question_a_near_duplicate_is_marked_and_unmarked(store, seeded):
    _, (x, y, z) = seeded
    store.set_status([x], "accepted")
    store.update_pair(z, question="哪個指令會列出本機所有的模型?")  # x's question, other punctuation
    assert [store.get_pair(i).duplicate_of for i in (x, y, z)] == [None, None, x]
    store.update_pair(x, question="模型存放在哪個資料夾？")  # the kept one moves away: z is no longer its duplicate
    assert [store.get_pair(i).duplicate_of for i in (x, y, z)] == [None, None, None]
    store.update_pair(y, question="哪個指令會列出本機所有的模型？")  # now z's question; z is edited, so y is marked
    assert [store.get_pair(i).duplicate_of for i in (x, y, z)] == [None, z, None]


def test_an_edited_question_is_kept_over_an_unreviewed_near_duplicate(store, seeded):
    _, (x, y, z) = seeded
    store.update_pair(z, question="哪個指令會列出本機所有的模型?")  # x is neither accepted nor edited
    assert [store.get_pair(i).duplicate_of for i in (x, y, z)] == [z, None, None]


def test_grounding_is_recomputed_on_edit(store):
    project_id = store.create_project("notes")
    [x] = add_pairs(store, project_id, "m-notes.md", [pair("哪個指令會列出模型？", "ollama list", "並不存在於文件中的一段引文")])
    assert store.get_pair(x).grounded  # as the model claimed
    assert not store.update_pair(x, answer="執行 ollama list。").grounded


def test_a_judged_pair_edited_is_marked_stale_and_can_be_judged_again(store, seeded):
    _, (x, _, _) = seeded
    store.set_judgement(x, 5, 4, 4, "好")
    assert not judge_may_be_stale(store.get_pair(x))
    store.update_pair(x, answer="執行 ollama list 即可列出本機的模型。")
    assert judge_may_be_stale(store.get_pair(x))
    store.clear_judgement(x)
    assert (store.get_pair(x).faithfulness, judge_may_be_stale(store.get_pair(x))) == (None, False)


def test_a_bulk_change_is_undone_except_for_pairs_changed_since(store, seeded):
    _, (x, y, z) = seeded
    store.set_status([z], "rejected")
    change = store.change_status([x, y, z, 999], "accepted")
    assert change == StatusChange("accepted", ((x, "generated", 0, 1), (y, "generated", 0, 1),
                                                (z, "rejected", 1, 2)))
    store.update_pair(y, answer="使用 ollama pull 下載模型到電腦。")  # a later edit of y
    assert store.undo_status_change(change) == ([x, z], [y])
    assert [(store.get_pair(i).status, store.get_pair(i).revision) for i in (x, y, z)] == [
        ("generated", 2), ("accepted", 2), ("rejected", 3)]


def test_a_bulk_change_from_a_stale_revision_changes_no_pair(store, seeded):
    _, (x, y, _) = seeded
    store.update_pair(y, answer="使用 ollama pull 下載模型到電腦。")
    with pytest.raises(StaleEditError):
        store.change_status([x, y], "accepted", expected_revisions={x: 0, y: 0})
    assert [store.get_pair(i).status for i in (x, y)] == ["generated", "generated"]


def review(project_id: int) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["project_id"] = project_id
    at.run()
    at.switch_page("ui/pages/review.py")
    at.run()
    assert not at.exception, at.exception
    return at


def test_the_focus_panel_accepts_moves_on_and_undoes(app_data_dir):
    with Store.open(app_data_dir) as store:
        project_id = store.create_project("notes")
        x, y, z = add_pairs(store, project_id, "m-notes.md", [
            pair("哪個指令會列出本機所有的模型？", "執行 ollama list。"), pair("要怎麼下載模型？", "ollama pull。"),
            pair("如何刪除模型？", "ollama rm。")])
    at = review(project_id)
    assert at.subheader[0].value == "Pair 1 of 3"
    at.button(key="rv_accept").click().run()
    assert at.subheader[0].value == "Pair 2 of 3"  # the accepted pair stays in the filter: the next one
    at.button(key="rv_reject").click().run()
    assert at.subheader[0].value == "Pair 3 of 3"
    at.button(key="rv_prev").click().run()
    at.button(key="rv_edit").click().run()
    at.text_area(key=f"rv_fa_{y}_1").input("下载模型用 ollama pull，会从网络取得模型文件。")
    at.button(key=f"FormSubmitter:rv_edit_form_{y}_1-Save").click().run()
    assert not at.exception, at.exception
    captions = [c.value for c in at.caption]
    assert ("⚠ Language: the pair is written in Simplified Chinese \\(5 Simplified-only characters\\); use Traditional"
            " Chinese.") in captions
    at.button(key="rv_convert_one").click().run()
    with Store.open(app_data_dir) as store:
        assert [(p.status, p.answer, p.language_ok) for p in store.list_pairs(project_id)] == [
            ("accepted", "執行 ollama list。", True),
            ("rejected", "下載模型用 ollama pull，會從網路取得模型檔案。", True),
            ("generated", "ollama rm。", True)]
    assert at.button(key="rv_undo_button").label == f"Undo: the edit of pair {y}"
    for _ in range(3):  # the conversion, the edit, the rejection
        at.button(key="rv_undo_button").click().run()
    with Store.open(app_data_dir) as store:
        assert [(p.status, p.answer) for p in store.list_pairs(project_id)] == [
            ("accepted", "執行 ollama list。"), ("generated", "ollama pull。"), ("generated", "ollama rm。")]
        assert z == store.list_pairs(project_id)[2].id


def test_the_review_column_choice_survives_a_save_of_other_settings():
    """The Projects and Generate pages save settings through ProjectConfig: the Review grid's
    remembered columns are one of its fields, so such a save keeps them."""
    from dataset_gen.config import ProjectConfig

    saved = ProjectConfig.load({"model": "m", "review_columns": ["status", "flags"]})
    again = ProjectConfig.load(saved.model_copy(update={"model": "qwen2.5:7b"}).model_dump())
    assert (again.model, again.review_columns) == ("qwen2.5:7b", ["status", "flags"])
